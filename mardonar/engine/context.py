"""What the model is sent each turn, within a token budget, laid out for a prefix cache.

A local server (llama.cpp, vLLM, Ollama) keeps the tokens of the previous request and
evaluates only what follows the longest prefix the new request shares with it; on a small
CPU that evaluation is the whole turn (25 tokens/s on 2 cores). So each turn's request
extends the previous one, and what changes every turn comes last:

1. the system message: the stable head (persona, the spec's GM view, the party, the spec's
   own lore), byte-identical every turn of a session;
2. the summary of older turns (it changes only when turns are folded into it), then the
   history, append-only between folds: turns are folded in blocks (`compact_old_turns`),
   never one per turn, and a history over the budget is folded too, never slid;
3. the turn's user message: its context (the state of play, lore the players' words
   triggered, the memories of NPCs in play), then the players' lines
   (`turnformat.turn_message`). The history keeps only the lines, so the next request
   re-reads just this message, the reply and the new turn.

Older turns become one summary line each, so turn 200 costs about what turn 10 does.
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
    from mardonar.content.models import Lore
    from mardonar.memory.base import Memory

RECENT_TURNS = 8
"""Turns kept verbatim after a fold; older ones become one summary line each."""
FOLD_BLOCK = 8
"""Turns the history grows by past RECENT_TURNS before they are folded at once: a fold
changes the summary and so re-reads everything after the head (one turn in nine), and in
between every request extends the previous one."""
LORE_SHARE = 0.15
"""The spec's own lore (in the head); lore the players trigger gets what it leaves."""
TRIGGERED_LORE_FLOOR = 0.05
"""Triggered lore always gets at least this share, however long the spec's own lore."""
MEMORY_SHARE = 0.10
SUMMARY_SHARE = 0.10
SUMMARY_HEADING = "## Earlier in this encounter"
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


def _lore_rows(heading: str, docs: Iterable[Lore], budget: int) -> str:
    rows: list[str] = []
    left = budget
    for doc in docs:
        if left <= 20:
            break
        text = _fit(f"### {doc.title}\n{doc.body}", left)
        rows.append(text)
        left -= estimate_tokens(text)
    return (f"{heading}\n" + "\n".join(rows)) if rows else ""


def _spec_lore(bundle: Bundle, budget: int) -> str:
    """The lore files the spec names: the same every turn, so part of the head."""
    return _lore_rows("## Lore", (doc for doc in bundle.lore if doc.id in bundle.spec.lore), budget)


def _triggered_lore(bundle: Bundle, recent_text: str, budget: int) -> str:
    """Other lore files whose keywords the recent lines mention: part of the turn's context."""
    mentioned = Mentioned(recent_text)
    triggered = (
        doc
        for doc in bundle.lore
        if doc.id not in bundle.spec.lore and any(map(mentioned, doc.keywords))
    )
    return _lore_rows("## Lore the players mention", triggered, budget)


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
    head = SUMMARY_HEADING
    if omitted:
        head += f" ({omitted} earlier turns omitted)"
    return "\n".join([head, *reversed(kept)])


def _history_messages(bundle: Bundle, history: list[HistoryEntry], budget: int) -> list[Message]:
    """The history as messages, newest kept when even one turn is over `budget` (the last
    resort: `_fold_to_fit` has folded all it could, and this drops messages)."""
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


def _entry_tokens(bundle: Bundle, entry: HistoryEntry) -> int:
    if entry.role == "player":
        return estimate_tokens(
            turnformat.player_line(player_label(bundle, entry.speaker), entry.text)
        )
    return estimate_tokens(entry.text)


def _fold_to_fit(bundle: Bundle, session: Session, room: int, summary_budget: int) -> str:
    """The summary, after folding old turns into it when it and the history are over
    `room`. A fold changes what follows the head, so it is done rarely and in a block: the
    newest turns that take at most half of the history's room stay, leaving it room to grow
    for several turns, each request extending the last, before the next fold. The fold is
    the session's own, saved with the turn."""
    summary = _summary_section(session, summary_budget)
    history = session.history
    tokens = estimate_tokens(summary) + sum(_entry_tokens(bundle, e) for e in history)
    if not history or tokens <= room:
        return summary
    half = (room - summary_budget) // 2
    per_turn: dict[int, int] = {}
    for entry in history:
        per_turn[entry.turn] = per_turn.get(entry.turn, 0) + _entry_tokens(bundle, entry)
    oldest_kept, used = history[-1].turn, 0
    for turn in sorted(per_turn, reverse=True):
        used += per_turn[turn]
        if used > half and turn != history[-1].turn:
            break
        oldest_kept = turn
    _fold(bundle, session, oldest_kept)
    return _summary_section(session, summary_budget)


def _head(bundle: Bundle, budget: int) -> list[Section]:
    """The stable head, rendered once per bundle (and budget, which the lore is fitted to)."""
    rendered = bundle.rendered
    if "spec" not in rendered:
        rendered["persona"] = persona_prompt(bundle.persona)
        rendered["party"] = _party_section(bundle)
        rendered["spec"] = spec_gm_view(bundle.spec)
    lore_key = f"lore:{budget}"
    if lore_key not in rendered:
        rendered[lore_key] = _spec_lore(bundle, max(int(budget * LORE_SHARE), 0))
    return [
        Section("persona", rendered["persona"]),
        Section("spec", rendered["spec"]),
        Section("party", rendered["party"]),
        Section("lore", rendered[lore_key]),
    ]


async def build_context(
    bundle: Bundle,
    session: Session,
    memory: Memory,
    lines: list[PlayerLine],
    *,
    budget: int,
) -> BuiltContext:
    """The turn's request (see the module's docstring for the layout and why). Folds the
    session's oldest turns into its summary when the history is over what the budget leaves
    it (the only change it makes to the session)."""
    current = format_player_lines(bundle, lines)
    recent_text = " ".join([current, *(e.text for e in session.history[-4:])])
    head = _head(bundle, budget)
    lore_room = max(int(budget * LORE_SHARE) - head[-1].tokens, int(budget * TRIGGERED_LORE_FLOOR))
    tail = [
        Section("state", _state_section(bundle, session)),
        Section("triggered", _triggered_lore(bundle, recent_text, max(lore_room, 0))),
        Section(
            "memories",
            await _memory_section(
                bundle, session, memory, current, max(int(budget * MEMORY_SHARE), 0)
            ),
        ),
    ]
    context = "\n\n".join(s.text for s in tail if s.text)
    turn_message = turnformat.turn_message(context, current)
    room = budget - sum(s.tokens for s in head) - estimate_tokens(turn_message)
    summary = _fold_to_fit(bundle, session, room, max(int(budget * SUMMARY_SHARE), 0))
    history = _history_messages(bundle, session.history, max(room - estimate_tokens(summary), 0))
    history_text = "\n".join(m.content for m in history)
    # The summary is not a message of its own: several chat templates refuse two user
    # messages in a row, and after a fold the history starts with the players' lines.
    if summary and not history:  # a budget too short for even the newest turn
        turn_message = f"{summary}\n\n{turn_message}"
    elif summary and history[0].role == "user":
        history[0] = Message("user", f"{summary}\n\n{history[0].content}")
    elif summary:
        history.insert(0, Message("user", summary))
    system = "\n\n".join(s.text for s in head if s.text)
    sections = (
        *head,
        Section("summary", summary),
        Section("history", history_text),
        *tail,
        Section("player", current),
    )
    messages = (Message("system", system), *history, Message("user", turn_message))
    return BuiltContext(messages=messages, sections=sections, budget=budget)


def compact_old_turns(bundle: Bundle, session: Session) -> None:
    """Fold old turns into the summary in a block: once the history spans more than
    RECENT_TURNS + FOLD_BLOCK turns, all but the newest RECENT_TURNS go at once."""
    if not session.history:
        return
    newest = session.history[-1].turn
    if session.history[0].turn <= newest - RECENT_TURNS - FOLD_BLOCK:
        _fold(bundle, session, newest - RECENT_TURNS + 1)


def _fold(bundle: Bundle, session: Session, oldest_kept: int) -> None:
    """Move the turns before `oldest_kept` from the history to the summary, a line a turn."""
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
