"""After a good live reload: restart the encounter with the new content, fast-forwarded
through the lines played so far? Dismissed with the answer."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label

from mardonar.wording import plural


class ReloadScreen(ModalScreen[bool]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y,enter", "answer(True)", "Restart"),
        Binding("n,escape", "answer(False)", "Keep playing"),
    ]

    def __init__(self, changed: list[str], lines: int, *, spec: bool = True) -> None:
        super().__init__()
        self.changed = changed
        """The changed files, as shown."""
        self.lines = lines
        """How many player lines the restart replays."""
        self.spec = spec
        """The spec itself changed (not only persona, party or lore)."""

    @property
    def question(self) -> str:
        what = "Spec" if self.spec else "Content"
        lines = plural(self.lines, "line")
        return f"{what} changed: restart with {lines} replayed? [y/n]"

    def compose(self) -> ComposeResult:
        with Vertical(id="reload"):
            yield Label(self.question, id="reload-question")
            yield Label("Changed: " + ", ".join(self.changed), id="reload-changed")
            yield Label(
                "y restart (new session, same seed) · n keep playing the old version",
                id="reload-keys",
            )

    def action_answer(self, restart: bool) -> None:
        self.dismiss(restart)
