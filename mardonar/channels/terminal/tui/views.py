"""What the panels show, read from the bundle and the session: plain data, no Textual.

The engine owns the session; these functions only read it (after an event, or when a turn
is done) and shape it for display, so widgets stay free of engine types and logic.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mardonar.engine.events import Event, Narration, Notice, PlayerSaid
from mardonar.engine.session import grant_lines

if TYPE_CHECKING:
    from mardonar.channels.terminal.playtest import Playtest
    from mardonar.content.bundle import Bundle
    from mardonar.content.lint.findings import Finding
    from mardonar.engine.events import Ended, Resolved
    from mardonar.engine.session import Session

SPEAKER_COLOURS = 6
"""Distinct speaker colours in app.tcss (`story--speaker-0` … `-5`); a bigger party reuses
them in order."""


def speaker_colours(bundle: Bundle) -> dict[str, int]:
    """Player id and character name → colour index, in party order."""
    colours: dict[str, int] = {}
    for index, character in enumerate(bundle.party.characters):
        colours[character.player] = colours[character.name] = index % SPEAKER_COLOURS
    return colours


def name_of(bundle: Bundle, player: str) -> str:
    character = bundle.party.by_player(player)
    return character.name if character else player


def story_so_far(bundle: Bundle, session: Session) -> list[Event]:
    """A resumed session's story as the events that told it: the rolling summary of older
    turns, then the turns kept verbatim. Only shown, never published."""
    events: list[Event] = []
    if session.summary_lines:
        events.append(Notice(turn=0, text="earlier: " + "\n".join(session.summary_lines)))
    for entry in session.history:
        if entry.role == "player":
            name = name_of(bundle, entry.speaker)
            events.append(PlayerSaid(entry.turn, entry.speaker, name, entry.text))
        else:
            events.append(Narration(turn=entry.turn, text=entry.text))
    return events


@dataclass(frozen=True)
class StatusView:
    title: str
    turn: int
    max_turns: int
    backend: str
    model: str
    seed: int
    session_id: str
    state: str


def status_view(playtest: Playtest) -> StatusView:
    session = playtest.session
    # The start-up line's backend text explains itself in parentheses ("offline narrator
    # (no LLM configured: …)"); the bar only has room for the name.
    backend = playtest.runtime.backend.split(" (", 1)[0]
    return StatusView(
        title=playtest.bundle.spec.title,
        turn=session.turn,
        max_turns=playtest.bundle.spec.limits.max_turns,
        backend=backend,
        model=playtest.engine.llm.name,
        seed=session.seed,
        session_id=session.id,
        state=session.status.value,
    )


@dataclass(frozen=True)
class CharacterTally:
    name: str
    colour: int
    xp: int
    """The bonus XP awarded so far during play; all XP awarded once it is finished."""
    xp_text: str
    """`10/30 bonus XP so far` during play (outcome XP only comes with the resolution),
    `130 XP (awarded)` or `0 XP (none awarded)` once the encounter is finished."""
    items: tuple[str, ...]


@dataclass(frozen=True)
class TallyView:
    spec_id: str
    runs: dict[str, int]
    """Finished runs per spec, from DATA_DIR/tally.json."""
    error: str | None
    characters: tuple[CharacterTally, ...]
    finished: bool = False


def tally_view(
    bundle: Bundle, session: Session, runs: dict[str, int], error: str | None = None
) -> TallyView:
    finished = session.status.value != "active"
    colours = speaker_colours(bundle)
    rows = []
    for character in bundle.party.characters:
        player = character.player
        xp = (session.xp_awarded if finished else session.xp_bonus).get(player, 0)
        items = tuple(
            (item.name if (item := bundle.spec.item(item_id)) else item_id)
            for item_id, holder in session.items_granted.items()
            if holder == player
        )
        rows.append(
            CharacterTally(
                name=character.name,
                colour=colours[player],
                xp=xp,
                xp_text=(
                    f"{xp} XP ({'awarded' if player in session.xp_awarded else 'none awarded'})"
                    if finished
                    else f"{xp}/{bundle.spec.limits.bonus_xp} bonus XP so far"
                ),
                items=items,
            )
        )
    return TallyView(
        spec_id=bundle.spec.id,
        runs=runs,
        error=error,
        characters=tuple(rows),
        finished=finished,
    )


@dataclass(frozen=True)
class CheckRoll:
    who: str
    colour: int
    natural: int
    modifier: int
    total: int
    success: bool
    turn: int


@dataclass(frozen=True)
class CheckRow:
    check: str
    """The spec check id, or `improvised <skill>`."""
    skill: str
    dc: int
    npc: str | None
    rolls: tuple[CheckRoll, ...]


def checks_view(bundle: Bundle, session: Session) -> list[CheckRow]:
    """Every spec check (rolled or not) in spec order, then the improvised ones."""
    colours = speaker_colours(bundle)

    def rolls_of(check_id: str | None, skill: str = "", dc: int = 0) -> tuple[CheckRoll, ...]:
        return tuple(
            CheckRoll(
                who=name_of(bundle, roll.player),
                colour=colours.get(roll.player, 0),
                natural=roll.natural,
                modifier=roll.modifier,
                total=roll.total,
                success=roll.success,
                turn=roll.turn,
            )
            for roll in session.checks_rolled
            if roll.check == check_id and (check_id or (roll.skill, roll.dc) == (skill, dc))
        )

    rows = [
        CheckRow(check=c.id, skill=c.skill, dc=c.dc, npc=c.npc, rolls=rolls_of(c.id))
        for c in bundle.spec.checks
    ]
    improvised: dict[tuple[str, int], None] = {}
    for roll in session.checks_rolled:
        if roll.check is None:
            improvised.setdefault((roll.skill, roll.dc), None)
    for skill, dc in improvised:
        rows.append(
            CheckRow(
                check=f"improvised {skill}",
                skill=skill,
                dc=dc,
                npc=None,
                rolls=rolls_of(None, skill, dc),
            )
        )
    return rows


@dataclass(frozen=True)
class SummaryView:
    title: str
    headline: str
    """`debt-settled (success)`, or why the encounter ended unresolved."""
    narrative: str
    xp: tuple[str, ...]
    """One line per character: XP earned, or why none."""
    items: tuple[str, ...]
    summary_path: str | None
    transcript: str | None
    turn: int


ENDED_WHY = {
    "resolved": "resolved",
    "max_turns": "ended unresolved: the turn limit was reached",
    "ended_by_player": "ended unresolved with /end",
}


def summary_view(
    bundle: Bundle, session: Session, ended: Ended, resolved: Resolved | None
) -> SummaryView:
    if resolved is not None:
        headline = f"{resolved.outcome} ({resolved.result})"
        narrative = resolved.summary
        outcome = bundle.spec.outcome(resolved.outcome)
        if outcome is not None and not narrative:
            narrative = outcome.when
        xp = [f"{name_of(bundle, p)}: +{amount} XP" for p, amount in resolved.xp.items()]
        xp += [f"{name_of(bundle, p)}: no XP ({why})" for p, why in resolved.skipped.items()]
        items = [
            f"{name_of(bundle, p)} receives " + (item.name if (item := bundle.spec.item(i)) else i)
            for p, ids in resolved.items.items()
            for i in ids
        ]
        items += grant_lines(resolved.vtt)
    else:
        headline = ENDED_WHY.get(ended.reason, f"ended ({ended.reason})")
        narrative = ""
        xp = [f"{c.name}: no XP (the encounter ended unresolved)" for c in bundle.party.characters]
        items = []
    return SummaryView(
        title=bundle.spec.title,
        headline=headline,
        narrative=narrative,
        xp=tuple(xp),
        items=tuple(items),
        summary_path=shown_path(ended.summary_path) if ended.summary_path else None,
        transcript=session.transcript,
        turn=ended.turn,
    )


def shown_path(path: str | Path) -> str:
    """`path` relative to where play was started when it is below it: the full path would
    wrap in a pane."""
    shown = Path(path)
    with contextlib.suppress(ValueError):
        shown = shown.resolve().relative_to(Path.cwd().resolve())
    return str(shown)


def completion_names(bundle: Bundle) -> list[str]:
    """What the input completes besides commands: first names of the party, the
    capitalised words of NPC names, and player ids (for `/as`)."""
    party, npcs = bundle.party.characters, bundle.spec.npcs
    return [
        *(c.name.split()[0] for c in party),
        *(word for n in npcs for word in n.name.split() if word[:1].isupper()),
        *(c.player for c in party),
    ]


def finding_lines(findings: Sequence[Finding], root: Path) -> list[str]:
    """Lint findings as `path:line:col: CODE message`, paths relative to the content root
    when they are inside it (the full path would wrap in the story pane)."""
    lines = []
    for found in findings:
        path = Path(found.path)
        with contextlib.suppress(ValueError):
            path = path.resolve().relative_to(root.resolve())
        lines.append(f"{path}:{found.line}:{found.col}: {found.code} {found.message}")
    return lines
