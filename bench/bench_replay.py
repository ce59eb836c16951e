"""Replay throughput (issue #6): replayed turns per second over the golden transcripts.

    /tmp/v/bin/python bench/bench_replay.py             # 10 timings in-process, 7 via the CLI
    /tmp/v/bin/python bench/bench_replay.py --runs 20 --cli-runs 10 --profile

The measures, all over every transcripts/golden/*.jsonl:

* **in-process**: `replay_all(paths)` — what `mardonar replay` runs after its imports: one
  run that loads (and lints) each spec once and has its own scratch folder, each transcript
  on a fresh engine with its own SQLite store and memory (private databases in RAM) and the
  cassette model. Twice: with the default `jobs` (one process per CPU: the parent and a
  `ProcessPoolExecutor` of forked workers, see mardonar/harness/replay/parallel.py) and with
  `jobs=1` (serial, in this process).
  The first run (which also pays the imports) is reported apart; the median and min of the
  next `--runs` are the figures. Each run reads the lint cache file and
  loads, lints and parses every bundle afresh; what the process keeps from one run to the
  next is only the migrated empty schema, the lint code's version digest and memos of pure
  functions (compiled keyword patterns, the tags of short YAML scalars).
* **in-process, the six short sessions**: the same over the two 2-3-turn sessions of each
  spec (`-offline`, `-scripted`) alone, the whole golden set until the long and cheating
  sessions were recorded: per-session costs (spec loads, engine start and resolution) weigh
  most there.
* **in-process, bundles already loaded**: passes over the same transcripts within one run
  after a first pass loaded the bundles: the per-transcript cost of a run over many
  transcripts of a few specs.
* **CLI**: the real console script, `mardonar replay transcripts/golden/`, as a subprocess
  (interpreter start, imports, the run, the report), median and min of `--cli-runs`; with
  the default `--jobs` and with `--jobs 1`.

Turns/s is the transcripts' player turns over the wall time. The figures need idle CPUs (by
default a run forks workers to use them all); `--quiet-wait` waits for them. Every run must
report every transcript identical, or the bench stops. `--profile` prints cProfile's top
functions of one serial in-process run. Results are printed as a Markdown table and written to
bench/out/bench_replay.json.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import pstats
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _benchutil import OUT, bench_env, console_script, expect, machine, run, wait_quiet

REPO = Path(__file__).resolve().parent.parent
GOLDEN = REPO / "transcripts" / "golden"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="in-process timings (median)")
    parser.add_argument("--cli-runs", type=int, default=7, help="CLI timings (median)")
    parser.add_argument("--quiet-wait", type=float, default=10.0, help="s to wait for idle CPUs")
    parser.add_argument("--profile", action="store_true", help="print cProfile's top functions")
    parser.add_argument(
        "--corpus", type=int, default=20, help="copies of the goldens in the corpus measure"
    )
    parser.add_argument("--mardonar", help="the console script (default: beside this Python)")
    args = parser.parse_args()

    from mardonar.harness.replay.parallel import worker_count
    from mardonar.harness.replay.reading import replay_run
    from mardonar.harness.replay.run import replay_all, replay_one

    paths = sorted(GOLDEN.glob("*.jsonl"))
    if not paths:
        sys.exit(f"bench: no golden transcripts in {GOLDEN}")

    # The six short sessions (two per spec, 2-3 turns each) that were the whole golden set
    # until the long and cheating sessions came: kept as a measure of their own, since
    # per-session costs dominate them and the figures before that are over them.
    short = [path for path in paths if path.stem.endswith(("-offline", "-scripted"))]

    def once(jobs: int | None = None, over: list[Path] = paths) -> tuple[float, int]:
        begin = time.perf_counter()
        results = asyncio.run(replay_all(over, jobs=jobs))
        seconds = time.perf_counter() - begin
        bad = [r.path for r in results if not r.identical]
        if bad:
            sys.exit(f"bench: not identical: {', '.join(bad)}")
        return seconds, sum(r.turns for r in results)

    async def warm() -> list[float]:
        """Timings of passes over the transcripts within one run whose bundles are loaded:
        the steady state of a run over many transcripts of the same few specs."""
        timings: list[float] = []
        async with replay_run() as shared:  # serial: one process
            for path in paths:
                await replay_one(shared, path)
            for _ in range(args.runs):
                begin = time.perf_counter()
                for path in paths:
                    await replay_one(shared, path)
                timings.append(time.perf_counter() - begin)
        return timings

    busy = wait_quiet(args.quiet_wait)
    first, turns = once()  # also imports the engine, the content models and lint
    # Alternated, so that a change of background load touches both alike.
    times, serial_times = [], []
    short_times, short_serial_times = [], []
    short_turns = once(over=short)[1]
    for _ in range(args.runs):
        times.append(once()[0])
        serial_times.append(once(1)[0])
        short_times.append(once(over=short)[0])
        short_serial_times.append(once(1, over=short)[0])
    in_process = {
        "transcripts": len(paths),
        "turns": turns,
        "first_run_s": first,
        "median_s": statistics.median(times),
        "min_s": min(times),
        "max_s": max(times),
        "runs": len(times),
    }
    in_process["serial_median_s"] = statistics.median(serial_times)
    in_process["serial_min_s"] = min(serial_times)
    in_process["serial_turns_per_s"] = turns / in_process["serial_median_s"]
    in_process["processes"] = worker_count(None, len(paths))
    warm_times = asyncio.run(warm())
    in_process["warm_median_s"] = statistics.median(warm_times)
    in_process["warm_min_s"] = min(warm_times)
    in_process["warm_turns_per_s"] = turns / in_process["warm_median_s"]
    in_process["turns_per_s"] = turns / in_process["median_s"]
    in_process["turns_per_s_best"] = turns / in_process["min_s"]
    short_sessions = {
        "transcripts": len(short),
        "turns": short_turns,
        "median_s": statistics.median(short_times),
        "min_s": min(short_times),
        "serial_median_s": statistics.median(short_serial_times),
        "serial_min_s": min(short_serial_times),
        "runs": len(short_times),
    }

    corpus = corpus_measure(args.corpus, max(3, args.runs // 3))

    script = console_script(args.mardonar)
    env = bench_env()

    def cli_measure(*extra: str) -> dict[str, float]:
        cmd = [script, "replay", str(GOLDEN.relative_to(REPO)), *extra]
        expect(run(cmd, cwd=REPO, env=env), cmd, 0)  # warms the bytecode cache
        samples = [expect(run(cmd, cwd=REPO, env=env), cmd, 0) for _ in range(args.cli_runs)]
        walls = [s.wall for s in samples]
        found = {
            "median_s": statistics.median(walls),
            "min_s": min(walls),
            "max_s": max(walls),
            "cpu_median_s": statistics.median(s.cpu for s in samples),
            "runs": len(walls),
        }
        found["turns_per_s"] = turns / found["median_s"]
        found["turns_per_s_best"] = turns / found["min_s"]
        return found

    cli = cli_measure()
    cli_serial = cli_measure("--jobs", "1")

    print(
        f"{len(paths)} golden transcripts, {turns} turns; CPUs busy before: {busy}; "
        f"processes by default: {in_process['processes']}"
    )
    print()
    print("| measure | median s | min s | max s | turns/s (median) | turns/s (best) | runs |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    print(f"| in-process, first run (imports) | {first:.4f} | | | {turns / first:.0f} | | 1 |")
    print(
        f"| in-process (default jobs) | {in_process['median_s']:.4f} | "
        f"{in_process['min_s']:.4f} | {in_process['max_s']:.4f} | "
        f"{in_process['turns_per_s']:.0f} | {in_process['turns_per_s_best']:.0f} | "
        f"{in_process['runs']} |"
    )
    print(
        f"| in-process, `jobs=1` | {in_process['serial_median_s']:.4f} | "
        f"{in_process['serial_min_s']:.4f} | {max(serial_times):.4f} | "
        f"{in_process['serial_turns_per_s']:.0f} | {turns / in_process['serial_min_s']:.0f} | "
        f"{len(serial_times)} |"
    )
    print(
        f"| in-process, bundles already loaded | {in_process['warm_median_s']:.4f} | "
        f"{in_process['warm_min_s']:.4f} | {max(warm_times):.4f} | "
        f"{in_process['warm_turns_per_s']:.0f} | {turns / in_process['warm_min_s']:.0f} | "
        f"{len(warm_times)} |"
    )
    for label, key in (("default jobs", ""), ("`jobs=1`", "serial_")):
        median, best = short_sessions[key + "median_s"], short_sessions[key + "min_s"]
        print(
            f"| in-process, the {len(short)} short sessions ({short_turns} turns), {label} | "
            f"{median:.4f} | {best:.4f} | | {short_turns / median:.0f} | "
            f"{short_turns / best:.0f} | {short_sessions['runs']} |"
        )
    for label, jobs in (("default jobs", "jobs"), ("`jobs=1`", "serial")):
        print(
            f"| corpus: {corpus['transcripts']} transcripts ({args.corpus} copies of each "
            f"golden), {label} | {corpus[jobs + '_median_s']:.3f} | {corpus[jobs + '_min_s']:.3f}"
            f" | | {corpus[jobs + '_turns_per_s']:.0f} | "
            f"{corpus['turns'] / corpus[jobs + '_min_s']:.0f} | {corpus['runs']} |"
        )
    for label, found in (("", cli), (" --jobs 1", cli_serial)):
        print(
            f"| CLI `mardonar replay transcripts/golden/{label}` | {found['median_s']:.3f} | "
            f"{found['min_s']:.3f} | {found['max_s']:.3f} | {found['turns_per_s']:.0f} | "
            f"{found['turns_per_s_best']:.0f} | {found['runs']} |"
        )

    if args.profile:
        profiler = cProfile.Profile()
        profiler.enable()
        asyncio.run(replay_all(paths, jobs=1))  # the workers would escape the profiler
        profiler.disable()
        print()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)

    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "bench_replay.json").write_text(
        json.dumps(
            {
                "machine": machine(),
                "busy_before": busy,
                "in_process": in_process,
                "short_sessions": short_sessions,
                "corpus": corpus,
                "cli": cli,
                "cli_jobs_1": cli_serial,
            },
            indent=2,
        ),
        encoding="utf-8",
    )


def corpus_measure(copies: int, runs: int) -> dict[str, float]:
    """A folder of many recorded sessions, as a CI job replays it: each golden transcript
    copied `copies` times (the copies replay against the same specs, found from the
    repository as the working folder). The fixed costs of a run (spec loads, database
    images, the process pool) are paid once here, as they are by a real corpus."""
    import shutil
    import tempfile

    from mardonar.harness.replay.run import replay_all

    with tempfile.TemporaryDirectory(prefix="mardonar-corpus-") as folder:
        for number in range(copies):
            for path in sorted(GOLDEN.glob("*.jsonl")):
                shutil.copyfile(path, Path(folder) / f"{path.stem}-{number:03}.jsonl")
        paths = sorted(Path(folder).glob("*.jsonl"))
        found: dict[str, float] = {"transcripts": len(paths), "runs": runs}
        for key, jobs in (("jobs", None), ("serial", 1)):
            walls: list[float] = []
            for _ in range(runs):
                begin = time.perf_counter()
                results = asyncio.run(replay_all(paths, cwd=REPO, jobs=jobs))
                walls.append(time.perf_counter() - begin)
                bad = [r.path for r in results if not r.identical]
                if bad:
                    sys.exit(f"bench: not identical: {', '.join(bad[:3])}")
            found["turns"] = sum(r.turns for r in results)
            found[f"{key}_median_s"] = statistics.median(walls)
            found[f"{key}_min_s"] = min(walls)
            found[f"{key}_turns_per_s"] = found["turns"] / found[f"{key}_median_s"]
        return found


if __name__ == "__main__":
    main()
