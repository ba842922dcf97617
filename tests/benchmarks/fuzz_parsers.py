"""Long fuzzing run of every parser target of tests/test_fuzz_parsers.py, for a set time each.

    python tests/benchmarks/fuzz_parsers.py --minutes 10 [--targets tls,sip] [--out fuzz-failures]

The default test run fuzzes each target for a few seconds; this runs the same targets with the
same seeds, mutations and outcome checks for minutes, driven by a seeded ``random.Random``
instead of hypothesis (so nothing is shrunk, but every failing input is kept). Per target it
prints the inputs run, the failures (each saved as ``<out>/<target>-<n>.bin`` with its chunking
knobs in ``.knobs.json``, one file per distinct failure place), the worst seconds of one call,
the largest share of the test's time bound (``bound``) one call used, and the worst seconds per
MB over inputs of at least 100 kB (smaller inputs measure fixed overhead, not throughput). A call
over the test's time bound counts as a failure too.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.test_fuzz_parsers import OPS, TARGETS, bound, mutate  # noqa: E402

BIG = 100_000  # inputs from this size count for the seconds-per-MB figure


def _edits(rng: random.Random) -> list[tuple[int, int, str]]:
    return [(rng.randrange(1 << 20), rng.randrange(1 << 16), rng.choice(OPS)) for _ in range(rng.randrange(9))]


def _knobs(rng: random.Random) -> list[int]:
    return [rng.randrange(1 << 32) for _ in range(rng.randrange(25))]


def fuzz(name: str, seconds: float, out: Path, rng: random.Random) -> dict:
    target = TARGETS[name]
    seeds = target.seeds()
    runs = failures = 0
    worst = worst_per_mb = worst_share = 0.0
    worst_size = 0
    places: set[str] = set()
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        data = mutate(rng.choice(seeds), _edits(rng), rng.randrange(1 << 20))
        knobs = _knobs(rng)
        start = time.perf_counter()
        place = None
        try:
            target.run(data, knobs)
        except Exception as exc:  # noqa: BLE001 - every escape is a finding to keep
            frame = traceback.extract_tb(exc.__traceback__)[-1]
            place = f"{type(exc).__name__} at {Path(frame.filename).name}:{frame.lineno}"
        took = time.perf_counter() - start
        runs += 1
        if place is None and took >= bound(len(data)):
            place = f"slow: {took:.2f} s for {len(data)} bytes"
        if place is not None:
            failures += 1
            if place not in places:
                places.add(place)
                out.mkdir(parents=True, exist_ok=True)
                stem = out / f"{name}-{len(places)}"
                stem.with_suffix(".bin").write_bytes(data)
                stem.with_suffix(".knobs.json").write_text(json.dumps({"knobs": knobs, "failure": place}))
                print(f"  {name}: {place} -> {stem}.bin", flush=True)
        worst = max(worst, took)
        worst_share = max(worst_share, took / bound(len(data)))
        if len(data) >= BIG and took / (len(data) / 1e6) > worst_per_mb:
            worst_per_mb, worst_size = took / (len(data) / 1e6), len(data)
    return {"target": name, "runs": runs, "failures": failures, "distinct": len(places),
            "worst_s": worst, "worst_share": worst_share, "worst_s_per_mb": worst_per_mb, "at_bytes": worst_size}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=1.0, help="time per target")
    parser.add_argument("--targets", default=",".join(TARGETS), help="comma-separated, of: " + ", ".join(TARGETS))
    parser.add_argument("--out", type=Path, default=Path("fuzz-failures"), help="folder for reproducers")
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    print(f"seed {seed}, {args.minutes} min per target", flush=True)
    rng = random.Random(seed)
    rows = [fuzz(name, args.minutes * 60, args.out, rng) for name in args.targets.split(",")]
    print(f"{'target':<10} {'inputs':>8} {'failures':>9} {'worst s':>8} {'of bound':>9} {'worst s/MB':>11} "
          f"{'(at bytes)':>11}")
    for r in rows:
        print(f"{r['target']:<10} {r['runs']:>8} {r['failures']:>9} {r['worst_s']:>8.3f} {r['worst_share']:>8.0%} "
              f"{r['worst_s_per_mb']:>11.3f} {r['at_bytes']:>11}")
    sys.exit(1 if any(r["failures"] for r in rows) else 0)


if __name__ == "__main__":
    main()
