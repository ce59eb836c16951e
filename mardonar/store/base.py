"""What the engine needs from a store: sessions, the character registry and XP awards.

One Protocol, one file per backend (`sqlite.py` embedded by default, Redis in production).
The methods are async because the Redis backend talks to `redis.asyncio`; the SQLite backend
simply runs its (sub-millisecond) statements inline. The same test suite
(`tests/test_store.py`) runs against every backend, so the docstrings below are the contract.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Protocol, Self, runtime_checkable

from mardonar.errors import UserError

__all__ = [
    "NotingTurnLock",
    "SessionStore",
    "StoreUnavailable",
    "StoredSession",
    "TurnBusy",
    "TurnConflict",
]


@dataclass(frozen=True)
class StoredSession:
    """One session as stored: a few indexed fields plus the engine's own JSON."""

    id: str
    spec_id: str
    status: str
    """`active`, `resolved` or `ended` (the store does not interpret it beyond filtering)."""
    turn: int
    """The turn number; saves compare-and-set on it (see `SessionStore.save_session`)."""
    data: str
    """The session JSON, opaque to the store."""
    updated_at: str
    """When it was last saved, ISO-8601 in UTC."""


class TurnConflict(Exception):
    """Someone else already wrote this turn (or created this session): nothing was changed.

    The engine reloads the session and re-runs or drops its turn; it never overwrites.
    """


class TurnBusy(Exception):
    """Another turn of this session is being played (here or in another process) and did not
    finish within the wait: nothing was changed; the player may send the line again."""


class StoreUnavailable(UserError):
    """The store cannot be reached (Redis down, a timeout): nothing was written.

    The message is one line naming the setting (e.g. REDIS_URL) and what to do; the process
    keeps running and the next call tries again. It is a `UserError` (an unreachable server
    is the operator's to fix), so at start-up the CLI prints that line rather than a trace.
    """


@runtime_checkable
class SessionStore(Protocol):
    """Sessions, the player/character registry and the XP award ledger."""

    async def load_session(self, session_id: str) -> StoredSession | None:
        """The stored session, or None if there is none with this id."""
        ...

    async def save_session(
        self,
        session_id: str,
        *,
        spec_id: str,
        status: str,
        turn: int,
        data: str,
        expected_turn: int | None,
    ) -> None:
        """Write a session atomically, as a compare-and-set on its turn number.

        `expected_turn=None` creates the session and raises `TurnConflict` if it already
        exists. Otherwise the write happens only if the stored turn equals `expected_turn`;
        if it does not (or the session does not exist) `TurnConflict` is raised and nothing
        changes. Writers should advance `turn` on every save they want protected: two writers
        that both save turn 5 over turn 5 cannot tell each other apart.
        """
        ...

    async def latest_session(
        self, spec_id: str, *, status: str | None = "active"
    ) -> StoredSession | None:
        """The most recently saved session of `spec_id` (with `status`, unless None).

        This is what `mardonar play --resume` continues. "Most recently" is the order of the
        saves themselves, not of clock readings that may tie.
        """
        ...

    async def list_sessions(self, spec_id: str | None = None) -> list[StoredSession]:
        """Every session (of `spec_id`, unless None), most recently saved first."""
        ...

    def turn_lock(
        self, session_id: str, *, on_wait: Callable[[str], None] | None = None
    ) -> AbstractAsyncContextManager[None]:
        """Held while one turn of `session_id` is played, so turns never interleave.

        `async with store.turn_lock(sid):` waits for a turn already running on this session
        (in this process, or — for a shared backend such as Redis — in any process) and raises
        `TurnBusy` if it does not end in time (MARDONAR_TURN_LOCK_TIMEOUT). A holder that is
        still working keeps the lock; one that is provably gone loses it at once, any other
        within a short lease. `on_wait(line)`, if given, is called before the lock waits (and
        when it takes over a dead holder's lock) with one line saying why and for how long;
        `NotingTurnLock` turns those lines into something a turn can show. After taking the
        lock the engine reloads the session and compares turn numbers, so a turn another
        process already applied is never applied twice.
        """
        ...

    async def get_character(self, player_id: str) -> dict[str, Any] | None:
        """The character registered for a player, or None (a fresh copy: mutate freely)."""
        ...

    async def set_character(self, player_id: str, character: dict[str, Any]) -> None:
        """Register (or replace) a player's character; it must be JSON-serializable."""
        ...

    async def list_characters(self) -> dict[str, dict[str, Any]]:
        """Every registered character, by player id."""
        ...

    async def record_award(
        self, encounter_id: str, player_id: str, *, xp: int, items: list[str]
    ) -> bool:
        """Record what a player earned in an encounter, once.

        Idempotent by `(encounter_id, player_id)`: returns True if this call recorded it,
        False if an award was already there (which is then left untouched). This is what
        keeps a resolve that is retried after a crash from paying out twice.
        """
        ...

    async def awards(self, encounter_id: str) -> dict[str, dict[str, Any]]:
        """The awards of an encounter: `{player_id: {"xp": int, "items": [str, ...]}}`."""
        ...

    async def check(self) -> str:
        """Whether the store answers now, for `/readyz`: what answered ("Redis 7.2.4 at
        redis://…", "SQLite 3.45.1 at …/mardonar.db"), or `StoreUnavailable` (a closed
        store raises too). It reads and writes nothing a session could see."""
        ...

    async def close(self) -> None:
        """Release connections; calling it twice is harmless."""
        ...


class NotingTurnLock:
    """`store.turn_lock(session_id)` whose waiting can be shown while it waits.

        async with NotingTurnLock(store, sid) as lock:
            async for line in lock.waiting():
                ...  # e.g. yield a Notice: the player sees why nothing happens yet
            ...      # the lock is held here

    An async generator (the engine's turn) cannot yield while it awaits a lock, so the lock
    is taken in a task and its `on_wait` lines are handed over as they come. Leaving the
    block, however early, cancels a wait still under way and releases a lock taken.
    """

    def __init__(self, store: SessionStore, session_id: str) -> None:
        self._lock = store.turn_lock(session_id, on_wait=self._heard)
        self._lines: asyncio.Queue[str] = asyncio.Queue()
        self._entering: asyncio.Task[None] | None = None
        self._entered = False

    def _heard(self, line: str) -> None:
        self._lines.put_nowait(line)

    async def _enter(self) -> None:
        await self._lock.__aenter__()
        self._entered = True

    async def __aenter__(self) -> Self:
        self._entering = asyncio.ensure_future(self._enter())
        return self

    async def waiting(self) -> AsyncIterator[str]:
        """The store's lines while it waits; returns once the lock is held (raises what
        taking it raised: `TurnBusy`, `StoreUnavailable`)."""
        assert self._entering is not None, "use it in `async with`"
        while not self._entering.done():
            heard = asyncio.ensure_future(self._lines.get())
            try:
                await asyncio.wait({self._entering, heard}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                if not heard.done():
                    heard.cancel()
            if heard.done() and not heard.cancelled():
                yield heard.result()
        while not self._lines.empty():
            yield self._lines.get_nowait()
        self._entering.result()

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        entering = self._entering
        if entering is not None and not entering.done():
            entering.cancel()
        if entering is not None:
            with contextlib.suppress(BaseException):
                await entering  # its failure, if any, was raised by waiting() already
        if self._entered:
            await self._lock.__aexit__(kind, error, traceback)
