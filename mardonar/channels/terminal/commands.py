"""The terminal's words for the slash commands (the plain REPL and the TUI).

The help text, the usage of `/as`, and the words for a line that is not a command or names
nobody. The grammar itself (what the commands are, how a line splits into a command and its
argument) is `content/commands.py`, which `mardonar test` reads too; the REPL and the TUI
differ only in what they do with a command (print at once, or start a worker), so that
lives with them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mardonar.content.commands import COMMANDS

if TYPE_CHECKING:
    from mardonar.content.models import Character, Party

HELP = """\
Type what your character says or does; one line is one message.
  /as NAME      speak as another party member (player id or character name)
  /roll EXPR    roll dice yourself, e.g. /roll 2d6+3 or /roll d20 adv
  /status       turn, who took part, checks rolled, XP and items so far
  /end          end the encounter now, unresolved (a summary is still written)
  /help         this help
  /quit         leave; the session stays resumable with --resume"""
AS_USAGE = "usage: /as NAME"


def unknown_command(name: str) -> str:
    return f"unknown command {name}; commands: {' '.join(COMMANDS)}"


def speaker_switch(party: Party, who: str) -> tuple[Character | None, str]:
    """`/as who`: the party member named, and the line that says so (or why not)."""
    character = party.find(who)
    if character is None:
        return None, f"no party member '{who.strip()}'; the party is: {party.roster()}"
    return character, f"· now speaking as {character.name} ({character.player})"
