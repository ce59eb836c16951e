"""Shares of a job run in forked children that inherit the parent's loaded state.

`Worker.fork(work, share)` forks a child that inherits everything the parent has loaded
(imported modules, parsed content, database images), so nothing but results crosses the
process boundary: the child calls `work(share, emit)`, and each `emit(value)` pickles one
value into an unlinked temporary file at once. `worker.outcome()` returns the values in the
order they were emitted and how the child ended. The parent is free to do its own share in
between: a file, unlike a pipe, never fills up and stalls the child while the parent is
busy.

`outcome()` waits on a pipe that the child closes once its results are written (or that
closes when it dies), not on the child's exit: tearing down a forked process's memory takes
a millisecond or two, and its exit is collected later. A child that dies (a signal, the
out-of-memory killer, `os._exit`) keeps what it emitted before, and the outcome says how it
died; nothing waits on a dead child.

Compared with `concurrent.futures.ProcessPoolExecutor`: no manager thread and no queues,
the parent can work alongside, and the values of a child that died are kept where a broken
pool fails every pending future. POSIX only (`os.fork`); callers check `can_fork()`.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pickle
import signal
import sys
import tempfile
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

__all__ = ["ShareOutcome", "Worker", "can_fork", "cpu_count"]

T = TypeVar("T")
R = TypeVar("R")


@dataclass
class ShareOutcome(Generic[R]):
    values: list[R] = field(default_factory=list)
    """What the child emitted, in order."""
    died: str | None = None
    """How the child ended when it did not finish its share cleanly, else None."""


def can_fork() -> bool:
    return hasattr(os, "fork")


def cpu_count() -> int:
    """CPUs this process may run on (its affinity, where the OS tells)."""
    with contextlib.suppress(AttributeError, OSError):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _how_it_ended(status: int) -> str | None:
    code = os.waitstatus_to_exitcode(status)
    if code == 0:
        return None
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"


_FINISHED = "mardonar.forkpool: share finished"
"""The last value a child writes when its share is done: its results are complete."""

_unreaped: set[int] = set()


def _reap(*, block: bool) -> None:
    """Collect the exit of children whose results are already read (no zombies left)."""
    for pid in list(_unreaped):
        try:
            done, _ = os.waitpid(pid, 0 if block else os.WNOHANG)
        except ChildProcessError:
            done = pid
        if done:
            _unreaped.discard(pid)


atexit.register(_reap, block=True)


class Worker(Generic[R]):
    """One forked child doing one share."""

    def __init__(self, pid: int, results: int, done: int) -> None:
        self.pid = pid
        self._results = results
        self._done = done
        self._outcome: ShareOutcome[R] | None = None

    @classmethod
    def fork(cls, work: Callable[[T, Callable[[R], None]], None], share: T) -> Worker[R]:
        _reap(block=False)
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()  # else the child's buffer copy could repeat the parent's text
        results, name = tempfile.mkstemp(prefix="mardonar-worker-")
        os.unlink(name)  # the open descriptor is all either process needs
        done, done_writer = os.pipe()  # closed by the child when its results are written
        try:
            pid = os.fork()
        except BaseException:
            for fd in (results, done, done_writer):
                os.close(fd)
            raise
        if pid == 0:
            os.close(done)
            _child(work, share, results, done_writer)
        os.close(done_writer)  # the child holds the only writer: EOF when it is done or dead
        return cls(pid, results, done)

    def outcome(self) -> ShareOutcome[R]:
        """Wait for the child's share; what it emitted and how it ended."""
        if self._outcome is not None:
            return self._outcome
        os.read(self._done, 1)  # returns at EOF: the child finished or died
        os.close(self._done)
        outcome: ShareOutcome[R] = ShareOutcome()
        finished = False
        try:
            with os.fdopen(self._results, "rb", closefd=True) as results:
                results.seek(0)
                while True:
                    try:
                        value = pickle.load(results)
                    except EOFError:
                        break
                    if isinstance(value, str) and value == _FINISHED:
                        finished = True
                        break
                    outcome.values.append(value)
        except Exception:  # cut short by the child's death
            finished = False
        if finished:
            # Its results are complete; its exit (tearing down its memory takes a
            # millisecond or two) is collected later rather than waited for.
            _unreaped.add(self.pid)
        else:
            _, status = os.waitpid(self.pid, 0)
            outcome.died = _how_it_ended(status) or "ended without finishing its share"
        self._outcome = outcome
        return outcome

    def kill(self) -> None:
        """Stop the child (the parent failed or was interrupted) and reap it."""
        if self._outcome is not None:
            return
        with contextlib.suppress(OSError):
            os.kill(self.pid, signal.SIGKILL)
        with contextlib.suppress(OSError):
            os.waitpid(self.pid, 0)
        for fd in (self._results, self._done):
            with contextlib.suppress(OSError):
                os.close(fd)
        self._outcome = ShareOutcome(died="was stopped")


def _child(
    work: Callable[[T, Callable[[R], None]], None], share: T, results: int, done: int
) -> None:
    """The body of a forked child: never returns (its interpreter state is the parent's)."""
    status = 1
    try:
        # Ctrl-C reaches the whole process group: the child stops at once and the parent,
        # which handles its own interrupt, reaps it.
        signal.signal(signal.SIGINT, signal.SIG_DFL)

        def emit(value: object) -> None:
            view = memoryview(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))
            while view:
                view = view[os.write(results, view) :]

        work(share, emit)
        emit(_FINISHED)
        status = 0
    except BaseException:
        with contextlib.suppress(BaseException):
            traceback.print_exc()
            sys.stderr.flush()
    finally:
        os.close(done)  # the parent may read the results now
        # No atexit handlers, no flushing of buffers copied from the parent, no finalizers
        # of the parent's objects (its temporary folders): the parent owns all of those.
        os._exit(status)
