"""Time the `mardonar` command's cold start: issue #2 wants `mardonar --help` under 0.3 s
(median), issue #13 within 0.25 s of a bare `python -c pass` on the same machine.

    /tmp/v/bin/python bench/bench_cli.py              # 15 runs each
    /tmp/v/bin/python bench/bench_cli.py --importtime # also: what `--help` spends importing

Each command runs as a fresh subprocess, after two untimed warm-up runs; the timed runs go
round-robin over the commands, so a burst of background load on this shared machine hits
them all alike and the difference to `python -c pass` stays meaningful:

    python -c pass                     the interpreter's own floor (site, .pth files)
    python -c "import mardonar.cli"    the CLI's imports (Typer, click, the command modules)
    mardonar --help                    the real console script, rendering the help
    mardonar lint --help               a command's help (its options' help has Markdown)
    mardonar --version                 the real console script, the cheapest command

`python` is the interpreter the console script runs under (this one, by default). Timed
commands cache bytecode under bench/out/pycache, as a normal install would; --no-pyc-cache keeps
the inherited environment. Results: a Markdown table, and bench/out/bench_cli.json.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _benchutil import (  # bench/ is not a package
    OUT,
    TABLE_HEAD,
    Sample,
    bench_env,
    console_script,
    expect,
    fmt_row,
    machine,
    run,
    summarize,
    wait_quiet,
)

GOAL_SECONDS = 0.3  # issue #2: `mardonar --help` median
GOAL_ABOVE_FLOOR = 0.25  # issue #13: `mardonar --help` median minus `python -c pass` median


HELP_RUN = "import sys; sys.argv = ['mardonar', '--help']; from mardonar.cli import main; main()"


def importtime(python: str, env: dict[str, str], top: int) -> list[tuple[str, float, float]]:
    """(module, self ms, cumulative ms) for everything `mardonar --help` imports, including
    what the help renderer imports lazily; modules two levels deep at most, top by cumulative."""
    done = subprocess.run(
        [python, "-X", "importtime", "-c", HELP_RUN],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    rows: list[tuple[str, float, float]] = []
    for line in done.stderr.splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)", line)
        if not match:
            continue
        self_us, cumulative_us, indent, name = match.groups()
        if (len(indent) - 1) // 2 <= 1:
            rows.append((name, int(self_us) / 1000, int(cumulative_us) / 1000))
    rows.sort(key=lambda row: -row[2])
    return rows[:top]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=15, help="timed runs per command (15)")
    parser.add_argument("--mardonar", help="path of the mardonar console script")
    parser.add_argument("--python", default=sys.executable, help="interpreter for the baselines")
    parser.add_argument(
        "--no-pyc-cache",
        action="store_true",
        help="keep the inherited environment instead of caching bytecode under bench/out/pycache",
    )
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=10.0,
        help="before each timed run wait up to this many seconds for idle CPUs (0: don't)",
    )
    parser.add_argument("--importtime", action="store_true", help="show the costliest imports")
    parser.add_argument("--top", type=int, default=25, help="rows shown by --importtime")
    args = parser.parse_args(argv)

    script = console_script(args.mardonar)
    env = bench_env(pyc_cache=not args.no_pyc_cache)
    env["MARDONAR_CACHE_DIR"] = str(OUT / "cache" / "cli")
    commands = {
        "python -c pass": [args.python, "-c", "pass"],
        'python -c "import mardonar.cli"': [args.python, "-c", "import mardonar.cli"],
        "mardonar --help": [script, "--help"],
        "mardonar lint --help": [script, "lint", "--help"],
        "mardonar --version": [script, "--version"],
    }
    background: list[float] = []
    results: dict[str, Any] = {"machine": machine(), "pyc_cache": not args.no_pyc_cache}
    for cmd in commands.values():
        for _ in range(2):  # warm-up: page cache and bytecode
            expect(run(cmd, env=env), cmd, 0)
    samples: dict[str, list[Sample]] = {label: [] for label in commands}
    for _ in range(args.runs):
        for label, cmd in commands.items():
            if args.quiet_wait > 0:
                busy = wait_quiet(args.quiet_wait)
                if busy is not None:
                    background.append(busy)
            samples[label].append(expect(run(cmd, env=env), cmd, 0))
    timings: dict[str, Any] = {label: summarize(runs) for label, runs in samples.items()}
    timings["mardonar --version"]["output"] = samples["mardonar --version"][-1].stdout.strip()
    results["timings"] = timings
    if background:
        results["background_busy_max"] = max(background)

    m = results["machine"]
    print(f"machine: {m['cpus']} CPUs, {m['cpu_model']}, Python {m['python']}")
    print(f"bytecode cache {'on' if results['pyc_cache'] else 'as inherited'}")
    if background:
        print(f"background CPU before runs: at most {max(background):.0%} busy")
    print()
    print(TABLE_HEAD.replace("| files ", "").replace("|---:", "", 1))
    for label, stats in timings.items():
        print(fmt_row(f"`{label}`", "", stats).replace("|  |", "|", 1))
    floor = timings["python -c pass"]["median"]
    print("\n| command | median s | minus `python -c pass` s | ratio to it |\n|---|---:|---:|---:|")
    for label, stats in timings.items():
        above = stats["median"] - floor
        print(
            f"| `{label}` | {stats['median']:.3f} | {above:.3f} | {stats['median'] / floor:.1f}x |"
        )
    helped = timings["mardonar --help"]["median"]
    results["help_above_floor"] = helped - floor
    verdict = "MET" if helped < GOAL_SECONDS else "MISSED"
    print(f"\ngoal: `mardonar --help` median < {GOAL_SECONDS} s: {helped:.3f} s -> {verdict}")
    verdict = "MET" if helped - floor <= GOAL_ABOVE_FLOOR else "MISSED"
    print(
        f"goal: `mardonar --help` median within {GOAL_ABOVE_FLOOR} s of `python -c pass`: "
        f"{helped - floor:.3f} s above ({helped / floor:.1f}x) -> {verdict}"
    )
    if args.importtime:
        rows = importtime(args.python, env, args.top)
        results["importtime"] = rows
        print("\nimports of `mardonar --help` (python -X importtime), top by cumulative:")
        print("| module | self ms | cumulative ms |\n|---|---:|---:|")
        for name, self_ms, cumulative_ms in rows:
            print(f"| {name} | {self_ms:.1f} | {cumulative_ms:.1f} |")
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "bench_cli.json").write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
