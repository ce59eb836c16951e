"""The input line: who speaks, what they type, the lines sent before (↑/↓) and completion
of `/` commands and of character and NPC names (→ accepts, as in a shell)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.suggester import Suggester
from textual.widgets import Input, Label

from mardonar.channels.terminal.tui.shown import text
from mardonar.safetext import safe


def complete(value: str, commands: Sequence[str], names: Sequence[str]) -> str | None:
    """`value` completed by a command (at the start) or a name (its last word), keeping
    what was typed as typed; None when nothing fits."""
    if not value or value.endswith(" "):
        return None
    if value.startswith("/") and " " not in value:
        wanted = value.casefold()
        for command in commands:
            if command.startswith(wanted) and command != wanted:
                return command
        return None
    head, _, word = value.rpartition(" ")
    # One letter matches too much to be a useful suggestion, except after `/as`.
    if len(word) < 2 and head.casefold() != "/as":
        return None
    wanted = word.casefold()
    for name in names:
        if name.casefold().startswith(wanted) and len(name) > len(word):
            return value + name[len(word) :]
    return None


class NameSuggester(Suggester):
    """Suggests the completion of the command or name being typed (see `complete`)."""

    def __init__(self, commands: Iterable[str], names: Iterable[str]) -> None:
        # Case-sensitive so the value reaches `complete` as typed: the suggestion keeps the
        # player's capitals and only adds the name's missing letters.
        super().__init__(use_cache=True, case_sensitive=True)
        self.commands = tuple(commands)
        self.names = tuple(dict.fromkeys(names))

    async def get_suggestion(self, value: str) -> str | None:
        return complete(value, self.commands, self.names)


class HistoryInput(Input):
    """An Input that remembers the lines sent this session; ↑ and ↓ walk through them."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "history(-1)", "Previous line", show=False),
        Binding("down", "history(1)", "Next line", show=False),
    ]

    def __init__(self, *, suggester: Suggester | None = None, id: str | None = None) -> None:
        super().__init__(suggester=suggester, id=id)
        self.history: list[str] = []
        self._position = 0
        self._draft = ""
        """What was being typed before walking into the history, restored at its end."""

    def remember(self, line: str) -> None:
        if not self.history or self.history[-1] != line:
            self.history.append(line)
        self._position = len(self.history)
        self._draft = ""

    def action_history(self, step: int) -> None:
        if not self.history:
            return
        if self._position == len(self.history):
            self._draft = self.value
        self._position = max(0, min(len(self.history), self._position + step))
        self.value = (
            self._draft if self._position == len(self.history) else self.history[self._position]
        )
        self.cursor_position = len(self.value)


class InputBar(Horizontal):
    """The speaker's name as the prompt, then the line being typed."""

    def __init__(
        self, *, commands: Iterable[str], names: Iterable[str], id: str | None = None
    ) -> None:
        super().__init__(id=id)
        self._suggester = NameSuggester(commands, names)

    def compose(self) -> ComposeResult:
        yield Label("", id="speaker")
        yield HistoryInput(suggester=self._suggester, id="line")

    @property
    def line(self) -> HistoryInput:
        return self.query_one("#line", HistoryInput)

    @property
    def names(self) -> tuple[str, ...]:
        """The names completed now."""
        return self._suggester.names

    def set_names(self, names: Iterable[str]) -> None:
        """Complete these names from now on (the content was reloaded)."""
        self._suggester = NameSuggester(self._suggester.commands, names)
        self.line.suggester = self._suggester

    def show_speaker(self, name: str, colour: int) -> None:
        label = self.query_one("#speaker", Label)
        label.update(text(f"{name.split()[0]} ›"))
        label.set_classes(f"speaker-{colour}")
        self.line.placeholder = f"What does {safe(name)} say or do?  (/help for commands)"

    def accept(self, line: str) -> None:
        """The line was sent: remember it and clear the input for the next one."""
        self.line.remember(line)
        self.line.value = ""
