"""`mardonar vtt retry`: push the grants still pending in stored sessions.

Each session with pending grants is updated under its turn lock, re-read from the store
first, and saved as a compare-and-set on its turn, so a retry never overwrites a turn that
another process is playing (that session is reported busy and stays pending).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pydantic import ValidationError

from mardonar.engine.session import Session
from mardonar.store.base import TurnBusy, TurnConflict
from mardonar.vtt.push import push_grants

if TYPE_CHECKING:
    from mardonar.store.base import SessionStore
    from mardonar.vtt.base import ItemRelay

__all__ = ["RetryReport", "retry_pending"]


@dataclass
class RetryReport:
    lines: list[str] = field(default_factory=list)
    """One line per grant tried (✓ or ✗ with the reason), or per session skipped."""
    pushed: int = 0
    pending: int = 0
    """Grants still pending after this run (tried and failed, or not reachable)."""


async def retry_pending(
    store: SessionStore, relay: ItemRelay, *, spec_id: str | None = None
) -> RetryReport:
    report = RetryReport()
    for stored in await store.list_sessions(spec_id):
        try:
            session = Session.model_validate_json(stored.data)
        except ValidationError:
            continue  # not a session this version can read; it has nothing for us either
        waiting = len(session.vtt_pending)
        if not waiting:
            continue
        try:
            async with store.turn_lock(stored.id):
                await _retry_one(store, relay, stored.id, report)
        except (TurnBusy, TurnConflict):
            report.pending += waiting
            report.lines.append(
                f"✗ {stored.id}: {waiting} grant(s) left pending: a turn of this session is "
                "being played; run the retry again in a moment"
            )
    return report


async def _retry_one(
    store: SessionStore, relay: ItemRelay, session_id: str, report: RetryReport
) -> None:
    stored = await store.load_session(session_id)  # fresh, under the lock
    if stored is None:
        return
    session = Session.model_validate_json(stored.data)
    tried = await push_grants(relay, session.vtt_grants)
    if not tried:
        return
    await store.save_session(
        session.id,
        spec_id=stored.spec_id,
        status=stored.status,
        turn=stored.turn,
        data=session.model_dump_json(),
        expected_turn=stored.turn,
    )
    for grant in tried:
        if grant.done:
            report.pushed += 1
            report.lines.append(f"✓ {session.id}: {grant.character} ← {grant.label()}")
        else:
            report.pending += 1
            report.lines.append(
                f"✗ {session.id}: {grant.character} ← {grant.label()}: {grant.detail}"
            )
