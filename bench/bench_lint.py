"""Time `mardonar lint` over 1,000 generated specs (issue #2: under 2 s median, cold, 2 cores).

    /tmp/v/bin/python bench/bench_lint.py            # generate if needed, check, time, split
    /tmp/v/bin/python bench/bench_lint.py --profile  # also cProfile one sequential run

Two generated repositories (bench/gen_specs.py, same seed, so the valid specs are identical):

    bench/out/lint-repo-valid   1,000 valid specs           `mardonar lint` must exit 0, no findings
    bench/out/lint-repo         the same + 100 broken ones  exit 1, a finding in every broken file,
                                                            none in a valid one

Each is timed as the wall time of the real console script, run as a subprocess in the
repository: `mardonar lint specs/` cold (`--no-cache`), on an empty cache (the first run, which
writes it) and warm (cache populated), plus lint of a single spec (the fixed cost). Median, min
and max of --runs runs, taken round-robin over the scenarios so background load hits them
alike; before each run the script waits (--quiet-wait) for other processes to leave the CPUs
idle. The lint cache goes to bench/out/cache/ (MARDONAR_CACHE_DIR), never to the user's.
Timed commands cache bytecode under bench/out/pycache (see _benchutil.bench_env), as a normal
install would; --no-pyc-cache keeps the inherited environment.

Then an in-process, single-process split of where the time goes: read, parse (libyaml compose,
then the located data), validate (pydantic), rules (cross-references, warnings, the M404
prompt render) and imports. Results are printed as a Markdown table and written to
bench/out/bench_lint.json. --profile adds cProfile's top functions for a sequential run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _benchutil import (  # bench/ is not a package
    BENCH,
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

GOAL_SECONDS = 2.0


class Timer:
    """Runs commands, each after waiting (up to `patience` s) for the CPUs to go quiet."""

    def __init__(self, patience: float) -> None:
        self.patience = patience
        self.background: list[float] = []

    def __call__(self, cmd: list[str], cwd: Path, env: dict[str, str], code: int) -> Sample:
        if self.patience > 0:
            busy = wait_quiet(self.patience)
            if busy is not None:
                self.background.append(busy)
        return expect(run(cmd, cwd=cwd, env=env), cmd, code, cwd)


# --------------------------------------------------------------------------- repositories


def ensure_repo(path: Path, valid: int, broken: int, seed: int, regen: bool) -> dict[str, Any]:
    manifest_path = path / "bench-manifest.json"
    if not regen and manifest_path.exists():
        manifest = json.loads(manifest_path.read_text())
        specs = path / "specs"
        same = (manifest.get("seed"), manifest.get("valid"), manifest.get("broken")) == (
            seed,
            valid,
            broken,
        )
        if same and specs.is_dir() and len(list(specs.glob("*.yaml"))) == valid + broken:
            return manifest
    sys.path.insert(0, str(BENCH))
    import gen_specs

    print(f"generating {path} ({valid} valid, {broken} broken, seed {seed})...", file=sys.stderr)
    return gen_specs.write_repo(path, valid, broken, seed)


# --------------------------------------------------------------------------- sanity


def sanity(
    cmd: list[str], repo: Path, env: dict[str, str], manifest: dict[str, Any]
) -> dict[str, Any]:
    """Lint once (JSON output) and check the findings against what was generated."""
    broken: dict[str, Any] = manifest["broken_files"]
    expected_rc = 1 if broken else 0
    lint = [*cmd, "lint", "--no-cache", "--format", "json", "specs/"]
    done = expect(run(lint, cwd=repo, env=env), lint, expected_rc, repo)
    findings = json.loads(done.stdout)
    by_path: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for item in findings:
        by_path[item["path"].replace(os.sep, "/")].append(item)
    stray = sorted(p for p in by_path if p not in broken)
    if stray:
        sample = "\n".join(
            f"{f['path']}:{f['line']}:{f['col']}: {f['code']} {f['message']}"
            for p in stray[:5]
            for f in by_path[p][:3]
        )
        sys.exit(f"bench_lint: {len(stray)} valid specs in {repo} have findings:\n{sample}")
    silent = sorted(p for p in broken if p not in by_path)
    if silent:
        sys.exit(f"bench_lint: lint reported nothing for broken specs {silent[:10]} in {repo}")
    # Recall per mistake kind: did lint report one of the codes the mistake should produce?
    found: Counter[str] = Counter()
    total: Counter[str] = Counter()
    missed: list[str] = []
    for path, entry in broken.items():
        codes = {f["code"] for f in by_path[path]}
        fatal = any(m["fatal"] for m in entry["mistakes"])
        for mistake in entry["mistakes"]:
            if fatal and not mistake["fatal"]:
                continue  # hidden behind the syntax error, as in any YAML tool
            total[mistake["name"]] += 1
            if codes & set(mistake["codes"]):
                found[mistake["name"]] += 1
            else:
                missed.append(f"{path}: {mistake['name']} ({mistake['what']}); got {codes}")
    return {
        "findings": len(findings),
        "errors": sum(1 for f in findings if f["severity"] == "error"),
        "warnings": sum(1 for f in findings if f["severity"] == "warning"),
        "exit": done.returncode,
        "broken_files_with_findings": len(broken) - len(silent),
        "mistakes_detected": sum(found.values()),
        "mistakes_checkable": sum(total.values()),
        "missed": missed,
    }


# --------------------------------------------------------------------------- timing


@dataclass
class Scenario:
    key: str  # e.g. "valid/cold"
    cmd: list[str]
    cwd: Path
    env: dict[str, str]
    code: int
    cache: Path | None = None
    fresh_cache: bool = False  # empty the cache before every run
    samples: list[Sample] = field(default_factory=list)

    def prepare(self) -> None:
        if self.fresh_cache and self.cache is not None:
            shutil.rmtree(self.cache, ignore_errors=True)


def scenarios(cmd: list[str], repos: dict[str, Path], base_env: dict[str, str]) -> list[Scenario]:
    out: list[Scenario] = []
    for name, repo in repos.items():
        code = 1 if name == "mixed" else 0
        lint = [*cmd, "lint", "specs/"]
        for mode in ("cold", "empty-cache", "warm"):
            cache = OUT / "cache" / f"{name}-{mode}"
            env = dict(base_env, MARDONAR_CACHE_DIR=str(cache))
            command = [*lint, "--no-cache"] if mode == "cold" else lint
            out.append(Scenario(f"{name}/{mode}", command, repo, env, code, cache, mode != "warm"))
    one = str(sorted((repos["valid"] / "specs").glob("*.yaml"))[0].relative_to(repos["valid"]))
    out.append(Scenario("one_spec", [*cmd, "lint", "--no-cache", one], repos["valid"], base_env, 0))
    return out


def time_all(timer: Timer, plan: list[Scenario], runs: int) -> None:
    """Round-robin over the scenarios, so a burst of background load hits them all alike."""
    for scenario in plan:  # warm-up: page cache, bytecode, and the warm scenarios' cache
        scenario.prepare()
        expect(
            run(scenario.cmd, cwd=scenario.cwd, env=scenario.env),
            scenario.cmd,
            scenario.code,
            scenario.cwd,
        )
    for number in range(runs):
        print(f"  round {number + 1}/{runs}", file=sys.stderr)
        for scenario in plan:
            scenario.prepare()
            scenario.samples.append(timer(scenario.cmd, scenario.cwd, scenario.env, scenario.code))


# --------------------------------------------------------------------------- in-process split


def split(repo: Path, env: dict[str, str]) -> dict[str, Any]:
    """Single-process time per phase, by wrapping the lint internals (best effort)."""
    code = r"""
import json, os, sys, time
t0 = time.perf_counter()
from pathlib import Path
import mardonar.content.lint.runner as runner
import mardonar.content.lint.rules as rules
import mardonar.content.yamlpos as yamlpos
from mardonar.content.lint import report as report_mod
t_import = time.perf_counter() - t0
acc = {"read": 0.0, "parse": 0.0, "compose": 0.0, "validate": 0.0, "render_m404": 0.0}

def timed(name, fn):
    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            acc[name] += time.perf_counter() - start
    return wrapper

rules.validate = timed("validate", rules.validate)
rules.spec_gm_view = timed("render_m404", rules.spec_gm_view)
runner.parse = timed("parse", runner.parse)
yamlpos.yaml.compose = timed("compose", yamlpos.yaml.compose)
spec_total = [0.0]
lint_spec = rules.lint_spec
def lint_spec_timed(*args, **kwargs):
    start = time.perf_counter()
    try:
        return lint_spec(*args, **kwargs)
    finally:
        spec_total[0] += time.perf_counter() - start
runner.lint_spec = lint_spec_timed
read_bytes = Path.read_bytes
Path.read_bytes = timed("read", read_bytes)

os.chdir(sys.argv[1])
t1 = time.perf_counter()
jobs = runner.discover([Path("specs")])
t_discover = time.perf_counter() - t1
t1 = time.perf_counter()
report = runner.run_lint([Path("specs")], use_cache=False, workers=1)
t_run = time.perf_counter() - t1
t1 = time.perf_counter()
text = report_mod.render_text(report)
t_render = time.perf_counter() - t1
rules_only = spec_total[0] - acc["validate"]
print(json.dumps({
    "files": len(jobs),
    "import": t_import,
    "discover": t_discover,
    "run_lint_sequential": t_run,
    "read": acc["read"],
    "parse": acc["parse"],
    "parse_compose": acc["compose"],
    "parse_build": acc["parse"] - acc["compose"],
    "validate": acc["validate"],
    "rules": rules_only,
    "rules_render_m404": acc["render_m404"],
    "other": t_run - acc["read"] - acc["parse"] - spec_total[0],
    "render_text": t_render,
}))
"""
    done = subprocess.run(
        [sys.executable, "-c", code, str(repo)],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1] if done.stderr else "failed"}
    return json.loads(done.stdout)


def profile(repo: Path, top: int, env: dict[str, str]) -> str:
    """cProfile one sequential in-process run (workers=1, no cache)."""
    code = f"""
import cProfile, io, os, pstats, sys
from pathlib import Path
os.chdir({str(repo)!r})
from mardonar.content.lint.runner import run_lint
profiler = cProfile.Profile()
profiler.enable()
run_lint([Path("specs")], use_cache=False, workers=1)
profiler.disable()
for key in ("tottime", "cumulative"):
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats(key).print_stats({top})
    print(out.getvalue())
"""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, env=env
    )
    return done.stdout + done.stderr


# --------------------------------------------------------------------------- report


def table(results: dict[str, Any]) -> str:
    rows = [TABLE_HEAD]
    for name, label in (("valid", "1,000 valid"), ("mixed", "1,000 valid + 100 broken")):
        data = results["timings"][name]
        for mode in ("cold", "empty-cache", "warm"):
            rows.append(fmt_row(f"lint {label}, {mode}", data["files"], data[mode]))
    rows.append(fmt_row("lint 1 spec, cold (fixed cost)", 1, results["timings"]["one_spec"]))
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="timed runs per scenario (5)")
    parser.add_argument("--valid", type=int, default=1000)
    parser.add_argument("--broken", type=int, default=100)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--regen", action="store_true", help="regenerate the repositories")
    parser.add_argument("--mardonar", help="path of the mardonar console script")
    parser.add_argument(
        "--no-pyc-cache",
        action="store_true",
        help="keep the inherited environment (e.g. PYTHONDONTWRITEBYTECODE=1) instead of "
        "caching bytecode under bench/out/pycache",
    )
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=20.0,
        help="before each timed run wait up to this many seconds for other processes to leave "
        "the CPUs idle (0: don't wait)",
    )
    parser.add_argument("--profile", action="store_true", help="cProfile a sequential run")
    parser.add_argument("--top", type=int, default=30, help="functions shown by --profile")
    parser.add_argument("--no-split", action="store_true", help="skip the in-process split")
    args = parser.parse_args(argv)

    cmd = [console_script(args.mardonar)]
    valid_repo = OUT / "lint-repo-valid"
    mixed_repo = OUT / "lint-repo"
    manifests = {
        "valid": ensure_repo(valid_repo, args.valid, 0, args.seed, args.regen),
        "mixed": ensure_repo(mixed_repo, args.valid, args.broken, args.seed, args.regen),
    }
    repos = {"valid": valid_repo, "mixed": mixed_repo}
    env = bench_env(pyc_cache=not args.no_pyc_cache)
    sanity_env = dict(env, MARDONAR_CACHE_DIR=str(OUT / "cache" / "sanity"))

    results: dict[str, Any] = {
        "machine": machine(),
        "command": cmd,
        "pyc_cache": not args.no_pyc_cache,
        "timings": {},
        "sanity": {},
    }
    for name, repo in repos.items():
        checked = sanity(cmd, repo, sanity_env, manifests[name])
        results["sanity"][name] = checked
        print(
            f"sanity {name}: exit {checked['exit']}, {checked['errors']} errors, "
            f"{checked['warnings']} warnings; broken files with findings "
            f"{checked['broken_files_with_findings']}/{len(manifests[name]['broken_files'])}; "
            f"mistakes detected {checked['mistakes_detected']}/{checked['mistakes_checkable']}",
            file=sys.stderr,
        )
        for line in checked["missed"]:
            print(f"  not detected: {line}", file=sys.stderr)

    timer = Timer(args.quiet_wait)
    plan = scenarios(cmd, repos, env)
    print(f"timing {len(plan)} scenarios, {args.runs} rounds...", file=sys.stderr)
    time_all(timer, plan, args.runs)
    for name in repos:
        results["timings"][name] = {
            "files": args.valid + (args.broken if name == "mixed" else 0),
            **{
                sc.key.split("/")[1]: summarize(sc.samples)
                for sc in plan
                if sc.key.startswith(f"{name}/")
            },
        }
    results["timings"]["one_spec"] = summarize(plan[-1].samples)
    if timer.background:
        results["background_busy_max"] = max(timer.background)

    if not args.no_split:
        results["split"] = split(valid_repo, env)

    m = results["machine"]
    print(f"\nmachine: {m['cpus']} CPUs, {m['cpu_model']}, Python {m['python']}")
    lines = manifests["valid"]["valid_lines"]
    print(
        f"valid specs: {lines['total']} lines, min {lines['min']}, median {lines['median']}, "
        f"max {lines['max']}; bytecode cache {'on' if results['pyc_cache'] else 'as inherited'}"
    )
    if timer.background:
        print(f"background CPU before runs: at most {max(timer.background):.0%} busy")
    print()
    print(table(results))
    cold = results["timings"]["valid"]["cold"]["median"]
    verdict = "MET" if cold < GOAL_SECONDS else "MISSED"
    print(f"\ngoal: 1,000 specs cold median < {GOAL_SECONDS} s: {cold:.3f} s -> {verdict}")
    if "split" in results:
        s = results["split"]
        if "error" in s:
            print(f"\nin-process split unavailable: {s['error']}")
        else:
            print(f"\nin-process, one process, {s['files']} files, no cache (seconds):")
            for key, value in s.items():
                if key != "files":
                    print(f"  {key:<22} {value:8.3f}")
    (OUT / "bench_lint.json").write_text(json.dumps(results, indent=2) + "\n")
    if args.profile:
        print("\n" + profile(valid_repo, args.top, env))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
