"""Foundry VTT grants: delivering them through a relay, at resolution and by `vtt retry`.

Which grant goes where, when it counts as done and when to try again is engine logic (it
reads and saves sessions under their turn lock); vtt/ holds only the relay backends that
carry a grant out (`ItemRelay`).

Grants are updated in place (done, detail, attempts, the actor's uuid once found), so the
caller only has to save the session they belong to. Lookups are cached for the batch: five
grants to one character search for its actor once. When the relay is down, the rest of the
batch is not tried (each would cost a timeout) and stays pending with the same reason.

`mardonar vtt retry` (`retry_pending`) updates each session with pending grants under its
turn lock, re-read from the store first, and saves it as a compare-and-set on its turn, so a
retry never overwrites a turn that another process is playing (that session is reported busy
and stays pending).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pydantic import ValidationError

from mardonar.engine.session import Session, VttGrant
from mardonar.store.base import TurnBusy, TurnConflict

if TYPE_CHECKING:
    from mardonar.store.base import SessionStore
    from mardonar.vtt.base import ItemRelay, RelayResult

__all__ = ["RetryReport", "push_grants", "retry_pending"]


async def push_grants(relay: ItemRelay, grants: Iterable[VttGrant]) -> list[VttGrant]:
    """Try every grant not yet done; returns those tried (in order)."""
    actors: dict[str, RelayResult] = {}
    items: dict[tuple[str | None, str], RelayResult] = {}
    down: RelayResult | None = None
    tried: list[VttGrant] = []
    for grant in grants:
        if grant.done:
            continue
        tried.append(grant)
        grant.attempts += 1
        if down is not None:
            grant.detail = down.reason
            continue
        result = await _push(relay, grant, actors, items)
        if result.ok:
            grant.done = True
            grant.detail = "granted" if grant.kind == "item" else "added"
        else:
            grant.detail = result.reason
            if result.relay_down:
                down = result
    return tried


async def _push(
    relay: ItemRelay,
    grant: VttGrant,
    actors: dict[str, RelayResult],
    items: dict[tuple[str | None, str], RelayResult],
) -> RelayResult:
    if grant.actor is None:
        if grant.character not in actors:
            actors[grant.character] = await relay.find_actor(grant.character)
        actor = actors[grant.character]
        if not actor.ok:
            return actor
        grant.actor = actor.uuid
    if grant.kind == "xp":
        return await relay.add_xp(grant.actor, grant.xp)
    key = (grant.foundry, grant.item_name or grant.item or "")
    if key not in items:
        items[key] = await relay.find_item(uuid=grant.foundry, name=key[1])
    item = items[key]
    if not item.ok:
        return item
    return await relay.give_item(grant.actor, item.uuid)


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
