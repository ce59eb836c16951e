"""Helpers shared by the bench scripts: timing subprocesses, the machine, a quiet CPU.

Standard library only; no hyperfine needed.
"""

from __future__ import annotations

import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
OUT = BENCH / "out"


@dataclass(frozen=True, slots=True)
class Sample:
    wall: float  # seconds, time.perf_counter around subprocess.run
    cpu: float  # user + sys seconds of the child and everything it waited for (pool workers)
    returncode: int
    stdout: str
    stderr: str


def run(cmd: list[str], *, cwd: Path | None = None, env: dict[str, str] | None = None) -> Sample:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Sample(wall, cpu, done.returncode, done.stdout, done.stderr)


def expect(sample: Sample, cmd: list[str], code: int, where: Path | None = None) -> Sample:
    if sample.returncode != code:
        sys.exit(
            f"bench: `{' '.join(cmd)}`{f' in {where}' if where else ''} exited "
            f"{sample.returncode}, expected {code}\n"
            f"{sample.stderr[-2000:]}\n{sample.stdout[-1000:]}"
        )
    return sample


def summarize(samples: list[Sample]) -> dict[str, Any]:
    walls = [s.wall for s in samples]
    return {
        "median": statistics.median(walls),
        "min": min(walls),
        "max": max(walls),
        "cpu_median": statistics.median(s.cpu for s in samples),
        "runs": len(walls),
    }


def bench_env(*, pyc_cache: bool = True) -> dict[str, str]:
    """The environment the timed commands run in.

    With `pyc_cache` (the default) Python caches bytecode as on any normal install, but under
    bench/out/pycache (PYTHONPYCACHEPREFIX) so nothing is written into the package tree, and
    PYTHONDONTWRITEBYTECODE is dropped. Without it the inherited environment is kept as is
    (with PYTHONDONTWRITEBYTECODE=1 every run recompiles the mardonar sources).
    """
    env = {k: v for k, v in os.environ.items() if k not in ("MARDONAR_DEBUG", "LOG_LEVEL")}
    if pyc_cache:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(OUT / "pycache")
    return env


def console_script(explicit: str | None) -> str:
    """The real `mardonar` script: explicit, else beside this Python, else on PATH."""
    if explicit:
        return explicit
    beside = Path(sys.executable).parent / "mardonar"
    if beside.exists():
        return str(beside)
    found = shutil.which("mardonar")
    if found:
        return found
    sys.exit("bench: no `mardonar` console script found; pass --mardonar PATH")


def machine() -> dict[str, Any]:
    model = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "python": platform.python_version(),
        "executable": sys.executable,
        "platform": platform.platform(),
    }


def _cpu_times() -> tuple[int, int] | None:
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except (OSError, IndexError):
        return None
    values = [int(v) for v in fields]
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return sum(values), idle


def busy_fraction(interval: float = 0.5) -> float | None:
    """How busy the whole machine's CPUs were over `interval` seconds (0..1), or None."""
    first = _cpu_times()
    time.sleep(interval)
    second = _cpu_times()
    if first is None or second is None or second[0] == first[0]:
        return None
    total, idle = second[0] - first[0], second[1] - first[1]
    return 1 - idle / total


def wait_quiet(max_wait: float, threshold: float = 0.15) -> float | None:
    """Wait (up to `max_wait` s) until other processes leave the CPUs mostly idle.

    Returns the last background busy fraction seen, so reports can say how quiet it was.
    """
    deadline = time.monotonic() + max_wait
    busy = busy_fraction()
    quiet_in_a_row = 0
    while busy is not None and time.monotonic() < deadline:
        quiet_in_a_row = quiet_in_a_row + 1 if busy < threshold else 0
        if quiet_in_a_row >= 2:
            break
        busy = busy_fraction()
    return busy


def fmt_row(label: str, files: int | str, stats: dict[str, Any]) -> str:
    return (
        f"| {label} | {files} | {stats['median']:.3f} | {stats['min']:.3f} | "
        f"{stats['max']:.3f} | {stats['cpu_median']:.3f} | {stats['runs']} |"
    )


TABLE_HEAD = (
    "| scenario | files | median s | min s | max s | CPU s (median) | runs |\n"
    "|---|---:|---:|---:|---:|---:|---:|"
)
