"""The end of an encounter: outcome, XP per character (with why none), items, and where
the summary and the transcript were written. Dismissed with what the player chose."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Literal

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Footer, Label, Static

from mardonar.channels.terminal.tui.shown import text
from mardonar.wording import plural

if TYPE_CHECKING:
    from mardonar.channels.terminal.tui.views import SummaryView

Choice = Literal["replay", "quit", "close"]


class SummaryScreen(ModalScreen["Choice"]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "choose('replay')", "Replay from the start"),
        Binding("t", "transcript", "Transcript path"),
        Binding("q", "choose('quit')", "Quit"),
        Binding("escape", "choose('close')", "Back to the story"),
    ]

    def __init__(self, view: SummaryView) -> None:
        super().__init__()
        self.view = view

    @property
    def headline(self) -> str:
        return f"★ {self.view.headline} after {plural(self.view.turn, 'turn')}"

    @property
    def lines(self) -> list[str]:
        """The summary as plain lines (what the screen shows, without styles)."""
        view = self.view
        lines = [view.title, self.headline]
        if view.narrative:
            lines.append(view.narrative)
        lines += ["XP", *view.xp]
        if view.items:
            lines += ["Items", *view.items]
        if view.summary_path:
            lines.append(f"Summary: {view.summary_path}")
        return lines

    def compose(self) -> ComposeResult:
        view = self.view
        with Vertical(id="summary"):
            yield Label(text(view.title), id="summary-title")
            yield Label(text(self.headline), id="summary-headline")
            if view.narrative:
                yield Static(text(view.narrative), id="summary-narrative")
            yield Label("XP", classes="summary-heading")
            yield Static(text("\n".join(view.xp)), id="summary-xp")
            if view.items:
                yield Label("Items", classes="summary-heading")
                yield Static(text("\n".join(view.items)), id="summary-items")
            if view.summary_path:
                yield Static(text(f"Summary: {view.summary_path}"), id="summary-path")
            yield Label("r replay · t transcript · q quit · esc back", id="summary-keys")
        yield Footer()

    def action_choose(self, choice: Choice) -> None:
        self.dismiss(choice)

    def action_transcript(self) -> None:
        self.notify(self.view.transcript or "no transcript", title="Transcript", timeout=8)
