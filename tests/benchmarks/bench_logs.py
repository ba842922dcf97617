"""Benchmark: ``hcdoctor analyze`` on a large realistic Expressway log against ``grep -c -F -f``.

Writes a log of ``--mb`` megabytes (default 500) made of realistic background traffic
(``tests.support.explog_writer``: MRA registrations, keepalives, B2B TLS, developer chatter,
healthy Hybrid calls with SIP blocks) with two faults buried in it, then times, in the same run
and on the same (page-cached) file:

- ``grep -c -F -f <every article's log_signatures>``, the cheapest possible search for the
  strings the knowledge base names;
- ``hcdoctor analyze --json FILE`` as a subprocess, with its peak RSS.

Prints MB/s of both, the ratio (of wall time, and of CPU time, which a busy machine disturbs
less) and the peak RSS, and checks the two faults were found. Targets (issue 4): no more than
8x grep's time, peak RSS under 200 MB.

    python tests/benchmarks/bench_logs.py [--mb 500] [--keep PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.support import explog_writer as xw  # noqa: E402


def block(seed: int) -> bytes:
    w = xw.LogWriter(seed=seed)
    for _ in range(40):
        w.noise(120)
        w.healthy_inbound_call()
        w.healthy_outbound_call()
    return w.text().encode()


def write_log(path: Path, megabytes: int) -> int:
    target = megabytes * 1_000_000
    blocks = [block(s) for s in range(1, 5)]
    faults = xw.LogWriter(seed=99, start="2017-09-19T13:00:00")
    xw.fault_certificate_unknown(faults)
    faults.noise(50)
    xw.fault_port_blocked_out(faults)
    fault = faults.text().encode()
    written = 0
    with path.open("wb") as f:
        n = 0
        while written < target:
            data = blocks[n % len(blocks)]
            f.write(data)
            written += len(data)
            n += 1
            if written >= target // 2 and fault:
                f.write(fault)
                written += len(fault)
                fault = b""
    return written


def signatures() -> list[str]:
    sys.path.insert(0, str(ROOT))
    import kb

    out: list[str] = []
    for art in kb.articles().values():
        out += [s for s in art.log_signatures if s not in out]
    return out


def timed(cmd: list[str]) -> tuple[float, float, subprocess.CompletedProcess]:
    """Wall seconds, CPU seconds (user + system of the child) and the finished process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, proc


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mb", type=int, default=500)
    ap.add_argument("--keep", help="write the log here and keep it")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="hcd-bench-"))
    log = Path(args.keep) if args.keep else tmp / "loggingsnapshot_amer-expressway01_bench.txt"
    t0 = time.perf_counter()
    size = write_log(log, args.mb)
    print(f"wrote {size / 1e6:.0f} MB in {time.perf_counter() - t0:.1f} s: {log}")
    pats = tmp / "signatures.txt"
    sigs = signatures()
    pats.write_text("\n".join(sigs) + "\n")
    print(f"{len(sigs)} signature strings from the articles")

    subprocess.run(["cat", str(log)], stdout=subprocess.DEVNULL, check=True)  # warm the page cache
    grep_s, grep_cpu, grep = timed(["grep", "-c", "-F", "-f", str(pats), str(log)])
    hcd_s, hcd_cpu, hcd = timed(["hcdoctor", "analyze", "--json", str(log)])
    rss_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if hcd.returncode != 0:
        print(hcd.stderr)
        return 1
    report = json.loads(hcd.stdout)
    found = sorted({f["issue"] for f in report["findings"]} | {a for f in report["findings"] for a in f["alternatives"]})
    mb = size / 1e6
    print(f"grep -c -F -f: {grep_s:6.2f} s wall {mb / grep_s:8.1f} MB/s; {grep_cpu:6.2f} s CPU "
          f"({grep.stdout.strip()} matching lines)")
    print(f"hcdoctor     : {hcd_s:6.2f} s wall {mb / hcd_s:8.1f} MB/s; {hcd_cpu:6.2f} s CPU")
    print(f"ratio        : {hcd_s / grep_s:6.2f}x grep wall, {hcd_cpu / max(grep_cpu, 1e-6):6.2f}x grep CPU (target <= 8x)")
    # ru_maxrss of children is the largest of them; the Python writer above never runs as a child
    print(f"peak RSS     : {rss_kb / 1024:6.1f} MB (hcdoctor, largest child so far; target < 200 MB)")
    print(f"issues named : {found} (findings and their alternatives)")
    print(f"load average : {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    ok = ("outbound-port-blocked" in found and "mtls-incomplete-chain" in found)
    if not args.keep:
        log.unlink()
    return 0 if ok else 2


if __name__ == "__main__":
    sys.exit(main())
