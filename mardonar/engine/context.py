"""What the model is sent each turn, within a token budget.

Fixed parts (persona, the spec's GM view, the party, the state of play) always go in; the
variable parts get shares of what is left: keyword-triggered lore, the memories of NPCs in
play, the rolling summary of older turns (newest lines kept), then as many recent turns as
fit. Older turns leave the history for one summary line each, so turn 200 costs about what
turn 10 does.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mardonar.content.render import estimate_tokens, persona_prompt, spec_gm_view
from mardonar.engine.session import HistoryEntry, Session
from mardonar.llm import turnformat
from mardonar.llm.base import Message
from mardonar.llm.turnformat import PlayerLine

if TYPE_CHECKING:
    from mardonar.content.bundle import Bundle
    from mardonar.memory.base import Memory

RECENT_TURNS = 8
"""Turns kept verbatim in the session; older ones become one summary line each."""
LORE_SHARE = 0.15
MEMORY_SHARE = 0.10
SUMMARY_SHARE = 0.10
WRAP_UP_TURNS = 3
"""The GM is told to wrap up when this many turns are left."""


@dataclass(frozen=True)
class Section:
    name: str
    text: str

    @property
    def tokens(self) -> int:
        return estimate_tokens(self.text)


@dataclass(frozen=True)
class BuiltContext:
    messages: tuple[Message, ...]
    sections: tuple[Section, ...]
    budget: int

    @property
    def tokens(self) -> int:
        return sum(estimate_tokens(m.content) for m in self.messages)

    def breakdown(self) -> dict[str, int]:
        return {section.name: section.tokens for section in self.sections}


def player_label(bundle: Bundle, player: str) -> str:
    character = bundle.party.by_player(player)
    return turnformat.player_label(player, character.name if character else None)


def format_player_lines(bundle: Bundle, lines: Iterable[PlayerLine | tuple[str, str]]) -> str:
    """The turn's user message: one `[player as Name] text` line a player line."""
    return "\n".join(
        turnformat.player_line(player_label(bundle, line.player), line.text)
        for line in PlayerLine.all_of(lines)
    )


def _party_section(bundle: Bundle) -> str:
    rows = ["## Party (player id: character)"]
    for c in bundle.party.characters:
        skills = ", ".join(f"{k} {v:+d}" for k, v in sorted(c.skills.items()))
        rows.append(
            f"- {c.player}: {c.name}, {c.class_} {c.level}" + (f" ({skills})" if skills else "")
        )
    return "\n".join(rows)


def _state_section(bundle: Bundle, session: Session) -> str:
    spec = bundle.spec
    turn = session.turn + 1
    rows = [f"## State: turn {turn} of {spec.limits.max_turns}"]
    left = spec.limits.max_turns - turn
    if left < WRAP_UP_TURNS:
        rows.append(
            f"Wrap up now: {left} turn(s) left before the encounter ends unresolved; steer "
            "toward an outcome."
        )
    if session.participants:
        rows.append("Taking part: " + ", ".join(session.participants))
    for roll in session.checks_rolled[-12:]:
        check = roll.check or "improvised " + roll.skill
        rows.append(turnformat.rolled_line(check, roll.player, roll.total, roll.dc, roll.success))
    for npc, secrets in session.revealed_secrets.items():
        rows.append(f"- {npc} has revealed: " + " | ".join(secrets))
    if session.xp_bonus:
        rows.append(
            "Bonus XP so far: "
            + ", ".join(f"{p} {v}/{spec.limits.bonus_xp}" for p, v in session.xp_bonus.items())
        )
    if session.items_granted:
        rows.append(
            "Items granted: " + ", ".join(f"{i} → {p}" for i, p in session.items_granted.items())
        )
    return "\n".join(rows)


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9'-]+", text.lower()))


_phrase_pattern = turnformat.phrase_pattern


_WORD_RUN = re.compile(r"[\w-]+")


def mentions(text: str, phrase: str) -> bool:
    """Whole-word (or whole-phrase) match, case-insensitive. To test many phrases against
    one text, `Mentioned(text)` is cheaper."""
    return _phrase_pattern(phrase).search(text.lower()) is not None


@functools.lru_cache(maxsize=4096)
def _word_runs(phrase: str) -> tuple[bool, tuple[str, ...]]:
    """(whether the lowered phrase is a single run of word characters and hyphens, its runs)."""
    lowered = phrase.lower()
    runs = tuple(_WORD_RUN.findall(lowered))
    return runs == (lowered,), runs


class Mentioned:
    """`mentions(text, phrase)` for many phrases against one text.

    The text is split once into its maximal runs of word characters and hyphens. Each run of
    a whole-phrase match is one of them, since a match is bounded by non-word characters: a
    phrase that is a single run (most keywords and names) is mentioned exactly when it is in
    that set, and a longer one ("port varrow") is only searched for when all its runs are.
    Context building asks about every keyword of every lore file each turn."""

    def __init__(self, text: str) -> None:
        self.text = text.lower()
        self.words = frozenset(_WORD_RUN.findall(self.text))

    def __call__(self, phrase: str) -> bool:
        single, runs = _word_runs(phrase)
        if not all(run in self.words for run in runs):
            return False
        if single:
            return True
        return _phrase_pattern(phrase).search(self.text) is not None


def _fit(text: str, tokens: int) -> str:
    if estimate_tokens(text) <= tokens:
        return text
    cut = text[: max(tokens * 4 - 1, 0)]
    return cut.rsplit(" ", 1)[0] + "…"


def _lore_section(bundle: Bundle, recent_text: str, budget: int) -> str:
    mentioned = Mentioned(recent_text)
    triggered = [doc for doc in bundle.lore if any(map(mentioned, doc.keywords))]
    spec_lore = [doc for doc in bundle.lore if doc.id in bundle.spec.lore and doc not in triggered]
    rows: list[str] = []
    left = budget
    for doc in [*triggered, *spec_lore]:
        if left <= 20:
            break
        text = _fit(f"### {doc.title}\n{doc.body}", left)
        rows.append(text)
        left -= estimate_tokens(text)
    return ("## Lore\n" + "\n".join(rows)) if rows else ""


async def _memory_section(
    bundle: Bundle, session: Session, memory: Memory, text: str, budget: int
) -> str:
    npcs = list(session.npcs_in_play)
    mentioned = Mentioned(text)
    for npc in bundle.spec.npcs:
        if npc.id not in npcs and (mentioned(npc.name.split()[0]) or mentioned(npc.id)):
            npcs.append(npc.id)
    if not npcs:
        npcs = [bundle.spec.npcs[0].id]
    rows: list[str] = []
    left = budget
    for npc_id in npcs:
        hits = await memory.recall(
            scope=bundle.spec.id, session_id=session.id, npc=npc_id, query=text, limit=5
        )
        if not hits:
            continue
        row = _fit(f"- {npc_id} remembers: " + " | ".join(hit.fact for hit in hits), left)
        rows.append(row)
        left -= estimate_tokens(row)
        if left <= 20:
            break
    return ("## NPC memories\n" + "\n".join(rows)) if rows else ""


def _summary_section(session: Session, budget: int) -> str:
    if not session.summary_lines:
        return ""
    kept: list[str] = []
    left = budget
    for line in reversed(session.summary_lines):
        cost = estimate_tokens(line) + 1
        if cost > left:
            break
        kept.append(line)
        left -= cost
    omitted = len(session.summary_lines) - len(kept)
    head = "## Earlier in this encounter"
    if omitted:
        head += f" ({omitted} earlier turns omitted)"
    return "\n".join([head, *reversed(kept)])


def _history_messages(bundle: Bundle, history: list[HistoryEntry], budget: int) -> list[Message]:
    messages: list[Message] = []
    left = budget
    for entry in reversed(history):
        if entry.role == "player":
            message = Message(
                "user", turnformat.player_line(player_label(bundle, entry.speaker), entry.text)
            )
        else:
            message = Message("assistant", entry.text)
        cost = estimate_tokens(message.content)
        if cost > left:
            break
        messages.append(message)
        left -= cost
    messages.reverse()
    # Merge consecutive player lines (several players in one turn) into one user message.
    merged: list[Message] = []
    for message in messages:
        if merged and merged[-1].role == message.role == "user":
            merged[-1] = Message("user", merged[-1].content + "\n" + message.content)
        else:
            merged.append(message)
    return merged


async def build_context(
    bundle: Bundle,
    session: Session,
    memory: Memory,
    lines: list[PlayerLine],
    *,
    budget: int,
) -> BuiltContext:
    current = format_player_lines(bundle, lines)
    recent_text = " ".join([current, *(e.text for e in session.history[-4:])])
    rendered = bundle.rendered
    if "spec" not in rendered:  # the same every turn: rendered once per bundle
        rendered["persona"] = persona_prompt(bundle.persona)
        rendered["party"] = _party_section(bundle)
        rendered["spec"] = spec_gm_view(bundle.spec)
    fixed = [
        Section("persona", rendered["persona"]),
        Section("spec", rendered["spec"]),
        Section("party", rendered["party"]),
        Section("state", _state_section(bundle, session)),
    ]
    left = budget - sum(s.tokens for s in fixed) - estimate_tokens(current)
    lore = Section("lore", _lore_section(bundle, recent_text, max(int(budget * LORE_SHARE), 0)))
    memories = Section(
        "memories",
        await _memory_section(bundle, session, memory, current, max(int(budget * MEMORY_SHARE), 0)),
    )
    summary = Section("summary", _summary_section(session, max(int(budget * SUMMARY_SHARE), 0)))
    left -= lore.tokens + memories.tokens + summary.tokens
    history = _history_messages(bundle, session.history, max(left, 0))
    sections = [*fixed, lore, memories, summary]
    system = "\n\n".join(s.text for s in sections if s.text)
    history_text = "\n".join(m.content for m in history)
    all_sections = (
        *sections,
        Section("history", history_text),
        Section("player", current),
    )
    messages = (Message("system", system), *history, Message("user", current))
    return BuiltContext(messages=messages, sections=all_sections, budget=budget)


def compact_old_turns(bundle: Bundle, session: Session) -> None:
    """Move turns older than the recent window out of the history, one line per turn."""
    if not session.history:
        return
    oldest_kept = session.history[-1].turn - RECENT_TURNS + 1
    old = [e for e in session.history if e.turn < oldest_kept]
    if not old:
        return
    session.history = [e for e in session.history if e.turn >= oldest_kept]
    by_turn: dict[int, list[HistoryEntry]] = {}
    for entry in old:
        by_turn.setdefault(entry.turn, []).append(entry)
    for turn, entries in sorted(by_turn.items()):
        parts = []
        for entry in entries:
            who = (
                "GM"
                if entry.role == "gm"
                else player_label(bundle, entry.speaker).split(" as ")[-1]
            )
            text = " ".join(entry.text.split())
            parts.append(f"{who}: {text[:90]}{'…' if len(text) > 90 else ''}")
        session.summary_lines.append(f"T{turn} " + " / ".join(parts))
