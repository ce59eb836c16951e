"""Strict replay on several CPUs: the transcripts of one run shared among processes.

The transcripts are cut into contiguous shares of about equal size (in bytes), one per
process. The parent makes what every process needs once (the migrated empty store, the lint
code's version digest, the engine's modules), then submits every share but the last to a
`concurrent.futures.ProcessPoolExecutor` of forked workers (`multiprocessing`'s "fork"
context: the workers are forked at the first submit and inherit all of that, and the run
itself), replays the last share itself while they work, and gathers theirs. Only a share (a
range of indexes) goes to a worker and only its results (pickled `ReplayResult`s) come back.
Every process replays its transcripts exactly as a serial run would (`replay_one`: read,
load and lint the spec once per process, a fresh engine per transcript), a worker in its
own event loop (`asyncio.run` in the worker, never the parent's loop). Results are put back
in the transcripts' order, so the report and the exit code are those of a serial run:

* a transcript that cannot be read, or whose spec cannot be loaded, is an `unreadable`
  result in its place, as in a serial run: the others are still replayed and reported;
* any other exception while replaying (a bug) stops the run with the first such error in
  the transcripts' order, as it stops a serial run (the pool re-raises a worker's exception
  in the parent, with the worker's traceback as its cause);
* a worker that dies (killed, out of memory) is not an error of the run and never hangs it:
  the pool breaks (`BrokenProcessPool`) and every transcript of each share whose results
  had not come back becomes a diverged result with an engine error.

Each process loads the specs of its own share: measured on the golden transcripts, that is
faster than loading them all in the parent before forking, even with a spec on both sides
of a cut, since every process pays anyway for its first write to each memory page it shares
with the others (the page is copied), wherever the loading is done. The pool replaced a
hand-written fork pool that was ~10% faster on 2 CPUs (bench/README.md, "Replay").
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import pickle
import signal
import threading
from bisect import bisect_left
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from itertools import accumulate, pairwise
from pathlib import Path
from typing import TYPE_CHECKING

from mardonar.errors import UserError
from mardonar.harness.replay.reading import ReplayRun, actions_of, hash_notes, load_header
from mardonar.harness.replay.results import ReplayResult, display_path, unreadable

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    ReplayOne = Callable[[ReplayRun, Path], Awaitable[ReplayResult]]
    """How one transcript is replayed (`run.replay_one`, passed in: run imports this module)."""

__all__ = [
    "AUTO_MIN_TRANSCRIPTS",
    "auto_jobs",
    "can_fork",
    "cpu_count",
    "replay_forked",
    "settle",
    "split",
    "worker_count",
]

AUTO_MIN_TRANSCRIPTS = 4
"""Fewer transcripts than this stay in one process when --jobs is automatic. A worker costs
a few milliseconds (the fork, then copying each memory page either process writes), a
golden transcript ~6 ms to replay: measured on 2 CPUs, 3 transcripts took 25.5 ms in one
process and 27.6 ms in two, 4 took 31.4 ms and 25.7 ms."""

DIED = (
    "the worker process replaying it was killed before it finished "
    "(`--jobs 1` replays every transcript in the main process)"
)
"""The engine error of each transcript whose worker died before sending its results."""


def can_fork() -> bool:
    """Whether workers can be forked (POSIX): they must inherit the parent's state."""
    return "fork" in multiprocessing.get_all_start_methods()


def cpu_count() -> int:
    """CPUs this process may run on (its affinity, where the OS tells)."""
    with contextlib.suppress(AttributeError, OSError):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


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


_inherited: tuple[ReplayOne, ReplayRun, Sequence[Path]] | None = None
"""How to replay one, the run and its transcripts, set before the pool forks: the workers
inherit them, so a share names its transcripts by index and nothing else is pickled."""


_closing: threading.Thread | None = None
"""The thread shutting the last run's pool down: `shutdown(wait=True)` off the run's path,
so the workers' exits (a forked process takes ~2.5 ms to tear its memory down) overlap
whatever the caller does next; `settle` joins it."""


def settle() -> None:
    """Wait until the last run's pool is shut down (its workers exited, its threads done).

    Called before forking again (never fork while a pool's threads run) and at the
    interpreter's exit: a pool thread still closing then races Python 3.11's own exit
    hook for `concurrent.futures`, which prints "OSError: Bad file descriptor"."""
    global _closing
    if _closing is not None:
        _closing.join()
        _closing = None


# `threading`'s exit hooks run last-registered first, before non-daemon threads are joined:
# registered after `concurrent.futures.process` (imported above), this one runs before its
# hook, which is the one that would race the closing pool. `atexit` would run too late.
if hasattr(threading, "_register_atexit"):
    threading._register_atexit(settle)


async def _replay_share(
    replay_one: ReplayOne, run: ReplayRun, paths: Sequence[Path], share: range
) -> list[ReplayResult]:
    return [await replay_one(run, paths[index]) for index in share]


def _quiet_interrupt() -> None:
    """In a worker: Ctrl-C, which reaches the whole process group, ends it at once (the
    parent handles its own interrupt) instead of printing a traceback per worker."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _replay_in_worker(share: range) -> list[ReplayResult]:
    """A worker's job: `share` of the inherited run, in the worker's own event loop; the
    first exception ends it, as it ends a serial run."""
    assert _inherited is not None, "a replay worker must be forked by replay_forked"
    replay_one, run, paths = _inherited
    try:
        return asyncio.run(_replay_share(replay_one, run, paths, share))
    except Exception as error:
        portable = _portable(error)
        if portable is error:
            raise
        raise portable from error  # the pool's traceback text (its cause) shows the original


def _portable(error: Exception) -> Exception:
    """`error`, or a RuntimeError saying the same where `error` cannot cross to the parent
    (a pickled exception that did not load there would break the pool, as a death does)."""
    try:
        pickle.loads(pickle.dumps(error))
    except Exception:
        portable = RuntimeError(f"{type(error).__name__}: {error}")
        for note in getattr(error, "__notes__", []):
            portable.add_note(note)
        return portable
    return error


def _died(run: ReplayRun, path: Path) -> ReplayResult:
    try:
        records, bundle = load_header(path, run)
    except UserError as error:  # unreadable, as it would have been in the worker
        return unreadable(path, error)
    header = records[0]
    return ReplayResult(
        path=display_path(path),
        spec=bundle.spec.id,
        seed=int(header["seed"]),
        turns=sum(1 for action in actions_of(records[1:]) if action[0] == "turn"),
        notes=hash_notes(header, bundle),
        error=DIED,
    )


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 1  # its error is reported when it is replayed


async def _outcome(future: Future[list[ReplayResult]]) -> list[ReplayResult] | Exception:
    try:
        return await asyncio.wrap_future(future)
    except Exception as error:  # BrokenProcessPool among them: sorted out in order
        return error


async def replay_forked(
    run: ReplayRun, paths: Sequence[Path], workers: int, replay_one: ReplayOne
) -> list[ReplayResult]:
    """Replay `paths` in `workers` processes (this one and forked ones) sharing `run`, each
    transcript with `replay_one`."""
    global _inherited, _closing
    from mardonar.content.lint.cache import cache_version
    from mardonar.store.sqlite import SqliteStore

    shares = split([_size(path) for path in paths], workers)
    if len(shares) < 2:
        return await _replay_share(replay_one, run, paths, range(len(paths)))

    # What is made once per process, made once here for all of them.
    await SqliteStore.in_memory().close()
    cache_version()
    import mardonar.engine.loop
    import mardonar.llm.cassette  # noqa: F401

    settle()  # never fork while the last pool's threads may still run
    _inherited = (replay_one, run, paths)
    pool = ProcessPoolExecutor(
        max_workers=len(shares) - 1,
        mp_context=multiprocessing.get_context("fork"),
        initializer=_quiet_interrupt,
    )
    try:
        futures = [pool.submit(_replay_in_worker, share) for share in shares[:-1]]
        try:
            mine: list[ReplayResult] | Exception = await _replay_share(
                replay_one, run, paths, shares[-1]
            )
        except Exception as error:  # raised below if no worker's share failed first
            mine = error
        outcomes: list[list[ReplayResult] | Exception] = [
            *[await _outcome(future) for future in futures],
            mine,
        ]
    finally:
        _closing = threading.Thread(
            target=pool.shutdown,
            kwargs={"wait": True, "cancel_futures": True},
            name="mardonar-replay-pool-shutdown",
        )
        _closing.start()
        _inherited = None

    results: list[ReplayResult] = []
    for share, outcome in zip(shares, outcomes, strict=True):
        if isinstance(outcome, BrokenProcessPool):
            results += [_died(run, paths[index]) for index in share]
        elif isinstance(outcome, Exception):
            raise outcome
        else:
            results += outcome
    return results
