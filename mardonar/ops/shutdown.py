"""Graceful shutdown: on SIGTERM/SIGINT stop taking turns, let running ones finish, close.

`InFlight` counts the turns being played; `GracefulShutdown` installs the signal handlers
and, on the first signal, refuses new turns, waits up to `grace` seconds for the running
ones, then calls `on_stop` (the bot's `close`). A second signal stops waiting at once. A turn
cut off by the deadline loses nothing the players said: the engine saves their lines before
asking the model, and the session resumes that turn.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager, suppress
from types import TracebackType

log = logging.getLogger("mardonar.shutdown")

DEFAULT_GRACE = 45.0
"""Seconds to wait for running turns: above one slow model answer with a tool round, and
below compose.yaml's stop_grace_period (60 s), after which Docker sends SIGKILL."""


class ShuttingDown(Exception):
    """Raised by `InFlight.turn()` once shutdown has begun: no new turn may start."""


class InFlight:
    """The turns being played right now."""

    def __init__(self) -> None:
        self._count = 0
        self._accepting = True
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def count(self) -> int:
        return self._count

    @property
    def accepting(self) -> bool:
        return self._accepting

    @asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        """`async with inflight.turn():` around one turn; raises ShuttingDown when closing."""
        if not self._accepting:
            raise ShuttingDown("the bot is shutting down; no new turns")
        self._count += 1
        self._idle.clear()
        try:
            yield
        finally:
            self._count -= 1
            if self._count == 0:
                self._idle.set()

    def stop_accepting(self) -> None:
        self._accepting = False

    async def wait_idle(self) -> None:
        await self._idle.wait()

    async def drain(self, timeout: float) -> int:
        """Refuse new turns and wait up to `timeout` s; returns how many are still running."""
        self.stop_accepting()
        with suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), timeout)
        return self._count

    async def ready(self) -> bool:
        """A readiness probe: not ready once shutdown has begun (load balancers move on)."""
        return self._accepting


class GracefulShutdown:
    """`async with GracefulShutdown(inflight, on_stop=bot.close):` around the bot's run."""

    def __init__(
        self,
        inflight: InFlight,
        *,
        grace: float = DEFAULT_GRACE,
        on_stop: Callable[[], Awaitable[object]] | None = None,
        signals: Iterable[signal.Signals] = (signal.SIGTERM, signal.SIGINT),
    ) -> None:
        self.inflight = inflight
        self.grace = grace
        self.on_stop = on_stop
        self.signals = tuple(signals)
        self.reason: str | None = None
        """What started the shutdown (`SIGTERM`, ...); None while running."""
        self.abandoned = 0
        """Turns still running when the grace period ran out."""
        self._hurry = asyncio.Event()
        self._done = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._installed: list[signal.Signals] = []
        self._loop: asyncio.AbstractEventLoop | None = None

    # ------------------------------------------------------------------ signals

    def install(self) -> None:
        loop = asyncio.get_running_loop()
        self._loop = loop
        for sig in self.signals:
            loop.add_signal_handler(sig, self.request, sig.name)
            self._installed.append(sig)

    def uninstall(self) -> None:
        if self._loop is not None:
            for sig in self._installed:
                self._loop.remove_signal_handler(sig)
        self._installed.clear()

    async def __aenter__(self) -> GracefulShutdown:
        self.install()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.uninstall()
        if self._task is not None and not self._task.done():
            self._hurry.set()
            await self._task

    # ------------------------------------------------------------------ stopping

    @property
    def requested(self) -> bool:
        return self.reason is not None

    def request(self, reason: str = "requested") -> None:
        """Begin the shutdown (what a signal does); a second request stops the waiting."""
        if self.reason is not None:
            log.warning("%s again: not waiting for running turns any longer", reason)
            self._hurry.set()
            return
        self.reason = reason
        self.inflight.stop_accepting()
        self._task = asyncio.get_running_loop().create_task(self._stop())

    async def wait(self) -> None:
        """Until the shutdown has finished (running turns done or abandoned, on_stop called)."""
        await self._done.wait()

    async def _stop(self) -> None:
        running = self.inflight.count
        log.info(
            "%s: no new turns; waiting up to %g s for %d running turn(s)",
            self.reason,
            self.grace,
            running,
        )
        idle = asyncio.ensure_future(self.inflight.wait_idle())
        hurry = asyncio.ensure_future(self._hurry.wait())
        try:
            await asyncio.wait({idle, hurry}, timeout=self.grace, return_when="FIRST_COMPLETED")
        finally:
            idle.cancel()
            hurry.cancel()
        self.abandoned = self.inflight.count
        if self.abandoned:
            log.warning(
                "closing with %d turn(s) unfinished; their sessions resume those turns",
                self.abandoned,
            )
        else:
            log.info("every running turn finished; closing")
        try:
            if self.on_stop is not None:
                await self.on_stop()
        finally:
            self._done.set()
