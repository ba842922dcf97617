"""Exactly-once under faults, the long version (run by hand; pytest does not collect bench_*.py).

    python tests/benchmarks/bench_faults.py [--messages 200] [--concurrency 20] [--share 0.15]
                                            [--retry-after 1] [--slow 0.2] [--seed 8] [--json]

The bot (real app, real WSGI server, in-process job threads) answers ``--messages``
questions (one in ten an uploaded Expressway log) sent by ``--concurrency`` senders
at once, while the stand-in Webex API fails ``--share`` of its calls of every kind:
429 with ``Retry-After: --retry-after`` seconds, 500/503 on reads, 502/503 on creates,
423 (malware scan) and 429 on downloads, 500 on edits, and slow answers. Reported:
answers per question (must all be exactly 1), faults served by kind, time from
question to answer (p50/p99) and the wall time.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.support.webex_bot import running_bot  # noqa: E402
from tests.test_hardening_faults import answers_per_question, ask_all, inject_faults  # noqa: E402


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--messages", type=int, default=200)
    ap.add_argument("--concurrency", type=int, default=20)
    ap.add_argument("--share", type=float, default=0.15, help="share of each kind of call that fails")
    ap.add_argument("--retry-after", default="1")
    ap.add_argument("--slow", type=float, default=0.2, help="seconds each slow answer takes")
    ap.add_argument("--workers", type=int, default=16)
    ap.add_argument("--seed", type=int, default=8)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    rng = random.Random(args.seed)
    start = time.monotonic()
    with running_bot(workers=args.workers, rate_person=10**6, rate_room=10**6, api_attempts=8) as h:
        inject_faults(h.sandbox, rng, calls=2 * args.messages, share=args.share, retry_after=args.retry_after,
                      slow=args.slow)
        sent = ask_all(h, args.messages, args.concurrency)
        deadline = time.monotonic() + max(120.0, args.messages * 0.5)
        while time.monotonic() < deadline and min(answers_per_question(h, sent).values()) < 1:
            time.sleep(0.1)
        h.idle(120)
        wall = time.monotonic() - start
        per = answers_per_question(h, sent)
        sent_at = {m["id"]: m["_t"] for m in sent}
        latencies = [m["_t"] - sent_at[m["parentId"]] for m in h.sandbox.bot_messages()
                     if m.get("parentId") in sent_at and not m.get("attachments") and not m.get("_file")]
        edited_at = {m["id"]: m for m in h.sandbox.bot_messages()}
        served = Counter(s for _, _, s in h.sandbox.requests_seen if s)
        failures = sum("could not finish" in m.get("markdown", "") for m in edited_at.values())
    result = {
        "messages": args.messages, "concurrency": args.concurrency, "fault_share": args.share,
        "answered_once": sum(v == 1 for v in per.values()), "lost": sum(v == 0 for v in per.values()),
        "doubled": sum(v > 1 for v in per.values()), "failure_lines": failures,
        "faults_served": dict(sorted(served.items())),
        "first_post_p50_s": round(statistics.median(latencies), 3) if latencies else None,
        "first_post_p99_s": round(percentile(latencies, 99), 3) if latencies else None,
        "wall_s": round(wall, 1),
    }
    if args.json:
        print(json.dumps(result))
    else:
        for k, v in result.items():
            print(f"{k:>16}: {v}")
    ok = result["answered_once"] == args.messages and not result["failure_lines"]
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
