"""Which Discord thread plays which session, kept in the store so a restart carries on.

The store's Protocol has sessions and a character registry, nothing else; a link is kept as
a small record among the sessions under its own spec id (`_discord_thread`, which no spec can
have: spec ids are slugs), so it lives in Redis when Redis is configured and in SQLite
otherwise, with no new store method. Engine resume (`latest_session(spec_id)`) never sees
these records. Each turn touches the link, so under Redis it lives exactly as long as the
session it points to (MARDONAR_SESSION_TTL, sliding).
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from mardonar.store.base import TurnConflict

if TYPE_CHECKING:
    from mardonar.store.base import SessionStore, StoredSession

LINK_SPEC = "_discord_thread"
OPEN = "active"
CLOSED = "closed"


@dataclass(frozen=True)
class ThreadLink:
    thread_id: int
    parent_id: int
    """The channel the thread was created in (allow-lists count a thread as its parent)."""
    guild_id: int | None
    session_id: str
    spec_id: str


def _key(thread_id: int) -> str:
    return f"discord-thread:{thread_id}"


def _link(stored: StoredSession) -> ThreadLink:
    return ThreadLink(**json.loads(stored.data))


class ThreadLinks:
    def __init__(self, store: SessionStore) -> None:
        self.store = store

    async def create(self, link: ThreadLink) -> None:
        await self.store.save_session(
            _key(link.thread_id),
            spec_id=LINK_SPEC,
            status=OPEN,
            turn=0,
            data=json.dumps(asdict(link)),
            expected_turn=None,
        )

    async def get(self, thread_id: int) -> tuple[ThreadLink, bool] | None:
        """The link of `thread_id` and whether its encounter is still open, or None."""
        stored = await self.store.load_session(_key(thread_id))
        if stored is None or stored.spec_id != LINK_SPEC:
            return None
        return _link(stored), stored.status == OPEN

    async def _rewrite(self, thread_id: int, status: str) -> None:
        # The stored turn is only a write counter here: compare-and-set on it, and a
        # concurrent touch from another process simply wins.
        stored = await self.store.load_session(_key(thread_id))
        if stored is None:
            return
        with contextlib.suppress(TurnConflict):
            await self.store.save_session(
                stored.id,
                spec_id=LINK_SPEC,
                status=status,
                turn=stored.turn + 1,
                data=stored.data,
                expected_turn=stored.turn,
            )

    async def touch(self, thread_id: int) -> None:
        await self._rewrite(thread_id, OPEN)

    async def close(self, thread_id: int) -> None:
        await self._rewrite(thread_id, CLOSED)

    async def open_links(self) -> list[ThreadLink]:
        return [
            _link(stored)
            for stored in await self.store.list_sessions(LINK_SPEC)
            if stored.status == OPEN
        ]
