"""The slash-command grammar both terminal front ends read (the plain REPL and the TUI).

What the commands are, how a line splits into a command and its argument, the help text and
the words for a line that is not a command or names nobody: the REPL and the TUI differ only
in what they do with a command (print at once, or start a worker), so those live with them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mardonar.content.models import Character, Party

COMMANDS = ("/as", "/roll", "/status", "/end", "/help", "/quit")
HELP = """\
Type what your character says or does; one line is one message.
  /as NAME      speak as another party member (player id or character name)
  /roll EXPR    roll dice yourself, e.g. /roll 2d6+3 or /roll d20 adv
  /status       turn, who took part, checks rolled, XP and items so far
  /end          end the encounter now, unresolved (a summary is still written)
  /help         this help
  /quit         leave; the session stays resumable with --resume"""
DEFAULT_ROLL = "d20"
"""What a bare `/roll` throws."""
AS_USAGE = "usage: /as NAME"


@dataclass(frozen=True)
class Command:
    """One `/command` line, split at its first space."""

    name: str
    """The command word, lower-cased: `/ROLL` is `/roll`."""
    text: str
    """Everything after the first space, as typed."""

    @property
    def arg(self) -> str:
        return self.text.strip()


def parse_command(line: str) -> Command:
    """Split a line that starts with `/` into its command and argument."""
    name, _, text = line.partition(" ")
    return Command(name.lower(), text)


def unknown_command(name: str) -> str:
    return f"unknown command {name}; commands: {' '.join(COMMANDS)}"


def speaker_switch(party: Party, who: str) -> tuple[Character | None, str]:
    """`/as who`: the party member named, and the line that says so (or why not)."""
    character = party.find(who)
    if character is None:
        return None, f"no party member '{who.strip()}'; the party is: {party.roster()}"
    return character, f"· now speaking as {character.name} ({character.player})"
