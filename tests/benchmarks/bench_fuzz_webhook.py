"""Long webhook fuzz run (by hand; the default test run does a bounded 250 examples).

    python tests/benchmarks/bench_fuzz_webhook.py [--examples 5000] [--seed 0] [--json]

Posts hypothesis-generated bodies, each correctly signed, to the running bot (real
WSGI server, real jobs, the stand-in Webex API): envelopes with wrong, missing and
strangely typed fields, arbitrary JSON and arbitrary bytes. Fails on any answer other
than 200/400, on an unhandled request error in the log, or on a posted reply that
carries a traceback or a server path. Reports the statuses and the time per request.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections import Counter
from pathlib import Path

import requests
from hypothesis import HealthCheck, given, seed, settings

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bot.signature import HEADER, sign  # noqa: E402
from tests.support.webex_bot import running_bot  # noqa: E402
from tests.test_hardening_webhook import FORBIDDEN_IN_REPLIES, _bodies  # noqa: E402


class _Unhandled(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        if "unhandled error in a request" in record.getMessage():
            self.count += 1


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--examples", type=int, default=5000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    unhandled = _Unhandled()
    logging.getLogger().addHandler(unhandled)
    statuses: Counter = Counter()
    bad: list[bytes] = []
    start = time.monotonic()
    with running_bot(rate_person=10**6, rate_room=10**6) as h:
        ann = h.person()
        room = h.direct(ann)
        quiet = h.group(ann)
        asked = h.sandbox.say(ann, room, "version")  # real ids, so some fuzzed webhooks reach real messages
        real = [asked["id"], room["id"], ann["id"], h.sandbox.say(ann, quiet, "help")["id"], quiet["id"]]
        http = requests.Session()

        @seed(args.seed)
        @settings(max_examples=args.examples, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(_bodies(real))
        def post(body: bytes) -> None:
            headers = {"Content-Type": "application/json", HEADER: sign(h.settings.webhook_secret, body)}
            code = http.post(h.bot.url + "/webhook", data=body, headers=headers, timeout=10).status_code
            statuses[code] += 1
            if code not in (200, 400):
                bad.append(body)

        post()
        posted_at = time.monotonic()
        h.idle(120)
        leaks = [m for m in h.sandbox.bot_messages()
                 if any(b in (m.get("markdown") or m.get("text") or "") for b in FORBIDDEN_IN_REPLIES)]
        replies = len(h.sandbox.bot_messages())
    total = sum(statuses.values())
    result = {"requests": total, "statuses": dict(sorted(statuses.items())), "unexpected_status": len(bad),
              "unhandled_errors": unhandled.count, "replies_posted": replies, "replies_leaking": len(leaks),
              "ms_per_request": round(1000 * (posted_at - start) / max(total, 1), 2),
              "wall_s": round(time.monotonic() - start, 1)}
    print(json.dumps(result) if args.json else "\n".join(f"{k:>18}: {v}" for k, v in result.items()))
    return 0 if not bad and not unhandled.count and not leaks else 1


if __name__ == "__main__":
    raise SystemExit(main())
