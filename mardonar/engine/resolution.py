"""The end of an encounter: XP, items, the summary file, the tally and NPC memory."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mardonar.engine.session import Session, Status
from mardonar.files import atomic_write_text, bump_tally, summary_path

if TYPE_CHECKING:
    from mardonar.content.bundle import Bundle
    from mardonar.memory.base import Memory
    from mardonar.store.base import SessionStore


@dataclass(frozen=True)
class Resolution:
    outcome: str | None
    result: str | None
    xp: dict[str, int]
    skipped: dict[str, str]
    items: dict[str, list[str]]
    summary_path: Path


def _item_recipient(session: Session, outcome_check_player: str | None) -> str | None:
    if outcome_check_player and outcome_check_player in session.participants:
        return outcome_check_player
    return session.participants[0] if session.participants else None


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
) -> Resolution:
    """Close the session: award, grant, write the summary, bump the tally, log to memory.

    `outcome_id` None means the encounter ended unresolved (max turns, or /end): no XP,
    no items, but a summary and a tally count all the same.
    """
    spec = bundle.spec
    outcome = spec.outcome(outcome_id) if outcome_id else None
    xp: dict[str, int] = {}
    skipped: dict[str, str] = {}
    items: dict[str, list[str]] = {}
    party_players = [c.player for c in bundle.party.characters]
    if outcome is not None:
        for character in bundle.party.characters:
            if character.player not in session.participants:
                skipped[character.player] = "never took part"
                continue
            xp[character.player] = outcome.xp + session.xp_bonus.get(character.player, 0)
        for player in session.participants:
            if player not in party_players:
                skipped[player] = "not in the party"
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
        recipient = _item_recipient(session, leader)
        for item_id in outcome.items:
            if item_id in session.items_granted or recipient is None:
                continue
            session.items_granted[item_id] = recipient
        session.status = Status.resolved
        session.outcome = outcome.id
    else:
        for character in bundle.party.characters:
            skipped[character.player] = "the encounter ended unresolved"
        session.status = Status.ended
    for item_id, player in session.items_granted.items():
        items.setdefault(player, []).append(item_id)
    session.xp_awarded = dict(xp)

    path = summary_path(data_dir, session.id)
    text = render_summary(bundle, session, turn, outcome_id, narrative, reason, xp, skipped, items)
    # A summary already on disk means this encounter was counted before: the process died
    # after finishing it but before the session save, and resume is finishing it again.
    counted = path.exists()
    atomic_write_text(path, text)
    session.summary_path = str(path)
    if not counted:
        bump_tally(data_dir, spec.id)
    for player, amount in xp.items():
        await store.record_award(session.id, player, xp=amount, items=items.get(player, []))
    log = f"Encounter {session.id}: " + (
        f"ended with '{outcome.id}' ({outcome.result.value}). {narrative}"
        if outcome
        else f"ended unresolved ({reason})."
    )
    for npc in spec.npcs:
        await memory.remember(
            scope=spec.id,
            session_id=session.id,
            npc=npc.id,
            fact=log[:500],
            kind="encounter-log",
            turn=turn,
        )
    return Resolution(
        outcome=outcome.id if outcome else None,
        result=outcome.result.value if outcome else None,
        xp=xp,
        skipped=skipped,
        items=items,
        summary_path=path,
    )


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
) -> str:
    spec = bundle.spec
    names = {c.player: c.name for c in bundle.party.characters}

    def who(player: str) -> str:
        return names.get(player, player)

    outcome = spec.outcome(outcome_id) if outcome_id else None
    lines = [f"{spec.title} ({spec.id})", "=" * len(f"{spec.title} ({spec.id})"), ""]
    lines.append(f"Encounter {session.id}, started {session.started_at}, seed {session.seed}.")
    if outcome is not None:
        lines.append(
            f"Outcome: {outcome.id} ({outcome.result.value}) after {turn} turns — {outcome.when}"
        )
    else:
        lines.append(f"Ended unresolved after {turn} turns ({reason}).")
    if narrative:
        lines += ["", *textwrap.wrap(narrative, 88)]
    party = ", ".join(who(p) for p in session.participants) or "nobody"
    lines += ["", f"Who took part: {party}."]
    if session.checks_rolled:
        lines += ["", "Rolls:"]
        for roll in session.checks_rolled:
            verdict = "success" if roll.success else "failure"
            label = roll.check or f"improvised {roll.skill}"
            lines.append(
                f"  turn {roll.turn}: {who(roll.player)}, {label} ({roll.skill}) "
                f"{roll.natural}{roll.modifier:+d} = {roll.total} vs DC {roll.dc}: {verdict}"
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
    return "\n".join(lines) + "\n"
