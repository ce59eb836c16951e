"""The context inspector: exactly what the model was sent on the last turn, section by
section, with each section's token estimate and the total against the budget."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Collapsible, Footer, Label, ProgressBar, Static

from mardonar.channels.terminal.tui.shown import text

if TYPE_CHECKING:
    from mardonar.engine.context import BuiltContext


@dataclass(frozen=True)
class SectionRow:
    name: str
    tokens: int
    text: str


class ContextScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,f3", "dismiss", "Close"),
        Binding("e", "expand_all", "Expand all"),
        Binding("c", "collapse_all", "Collapse all"),
    ]

    def __init__(self, built: BuiltContext | None, *, budget: int, turn: int) -> None:
        super().__init__()
        self.turn = turn
        self.rows = [SectionRow(s.name, s.tokens, s.text) for s in built.sections] if built else []
        self.total = built.tokens if built else 0
        self.budget = built.budget if built else budget

    @property
    def total_text(self) -> str:
        return f"{self.total:,} / {self.budget:,} tokens"

    def compose(self) -> ComposeResult:
        with Vertical(id="inspector"):
            if self.rows:
                yield Label(f"What the model was sent on turn {self.turn}", id="inspector-title")
            else:
                yield Label("Nothing sent yet in this run: the context is built on the next turn.")
            with Vertical(id="inspector-total"):
                yield Label(self.total_text, id="inspector-tokens")
                bar = ProgressBar(total=max(self.budget, 1), show_eta=False, id="inspector-bar")
                bar.set_class(self.total > self.budget, "-over")
                yield bar
            with VerticalScroll(id="inspector-sections"):
                for row in self.rows:
                    title = f"{row.name:<10} {row.tokens:>6,} tokens  {self._bar(row.tokens)}"
                    with Collapsible(title=title, collapsed=True, classes="section"):
                        yield Static(text(row.text or "(empty)"), classes="section-text")
        yield Footer()

    def _bar(self, tokens: int) -> str:
        """The section's share of the budget, one block per 5% (so 20 blocks is all of it)."""
        blocks = round(20 * tokens / max(self.budget, 1))
        return "▇" * (blocks or (1 if tokens else 0))

    def on_mount(self) -> None:
        self.query_one("#inspector-bar", ProgressBar).update(progress=min(self.total, self.budget))

    def action_expand_all(self) -> None:
        for section in self.query(Collapsible):
            section.collapsed = False

    def action_collapse_all(self) -> None:
        for section in self.query(Collapsible):
            section.collapsed = True
