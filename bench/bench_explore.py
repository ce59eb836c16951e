"""Explore throughput (issue #6): playthroughs per second of each shipped spec.

    /tmp/v/bin/python bench/bench_explore.py            # 200 runs per spec, median of 3
    /tmp/v/bin/python bench/bench_explore.py --runs 100 --repeats 5

In-process, as `mardonar explore` runs: each spec is loaded (and linted) once outside the
timing, then `explore_bundle(bundle, runs=N, seed=0)` is timed — N fresh sessions with the
offline narrator, each in its own SQLite file under a throwaway folder. The median of
--repeats timings is reported as runs/s, with turns/s (total turns played / time) beside it,
since short runs (an early outcome keyword) make runs/s flatter than it is. Results are
printed as a Markdown table and written to bench/out/bench_explore.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _benchutil import OUT, machine  # bench/ is not a package

REPO = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200, help="playthroughs per spec")
    parser.add_argument("--repeats", type=int, default=3, help="timings per spec (median)")
    args = parser.parse_args()

    from mardonar.content.bundle import load_bundle
    from mardonar.harness.explore import explore_bundle

    specs = sorted(p.stem for p in (REPO / "specs").glob("*.yaml") if ".test." not in p.name)
    rows = []
    for spec in specs:
        bundle = load_bundle(spec, cwd=REPO)
        times: list[float] = []
        turns = 0
        for _ in range(args.repeats):
            start = time.perf_counter()
            report = asyncio.run(explore_bundle(bundle, runs=args.runs, seed=0))
            times.append(time.perf_counter() - start)
            turns = sum(report.turns) + sum(d["turns"] for d in report.dead_ends)
        median = statistics.median(times)
        rows.append(
            {
                "spec": spec,
                "runs": args.runs,
                "seconds_median": median,
                "seconds_min": min(times),
                "seconds_max": max(times),
                "runs_per_s": args.runs / median,
                "turns": turns,
                "turns_per_s": turns / median,
                "ok": report.ok,
            }
        )
    print("| spec | runs | median s | min s | max s | runs/s | turns/s | all outcomes |")
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    for row in rows:
        print(
            f"| {row['spec']} | {row['runs']} | {row['seconds_median']:.2f} | "
            f"{row['seconds_min']:.2f} | {row['seconds_max']:.2f} | {row['runs_per_s']:.0f} | "
            f"{row['turns_per_s']:.0f} | {'yes' if row['ok'] else 'NO'} |"
        )
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "bench_explore.json").write_text(
        json.dumps({"machine": machine(), "results": rows}, indent=2), encoding="utf-8"
    )


if __name__ == "__main__":
    main()
