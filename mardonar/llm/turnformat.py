"""The text conventions of a turn, written by the engine and read back by the offline narrator.

The engine sends the model plain text with a few fixed shapes; the offline narrator (which
has no model) finds its way through a request by reading those shapes back. Both sides
import them from here, so a change to one wording cannot silently break the other:

- a player's line: `[aria as Aria Swiftwind] I threaten Grukk` (`[aria] …` with no character);
- the turn's user message: what changes every turn (the state of play, triggered lore, NPC
  memories), then the players' lines under `## The players' turn` (the history keeps only
  the lines: see `turn_message`);
- the loop's one correction round: a user message `[correction] <why>. Answer again.`;
- a check rolled in an earlier turn, in the turn message's state section:
  `- rolled <check> by <player>: <total> vs DC <dc>, <verdict>`;
- a keyword or name "mentioned" in a text: a whole-word (or whole-phrase) match,
  case-insensitive, the same for the missed-check heuristic and the narrator's choices.

It lives in llm/ because the narrator is an LLM backend and llm/ may not import the engine;
the engine imports downwards from here.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict, Field

CORRECTION_PREFIX = "[correction]"
"""A user message starting with this is the loop's correction, not players speaking."""

PLAYERS_HEADING = "## The players' turn"
"""In the turn's user message, the players' lines follow this line; what is above it is the
turn's context (state, triggered lore, memories)."""
_PLAYERS_MARK = f"\n\n{PLAYERS_HEADING}\n"

_LINE = re.compile(r"^\[(?P<label>[^\]\n]+)\][ \t]?(?P<text>.*)$")
# After a newline rather than `^` under MULTILINE: a pattern that starts with a literal lets
# `re` skip ahead to it, 4x faster over a 6 KB system prompt (24 -> 6 us), read every turn.
_ROLLED = re.compile(r"\n- rolled (?P<check>[a-z0-9]+(?:-[a-z0-9]+)*) by ")


class PlayerLine(BaseModel):
    """What one player said in a turn: the one type for it everywhere.

    The engine takes a turn's lines as these, the session keeps them (`Session.pending`,
    stored as `{"player", "text"}`) until the turn is played, and the offline narrator reads
    them back from the turn's user message (`[player as Name] text`)."""

    model_config = ConfigDict(frozen=True)

    player: str
    """The player id (`aria`)."""
    text: str
    name: str = Field(default="", exclude=True)
    """The character name shown with the line (`Aria Swiftwind`), the player id for a player
    with no character; empty until known. Not stored: the party says it again."""

    @classmethod
    def all_of(cls, lines: Iterable[PlayerLine | tuple[str, str]]) -> list[PlayerLine]:
        """`lines` as PlayerLines: `(player, text)` pairs are accepted where lines come in
        from outside the engine (`Engine.run_turn`, scripts, tests)."""
        return [
            line if isinstance(line, PlayerLine) else cls(player=line[0], text=line[1])
            for line in lines
        ]


def player_label(player: str, character: str | None) -> str:
    """`aria as Aria Swiftwind`, or the bare player id for a player with no character."""
    return f"{player} as {character}" if character else player


def player_line(label: str, text: str) -> str:
    """One line of the turn's user message: `[label] text`."""
    return f"[{label}] {text}"


def parse_player_lines(text: str) -> list[PlayerLine]:
    """`[aria as Aria Swiftwind] I threaten Grukk` lines; a line without a label continues the
    previous one (a player's message with a newline in it)."""
    lines: list[PlayerLine] = []
    for raw in text.splitlines():
        match = _LINE.match(raw.strip())
        if match:
            label = match.group("label").strip()
            player, sep, name = label.partition(" as ")
            player = player.strip()
            name = name.strip() if sep else player
            lines.append(PlayerLine(player=player, name=name, text=match["text"].strip()))
        elif lines and raw.strip():
            last = lines[-1]
            lines[-1] = last.model_copy(update={"text": f"{last.text} {raw.strip()}".strip()})
    return lines


def turn_message(context: str, players: str) -> str:
    """The turn's user message: `context` (what changes every turn), then the players' lines.

    The parts of the prompt that change every turn sit here, at its very end, so that
    everything before this message is the previous turn's request extended, which a
    server's prefix cache can reuse. The history keeps the bare lines (`players`)."""
    return f"{context}{_PLAYERS_MARK}{players}" if context else players


def split_turn_message(text: str) -> tuple[str, str]:
    """(the context, the players' lines) of a `turn_message`; ("", text) for bare lines.

    Split at the FIRST heading: the context is written by the engine and comes first, so a
    player who types the heading only adds text to their own line."""
    context, mark, players = text.partition(_PLAYERS_MARK)
    return (context, players) if mark else ("", text)


def correction(reason: str) -> str:
    """The user message of the loop's one correction round."""
    return f"{CORRECTION_PREFIX} {reason}. Answer again."


def is_correction(text: str) -> bool:
    return text.lstrip().startswith(CORRECTION_PREFIX)


def rolled_line(check: str, player: str, total: int, dc: int, success: bool) -> str:
    """A check rolled earlier, as the state section lists it."""
    verdict = "success" if success else "failure"
    return f"- rolled {check} by {player}: {total} vs DC {dc}, {verdict}"


def rolled_checks(text: str) -> tuple[str, ...]:
    """The check ids of the `- rolled …` lines in `text`, in order (improvised rolls, written
    `improvised <skill>`, are not check ids and are skipped)."""
    return tuple(match["check"] for match in _ROLLED.finditer("\n" + text))


@functools.lru_cache(maxsize=4096)
def phrase_pattern(phrase: str) -> re.Pattern[str]:
    """Where `phrase` is mentioned in a lower-cased text: bounded by anything but a word
    character or a hyphen ("ore" is not mentioned in "more", nor "elf" in "elf-friend")."""
    return re.compile(rf"(?<![\w-]){re.escape(phrase.lower())}(?![\w-])")
