"""Strict replay on several CPUs: the transcripts of one run shared among processes.

The transcripts are cut into contiguous shares of about equal size (in bytes), one per
process. The parent makes what every process needs once (the migrated empty store, the lint
code's version digest, the engine's modules), forks a worker for each share but the last
(`mardonar.forkpool`), and replays the last share itself while the workers run. Every
process replays its transcripts exactly as a serial run would (`replay_one`: read, load and
lint the spec once per process, a fresh engine per transcript), a worker in its own event
loop (`asyncio.run` in the child, never the parent's loop), sending back each result as
soon as it has it. Results are put back in the transcripts' order, so the report and the
exit code are those of a serial run:

* a transcript that cannot be read, or whose spec cannot be loaded, and any exception while
  replaying stop the run with the first such error in the transcripts' order, as they stop
  a serial run (a process stops at its first error; the others' results before it stand);
* a worker that dies (killed, out of memory) is not an error of the run and never hangs it:
  each transcript it had not reported becomes a diverged result with an engine error.

Each process loads the specs of its own share: measured on the golden transcripts, that is
faster than loading them all in the parent before forking, even with a spec on both sides
of a cut, since every process pays anyway for its first write to each memory page it shares
with the others (the page is copied), wherever the loading is done.
"""

from __future__ import annotations

import asyncio
import pickle
import traceback
from bisect import bisect_left
from collections.abc import Callable, Sequence
from itertools import accumulate, pairwise
from pathlib import Path
from typing import TYPE_CHECKING

from mardonar import replay as replaying
from mardonar.errors import UserError
from mardonar.forkpool import Worker, can_fork, cpu_count

if TYPE_CHECKING:
    from mardonar.replay import ReplayResult, ReplayRun

__all__ = ["AUTO_MIN_TRANSCRIPTS", "auto_jobs", "replay_forked", "split", "worker_count"]

AUTO_MIN_TRANSCRIPTS = 4
"""Fewer transcripts than this stay in one process when --jobs is automatic. A worker costs
a few milliseconds (the fork, then copying each memory page either process writes), a
golden transcript ~6 ms to replay: measured on 2 CPUs, 3 transcripts took 25.5 ms in one
process and 27.6 ms in two, 4 took 31.4 ms and 25.7 ms."""


def auto_jobs(transcripts: int) -> int:
    """Processes for `transcripts` when the user did not say: one per CPU, one for a few."""
    if not can_fork() or transcripts < AUTO_MIN_TRANSCRIPTS:
        return 1
    return max(1, min(cpu_count(), transcripts))


def worker_count(jobs: int | None, transcripts: int) -> int:
    """`--jobs` (None: automatic) bounded by the transcripts; 1 where fork is missing."""
    if jobs is None:
        return auto_jobs(transcripts)
    if jobs < 1:
        raise ValueError("jobs must be at least 1")
    return max(1, min(jobs, transcripts)) if can_fork() else 1


def split(weights: Sequence[int], parts: int) -> list[range]:
    """Contiguous, non-empty ranges of indexes (at most `parts`) of about equal weight."""
    if not weights:
        return []
    parts = max(1, min(parts, len(weights)))
    totals = list(accumulate(max(1, w) for w in weights))
    cuts = [0]
    for k in range(1, parts):
        goal = totals[-1] * k / parts
        at = bisect_left(totals, goal)  # the first index whose running total reaches goal
        if at > 0 and goal - totals[at - 1] < totals[at] - goal:
            at -= 1  # cutting before it is closer to the goal
        cut = min(max(at + 1, cuts[-1] + 1), len(weights) - (parts - k))
        cuts.append(cut)
    cuts.append(len(weights))
    return [range(a, b) for a, b in pairwise(cuts) if b > a]


def _portable(error: Exception) -> Exception:
    """`error` as it can cross to the parent: pickled, with the worker's traceback as a note."""
    if not isinstance(error, UserError):  # a user's mistake is one line, from any process
        error.add_note("raised in a replay worker process:\n" + traceback.format_exc().rstrip())
    try:
        pickle.dumps(error)
    except Exception:
        portable = RuntimeError(f"{type(error).__name__}: {error}")
        for note in getattr(error, "__notes__", []):
            portable.add_note(note)
        return portable
    return error


def _died(run: ReplayRun, path: Path, how: str) -> ReplayResult:
    records, bundle = replaying.load_header(path, run)  # the worker read them: they load
    header = records[0]
    return replaying.ReplayResult(
        path=replaying.display_path(path),
        spec=bundle.spec.id,
        seed=int(header["seed"]),
        turns=sum(1 for action in replaying.actions_of(records[1:]) if action[0] == "turn"),
        notes=replaying.hash_notes(header, bundle),
        error=(
            f"the worker process replaying it {how} before it finished "
            "(`--jobs 1` replays every transcript in the main process)"
        ),
    )


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 1  # its error is reported when it is replayed


async def replay_forked(run: ReplayRun, paths: Sequence[Path], workers: int) -> list[ReplayResult]:
    """Replay `paths` in `workers` processes (this one and forked ones) sharing `run`."""
    from mardonar.content.lint.runner import cache_version
    from mardonar.store.sqlite import SqliteStore

    async def play(share: Sequence[int], emit: Callable[[object], None], *, forked: bool) -> None:
        for index in share:
            try:
                result = await replaying.replay_one(run, paths[index])
            except Exception as error:
                emit(_portable(error) if forked else error)
                return  # a serial run stops at its first error
            emit(result)

    def work(share: range, emit: Callable[[object], None]) -> None:
        asyncio.run(play(share, emit, forked=True))

    # What is made once per process, made once here for all of them.
    await SqliteStore.in_memory().close()
    cache_version()
    import mardonar.engine.loop
    import mardonar.llm.cassette  # noqa: F401

    shares = split([_size(path) for path in paths], workers)
    started: list[tuple[range, Worker[object]]] = []
    produced: dict[int, object] = {}
    try:
        started = [(share, Worker.fork(work, share)) for share in shares[:-1]]
        mine: list[object] = []
        await play(shares[-1], mine.append, forked=False)
        produced.update(zip(shares[-1], mine, strict=False))
        for share, worker in started:
            outcome = worker.outcome()
            produced.update(zip(share, outcome.values, strict=False))
            if outcome.values and isinstance(outcome.values[-1], BaseException):
                continue  # it stopped at an error, as a serial run would
            for index in share[len(outcome.values) :]:
                produced[index] = _died(run, paths[index], outcome.died or "stopped")
    finally:
        for _, worker in started:
            worker.kill()

    results: list[ReplayResult] = []
    for index in sorted(produced):
        value = produced[index]
        if isinstance(value, BaseException):
            raise value
        assert isinstance(value, replaying.ReplayResult)
        results.append(value)
    return results
