"""`mardonar replay --jobs N`: transcripts replayed in a pool of forked worker processes.

A parallel run must say exactly what a serial run says — the same report in every format
and the same exit code — for identical, divergent and unreadable transcripts; a worker that
dies turns its share into engine errors instead of hanging the run.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest
import yaml

import mardonar.harness.replay.run as replaying
from mardonar.harness.replay.parallel import DIED, can_fork, split
from mardonar.harness.replay.render import render_text
from mardonar.harness.replay.results import ReplayResult
from mardonar.harness.replay.run import replay_all
from tests.conftest import RunCli
from tests.engine_helpers import REPO, run
from tests.helpers import repo_fixture

repo = repo_fixture(goldens=True)

GOLDEN_DIR = REPO / "transcripts" / "golden"

pytestmark = pytest.mark.skipif(not can_fork(), reason="parallel replay forks")


def _reports(run_cli: RunCli, repo: Path, *args: str) -> dict[str, tuple[int, str, str]]:
    """Exit code, stdout and stderr of `replay ARGS` serially, with 2 and 3 processes and
    with the automatic choice; JSON reports without their timings."""
    found: dict[str, tuple[int, str, str]] = {}
    for jobs in ("1", "2", "3", None):
        extra = ("--jobs", jobs) if jobs else ()
        result = run_cli("replay", *args, *extra, cwd=repo)
        out = result.stdout
        if "--format" in args and "json" in args and result.returncode != 2:
            report = json.loads(out)
            for transcript in report["transcripts"]:
                transcript.pop("seconds")
            out = json.dumps(report, indent=2, ensure_ascii=False)
        found[jobs or "auto"] = (result.returncode, out, result.stderr)
    return found


def _raise_xp(repo: Path, spec: str, by: int) -> None:
    path = repo / "specs" / f"{spec}.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    for outcome in data["outcomes"]:
        outcome["xp"] = int(outcome.get("xp") or 0) + by
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")


@pytest.mark.parametrize("output", ["text", "json", "github"])
def test_a_parallel_run_reports_divergences_exactly_as_a_serial_one(
    run_cli: RunCli, repo: Path, output: str
) -> None:
    # The transcripts of one spec sit on both sides of the cut between two processes.
    _raise_xp(repo, "haunted-lighthouse", 25)
    reports = _reports(run_cli, repo, "transcripts/golden", "--format", output)
    code, out, err = reports["1"]
    assert code == 1, out + err
    assert "haunted-lighthouse" in out and "→" in out
    assert out.count("identical") >= 4
    for jobs, report in reports.items():
        assert report == reports["1"], jobs


def test_identical_transcripts_give_the_same_report_in_parallel(
    run_cli: RunCli, repo: Path
) -> None:
    reports = _reports(run_cli, repo, "transcripts/golden")
    code, out, _ = reports["1"]
    assert code == 0
    golden = len(list((repo / "transcripts" / "golden").glob("*.jsonl")))
    assert out.splitlines()[-1] == f"{golden} identical, 0 diverged"
    assert all(report == reports["1"] for report in reports.values())


@pytest.mark.parametrize(
    "name, content, named",
    [
        # Read before anything is replayed: stops the run at its place in the order.
        ("haunted-lighthouse-bad.jsonl", '{"type": "player"}\n', "haunted-lighthouse-bad"),
        # Its header is fine but its spec does not exist: found while loading specs.
        (
            "smugglers-chase-zz.jsonl",
            '{"type": "header", "spec": "no-such-spec", "seed": 1}\n',
            "no-such-spec",
        ),
    ],
)
def test_an_unreadable_transcript_hides_none_of_the_others_in_parallel(
    run_cli: RunCli, repo: Path, name: str, content: str, named: str
) -> None:
    """One bad file among the goldens: its line on stderr, exit 2, and every golden still
    replayed and reported, serially and in parallel alike."""
    (repo / "transcripts" / "golden" / name).write_text(content, encoding="utf-8")
    reports = _reports(run_cli, repo, "transcripts/golden")
    code, out, err = reports["1"]
    assert code == 2, out + err
    [line] = err.splitlines()
    assert line.startswith(f"mardonar: transcripts/golden/{name}:1: ") and named in line
    golden = len(list((repo / "transcripts" / "golden").glob("*.jsonl"))) - 1
    assert out.count(": identical, ") == golden
    assert out.splitlines()[-1] == f"{golden} identical, 0 diverged, 1 unreadable"
    for jobs, report in reports.items():
        assert report == reports["1"], jobs


def _golden_copy(repo: Path) -> list[Path]:
    """The six short golden sessions (offline and scripted), whose shares the tests know."""
    golden = sorted((repo / "transcripts" / "golden").glob("*.jsonl"))
    return [path for path in golden if path.stem.endswith(("-offline", "-scripted"))]


def _in_workers_only(
    action: Callable[[Path], None],
) -> Callable[..., Coroutine[Any, Any, ReplayResult]]:
    """`replay_loaded`, doing `action(path)` first when it runs in a forked worker."""
    parent = os.getpid()
    original = replaying.replay_loaded

    async def replay_loaded(run: Any, path: Path, *args: Any, **kwargs: Any) -> ReplayResult:
        if os.getpid() != parent:
            action(path)
        return await original(run, path, *args, **kwargs)

    return replay_loaded


def test_a_worker_that_dies_turns_its_share_into_engine_errors(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    """The pool breaks when a worker dies and loses what that worker had not returned, so
    its whole share — including the transcript it finished before dying — is reported as
    engine errors (the hand-written pool kept what a worker sent before dying; the
    `ProcessPoolExecutor` contract is a share's results or none). The parent's share and
    the order are unaffected, and the run ends with a report, not a hang or a traceback."""
    paths = _golden_copy(repo)

    def die_on_the_second(path: Path) -> None:
        if path == paths[1]:
            os.kill(os.getpid(), signal.SIGKILL)

    monkeypatch.setattr(replaying, "replay_loaded", _in_workers_only(die_on_the_second))
    results = run(replay_all(paths, cwd=repo, jobs=2))
    assert [Path(r.path).name for r in results] == [p.name for p in paths]
    # The worker had the first three and died on the second: its share is lost whole.
    for dead in results[:3]:
        assert not dead.identical
        assert dead.error is not None and "was killed before it finished" in dead.error
        assert dead.turns > 0 and dead.spec
    assert all(r.identical for r in results[3:])
    text = render_text(results)
    assert f"{results[1].path}: engine error: the worker process replaying it was killed" in text
    assert text.splitlines()[-1] == "3 identical, 3 diverged"
    assert "Traceback" not in capfd.readouterr().err


def test_a_worker_that_exits_mid_share_does_not_hang_a_three_process_run(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = _golden_copy(repo)

    def exit_on_the_first(path: Path) -> None:
        if path == paths[0]:
            os._exit(3)

    monkeypatch.setattr(replaying, "replay_loaded", _in_workers_only(exit_on_the_first))
    results = run(replay_all(paths, cwd=repo, jobs=3))
    assert [Path(r.path).name for r in results] == [p.name for p in paths]
    # Shares: 0-1 (the worker that exits), 2-3 (the other worker), 4-5 (the parent). The
    # broken pool stops the other worker too unless its results were already back.
    assert all(r.error == DIED for r in results[:2])
    assert all(r.identical or r.error == DIED for r in results[2:4])
    assert all(r.identical for r in results[4:])


def test_an_exception_in_a_worker_is_raised_as_in_a_serial_run(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = _golden_copy(repo)

    def fail_on_the_second(path: Path) -> None:
        if path == paths[1]:
            raise LookupError(f"broken engine for {path.name}")

    monkeypatch.setattr(replaying, "replay_loaded", _in_workers_only(fail_on_the_second))
    with pytest.raises(LookupError, match="broken engine for goblin-toll-bridge-scripted") as info:
        run(replay_all(paths, cwd=repo, jobs=2))
    # What Python prints under the error: where in the worker it was raised.
    assert "fail_on_the_second" in str(info.value.__cause__)


def test_shares_are_contiguous_and_about_equal() -> None:
    weights = [16, 27, 16, 27, 17, 27]
    assert split(weights, 2) == [range(0, 3), range(3, 6)]
    assert split(weights, 3) == [range(0, 2), range(2, 4), range(4, 6)]
    assert split([5, 1, 1, 1], 2) == [range(0, 1), range(1, 4)]
    assert split([1] * 3, 8) == [range(0, 1), range(1, 2), range(2, 3)]
    assert split([], 2) == []
    for parts in range(1, 12):
        ranges = split([3, 1, 4, 1, 5, 9, 2, 6, 5, 3], parts)
        assert [i for r in ranges for i in r] == list(range(10))
        assert all(len(r) > 0 for r in ranges)


def test_jobs_is_refused_with_live_replay(run_cli: RunCli, repo: Path) -> None:
    result = run_cli("replay", "--live", "--jobs", "2", "transcripts/golden", cwd=repo)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "mardonar: --jobs applies to a strict replay; drop it or --live"
    ]


def test_no_pool_thread_is_left_running_into_the_interpreters_exit(repo: Path) -> None:
    """The pool is shut down off the run's path; a process that exits right after a run
    must still find it closed before `concurrent.futures`' own exit hook runs (left
    closing, Python 3.11 raced it and printed "OSError: Bad file descriptor")."""
    script = textwrap.dedent(
        """
        import asyncio, os, threading
        import concurrent.futures.process  # its exit hook: registered first, runs last

        parent = os.getpid()

        def report_threads():
            if os.getpid() != parent:  # a forked worker runs the hooks too
                return
            running = [t.name for t in threading.enumerate() if t is not threading.main_thread()]
            print("running at exit:", running, flush=True)

        threading._register_atexit(report_threads)  # runs after mardonar's own hook
        from pathlib import Path
        from mardonar.harness.replay.run import replay_all

        paths = sorted(Path("transcripts/golden").glob("*.jsonl"))
        results = asyncio.run(replay_all(paths, jobs=2))
        print(sum(r.identical for r in results) == len(paths), flush=True)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=repo, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["True", "running at exit: []"]
    assert result.stderr == ""
