"""The end of an encounter: XP, items, Foundry pushes, the summary, the tally, NPC memory.

The XP awarder lives here and only here: who earns what (`_earned`), then paying it once
(`_pay`: the store's award ledger, idempotent by encounter id, then the character registry),
then pushing it with the items to Foundry when a relay is configured. A resolve retried after
a crash (the process died after paying, before the session was saved) finds the ledger
entries and pays nobody twice: those players are reported "already awarded".
"""

from __future__ import annotations

import logging
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mardonar.engine.session import PENDING_HINT, Session, Status, VttGrant
from mardonar.files import atomic_write_text, bump_tally, summary_path
from mardonar.memory.base import NewMemory, remember_all
from mardonar.wording import plural

if TYPE_CHECKING:
    from mardonar.content.bundle import Bundle
    from mardonar.content.models import Outcome
    from mardonar.memory.base import Memory
    from mardonar.store.base import SessionStore
    from mardonar.vtt.base import ItemRelay

log = logging.getLogger(__name__)

NOT_TAKING_PART = "never took part"
NOT_REGISTERED = "no registered character"
ALREADY_AWARDED = "already awarded for this encounter"
UNRESOLVED = "the encounter ended unresolved"

REGISTRY_ENCOUNTERS_KEPT = 100
"""How many encounter ids a registry entry remembers as paid (its `xp_encounters`)."""


@dataclass(frozen=True)
class Resolution:
    outcome: str | None
    result: str | None
    xp: dict[str, int]
    """XP paid by this resolution, per player."""
    skipped: dict[str, str]
    """Players who got no XP, and why."""
    items: dict[str, list[str]]
    summary_path: Path
    vtt: list[VttGrant] = field(default_factory=list)
    """This resolution's pushes to Foundry (empty without a relay)."""


def _item_recipient(session: Session, leader: str | None, earned: dict[str, int]) -> str | None:
    """Who gets the outcome's items: the player whose roll led to it, else the first
    participant; only a player who is paid (and so gets a ledger row) can hold one."""
    eligible = [player for player in session.participants if player in earned]
    if leader in eligible:
        return leader
    return eligible[0] if eligible else None


async def finish(
    bundle: Bundle,
    session: Session,
    *,
    data_dir: Path,
    memory: Memory,
    store: SessionStore,
    outcome_id: str | None,
    narrative: str,
    reason: str,
    turn: int,
    relay: ItemRelay | None = None,
) -> Resolution:
    """Close the session: award, grant, push, write the summary, bump the tally, log.

    `outcome_id` None means the encounter ended unresolved (max turns, or /end): no XP,
    no items (not those granted in play either), but a summary and a tally count all the
    same. The summary's XP and items are exactly what the award ledger records. With a
    `relay`, the items and XP paid are pushed to the characters' actors in Foundry; what
    cannot be pushed stays in `session.vtt_grants`, pending, for `mardonar vtt retry`.
    """
    spec = bundle.spec
    outcome = spec.outcome(outcome_id) if outcome_id else None
    earned: dict[str, int] = {}
    skipped: dict[str, str] = {}
    items: dict[str, list[str]] = {}
    registry: dict[str, dict[str, Any]] = {}
    if outcome is not None:
        earned, skipped, registry = await _earned(bundle, session, store, outcome)
        # The outcome's items go to whoever made the roll that led to it, else the first
        # participant; items the GM already granted by hand are not granted twice.
        leader = next(
            (
                roll.player
                for roll in reversed(session.checks_rolled)
                if roll.check
                and (check := spec.check(roll.check)) is not None
                and (check.leads_to if roll.success else check.failure_leads_to) == outcome.id
            ),
            None,
        )
        recipient = _item_recipient(session, leader, earned)
        for item_id in outcome.items:
            if item_id in session.items_granted or recipient is None:
                continue
            session.items_granted[item_id] = recipient
        # What the summary lists is what the ledger records: the items of paid players.
        # Unresolved, nobody is paid, so nothing granted in play is kept either.
        for item_id, player in session.items_granted.items():
            if player not in skipped:
                items.setdefault(player, []).append(item_id)
        session.status = Status.resolved
        session.outcome = outcome.id
    else:
        for character in bundle.party.characters:
            skipped[character.player] = UNRESOLVED
        session.status = Status.ended
    session.xp_awarded = dict(earned)

    xp: dict[str, int] = {}
    pushed: list[VttGrant] = []
    if outcome is not None:
        xp, paid = await _pay(bundle, session, store, earned, items, registry, skipped)
        if relay is not None:
            pushed = await _push(bundle, session, relay, paid, xp, items, registry)

    path = summary_path(data_dir, session.id)
    registered = {
        player: str(record["name"]) for player, record in registry.items() if record.get("name")
    }
    text = render_summary(
        bundle, session, turn, outcome_id, narrative, reason, xp, skipped, items, pushed, registered
    )
    # A summary already on disk means this encounter was counted before: the process died
    # after finishing it but before the session save, and resume is finishing it again.
    counted = path.exists()
    atomic_write_text(path, text)
    session.summary_path = str(path)
    if not counted:
        bump_tally(data_dir, spec.id)
    entry = f"Encounter {session.id}: " + (
        f"ended with '{outcome.id}' ({outcome.result.value}). {narrative}"
        if outcome
        else f"ended unresolved ({reason})."
    )
    await remember_all(
        memory,
        (
            NewMemory(
                scope=spec.id,
                session_id=session.id,
                npc=npc.id,
                fact=entry[:500],
                kind="encounter-log",
                turn=turn,
            )
            for npc in spec.npcs
        ),
    )
    return Resolution(
        outcome=outcome.id if outcome else None,
        result=outcome.result.value if outcome else None,
        xp=xp,
        skipped=skipped,
        items=items,
        summary_path=path,
        vtt=pushed,
    )


# ---------------------------------------------------------------------- the XP awarder


def _character_name(bundle: Bundle, registry: dict[str, dict[str, Any]], player: str) -> str:
    character = bundle.party.by_player(player)
    if character is not None:
        return character.name
    return str(registry.get(player, {}).get("name") or player)


async def _earned(
    bundle: Bundle, session: Session, store: SessionStore, outcome: Outcome
) -> tuple[dict[str, int], dict[str, str], dict[str, dict[str, Any]]]:
    """Who earns what: each participant with a character (in the party, or registered in
    the store) gets the outcome's XP plus their bonus; the others get a reason.

    Returns (XP per player, skip reasons, the registry entries read)."""
    earned: dict[str, int] = {}
    skipped: dict[str, str] = {}
    registry: dict[str, dict[str, Any]] = {}
    for player in session.participants:
        record = await store.get_character(player)
        if record is not None:
            registry[player] = record
    party = [character.player for character in bundle.party.characters]
    outsiders = [player for player in session.participants if player not in party]
    for player in [*party, *outsiders]:  # the summary lists the party first, in its order
        if player not in session.participants:
            skipped[player] = NOT_TAKING_PART
        elif player not in party and player not in registry:
            skipped[player] = NOT_REGISTERED
        else:
            earned[player] = outcome.xp + session.xp_bonus.get(player, 0)
    return earned, skipped, registry


async def _pay(
    bundle: Bundle,
    session: Session,
    store: SessionStore,
    earned: dict[str, int],
    items: dict[str, list[str]],
    registry: dict[str, dict[str, Any]],
    skipped: dict[str, str],
) -> tuple[dict[str, int], list[str]]:
    """Record each award once (the ledger decides), then add the XP to the registry.

    Returns (XP paid now, players paid now); players the ledger already holds for this
    encounter are added to `skipped`."""
    xp: dict[str, int] = {}
    paid: list[str] = []
    for player in dict.fromkeys([*earned, *items]):
        if player in skipped:
            continue
        amount = earned.get(player, 0)
        if not await store.record_award(session.id, player, xp=amount, items=items.get(player, [])):
            skipped[player] = ALREADY_AWARDED
            continue
        paid.append(player)
        if player in earned:
            xp[player] = amount
        registry[player] = await _register(
            bundle, store, registry.get(player), player, session.id, amount
        )
    return xp, paid


async def _register(
    bundle: Bundle,
    store: SessionStore,
    record: dict[str, Any] | None,
    player: str,
    encounter_id: str,
    amount: int,
) -> dict[str, Any]:
    """Add the XP to the player's registry entry (created from the party if there is none).

    Idempotent by encounter id on its own (`xp_encounters`), so a crash between the ledger
    and this write, retried, still counts the XP once."""
    if record is None:
        character = bundle.party.by_player(player)
        record = (
            {"name": character.name, "class": character.class_, "level": character.level}
            if character is not None
            else {"name": player}
        )
    seen = [str(e) for e in record.get("xp_encounters", []) if isinstance(e, str)]
    if encounter_id in seen:
        return record
    record = {
        **record,
        "xp": int(record.get("xp", 0) or 0) + amount,
        "xp_encounters": [*seen, encounter_id][-REGISTRY_ENCOUNTERS_KEPT:],
    }
    await store.set_character(player, record)
    return record


async def _push(
    bundle: Bundle,
    session: Session,
    relay: ItemRelay,
    paid: list[str],
    xp: dict[str, int],
    items: dict[str, list[str]],
    registry: dict[str, dict[str, Any]],
) -> list[VttGrant]:
    """Push what was paid now to Foundry; what fails stays pending in the session."""
    from mardonar.engine.grants import push_grants

    grants: list[VttGrant] = []
    for player in paid:
        name = _character_name(bundle, registry, player)
        actor = registry.get(player, {}).get("foundry_actor")
        base = {
            "player": player,
            "character": name,
            "actor": actor if isinstance(actor, str) else None,
        }
        for item_id in items.get(player, []):
            item = bundle.spec.item(item_id)
            grants.append(
                VttGrant(
                    kind="item",
                    item=item_id,
                    item_name=item.name if item else item_id,
                    foundry=item.foundry if item else None,
                    **base,
                )
            )
        if xp.get(player, 0) > 0:
            grants.append(VttGrant(kind="xp", xp=xp[player], **base))
    # Recorded before the first request: whatever happens next, nothing is lost.
    session.vtt_grants.extend(grants)
    try:
        await push_grants(relay, grants)
    except Exception as error:  # a relay bug must never take the resolution down
        log.warning("Foundry relay push failed: %s", type(error).__name__, exc_info=True)
        for grant in grants:
            if not grant.done:
                grant.detail = f"the relay client failed ({type(error).__name__})"
    return grants


# ---------------------------------------------------------------------- the summary


def render_summary(
    bundle: Bundle,
    session: Session,
    turn: int,
    outcome_id: str | None,
    narrative: str,
    reason: str,
    xp: dict[str, int],
    skipped: dict[str, str],
    items: dict[str, list[str]],
    pushed: list[VttGrant] | None = None,
    registered: dict[str, str] | None = None,
) -> str:
    """The summary file's text; `registered` names the characters of players who are in
    the registry but not in the party."""
    spec = bundle.spec
    names = {**(registered or {}), **{c.player: c.name for c in bundle.party.characters}}

    def who(player: str) -> str:
        return names.get(player, player)

    outcome = spec.outcome(outcome_id) if outcome_id else None
    lines = [f"{spec.title} ({spec.id})", "=" * len(f"{spec.title} ({spec.id})"), ""]
    lines.append(f"Encounter {session.id}, started {session.started_at}, seed {session.seed}.")
    if outcome is not None:
        lines.append(
            f"Outcome: {outcome.id} ({outcome.result.value}) after {plural(turn, 'turn')} — "
            f"{outcome.when}"
        )
    else:
        lines.append(f"Ended unresolved after {plural(turn, 'turn')} ({reason}).")
    if narrative:
        lines += ["", *textwrap.wrap(narrative, 88)]
    party = ", ".join(who(p) for p in session.participants) or "nobody"
    lines += ["", f"Who took part: {party}."]
    if session.checks_rolled:
        lines += ["", "Rolls:"]
        for roll in session.checks_rolled:
            lines.append(
                f"  turn {roll.turn}: {who(roll.player)}, {roll.label} ({roll.skill}) "
                f"{roll.natural}{roll.modifier:+d} = {roll.total} vs DC {roll.dc}: {roll.verdict}"
            )
    lines += ["", "XP:"]
    for player, amount in xp.items():
        bonus = session.xp_bonus.get(player, 0)
        extra = f" (including {bonus} bonus)" if bonus else ""
        lines.append(f"  {who(player)}: {amount}{extra}")
    for player, why in skipped.items():
        lines.append(f"  {who(player)}: none — {why}")
    if items:
        lines += ["", "Items:"]
        for player, granted in items.items():
            for item_id in granted:
                item = spec.item(item_id)
                lines.append(f"  {who(player)}: {item.name if item else item_id}")
    if pushed:
        lines += ["", "Foundry VTT:"]
        lines += [f"  {grant.report()}" for grant in pushed]
        waiting = sum(not grant.done for grant in pushed)
        if waiting:
            lines.append(f"  {waiting} grant(s) pending: {PENDING_HINT}.")
    return "\n".join(lines) + "\n"
