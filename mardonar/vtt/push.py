"""Delivering grants through a relay: the one routine behind resolution and `vtt retry`.

Grants are updated in place (done, detail, attempts, the actor's uuid once found), so the
caller only has to save the session they belong to. Lookups are cached for the batch: five
grants to one character search for its actor once. When the relay is down, the rest of the
batch is not tried (each would cost a timeout) and stays pending with the same reason.
"""

from __future__ import annotations

from collections.abc import Iterable

from mardonar.engine.session import VttGrant
from mardonar.vtt.base import ItemRelay, RelayResult

__all__ = ["push_grants"]


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
