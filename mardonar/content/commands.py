"""The slash commands a player may ask of a session, and how a line reads as one.

`/as NAME`, `/roll [DICE]`, `/status`, `/end`, `/help` and `/quit` are typed at the terminal
(channels/terminal: the plain REPL and the TUI) and written in the lines of a test plan
(played by harness/testplans.py, checked by lint's M203). It lives in content/, below all
three, because they may not import each other: the front ends and the harnesses sit side by
side above the engine, and lint sits below it. What a player may ask is also what an author
writes into a test plan, which is content. What each front end does with a command (print
at once, start a worker) and the terminal's help text stay with the front ends
(channels/terminal/commands.py).
"""

from __future__ import annotations

from dataclasses import dataclass

COMMANDS = ("/as", "/roll", "/status", "/end", "/help", "/quit")
"""Every command, in the order the help lists them."""
PLAN_COMMANDS = ("/as", "/roll", "/end")
"""The commands a test plan's line may start with: the ones that act on the session
(`mardonar test` plays them); `/status`, `/help` and `/quit` only show or leave."""
DEFAULT_ROLL = "d20"
"""What a bare `/roll` throws."""


@dataclass(frozen=True)
class Command:
    """One `/command` line, split at its first space."""

    typed: str
    """The command word as typed (`/ROLL`), for a message that quotes the author."""
    text: str
    """Everything after the first space, as typed."""

    @property
    def name(self) -> str:
        """The command word, lower-cased: `/ROLL` is `/roll`."""
        return self.typed.lower()

    @property
    def arg(self) -> str:
        return self.text.strip()


def parse_command(line: str) -> Command:
    """Split a line that starts with `/` into its command and argument."""
    typed, _, text = line.partition(" ")
    return Command(typed, text)


def not_in_plans(name: str) -> str:
    """Why a test plan cannot play `name`: lint (M203) and `mardonar test` say the same."""
    return f"{name} is not supported in a test plan (supported: {', '.join(PLAN_COMMANDS)})"
