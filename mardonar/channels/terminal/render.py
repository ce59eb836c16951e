"""How engine events and a session's standing read as terminal text, for both front ends.

The plain REPL prints these blocks as they are; the TUI's story pane shows them for every
event it has no style of its own for, and `/status` in both. Text is made terminal-safe
here (safetext), where it is measured for wrapping.
"""

from __future__ import annotations

import textwrap
from typing import TYPE_CHECKING

from mardonar.engine.events import (
    Correction,
    Ended,
    EngineError,
    Event,
    Narration,
    Notice,
    Resolved,
    Rolled,
    ToolResult,
)
from mardonar.engine.session import grant_lines
from mardonar.safetext import safe

if TYPE_CHECKING:
    from mardonar.content.bundle import Bundle
    from mardonar.engine.session import Session


def wrap(text: str, width: int = 88) -> str:
    # Measured as it will be shown: an escape sequence takes no column on screen.
    paragraphs = safe(text).split("\n")
    return "\n".join(textwrap.fill(p, width) if p.strip() else "" for p in paragraphs)


def render(event: Event, bundle: Bundle) -> str | None:
    """How an event reads in the plain terminal (None: not shown)."""
    names = {c.player: c.name for c in bundle.party.characters}
    if isinstance(event, Narration):
        return wrap(event.text) + "\n"
    if isinstance(event, Rolled):
        return event.line()
    if isinstance(event, ToolResult) and not event.ok:
        return f"  ⚠ refused {event.name}: {event.error}"
    if isinstance(event, Correction):
        return f"  (reply corrected: {event.reason})"
    if isinstance(event, EngineError):
        return f"  ! {event.message}"
    if isinstance(event, Notice):
        return f"  · {event.text}"
    if isinstance(event, Resolved):
        lines = [f"★ Outcome: {event.outcome} ({event.result})"]
        if event.summary:
            lines.append(wrap(event.summary))
        for player, amount in event.xp.items():
            lines.append(f"  {names.get(player, player)}: +{amount} XP")
        for player, why in event.skipped.items():
            lines.append(f"  {names.get(player, player)}: no XP ({why})")
        for player, items in event.items.items():
            for item_id in items:
                item = bundle.spec.item(item_id)
                lines.append(
                    f"  {names.get(player, player)} receives {item.name if item else item_id}"
                )
        lines += [f"  {line}" for line in grant_lines(event.vtt)]
        return "\n".join(lines)
    if isinstance(event, Ended):
        why = {
            "resolved": "The encounter is resolved.",
            "max_turns": "The encounter ends unresolved: the turn limit was reached.",
            "ended_by_player": "The encounter was ended unresolved.",
        }.get(event.reason, f"The encounter ended ({event.reason}).")
        where = f" Summary: {event.summary_path}" if event.summary_path else ""
        return f"{why}{where}"
    return None


def status_text(bundle: Bundle, session: Session) -> str:
    names = {c.player: c.name for c in bundle.party.characters}
    spec = bundle.spec
    lines = [
        f"{spec.title} — turn {session.turn} of {spec.limits.max_turns}, {session.status.value}",
        "Taking part: "
        + (", ".join(names.get(p, p) for p in session.participants) or "nobody yet"),
    ]
    for roll in session.checks_rolled:
        lines.append(
            f"  {names.get(roll.player, roll.player)}: {roll.label} "
            f"{roll.total} vs DC {roll.dc}, {roll.verdict}"
        )
    for player, amount in session.xp_bonus.items():
        lines.append(f"  bonus XP {names.get(player, player)}: {amount}/{spec.limits.bonus_xp}")
    for item, player in session.items_granted.items():
        lines.append(f"  item {item} → {names.get(player, player)}")
    return "\n".join(lines)
