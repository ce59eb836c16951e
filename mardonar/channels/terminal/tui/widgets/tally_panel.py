"""The tally panel: the XP and items each character has earned in this session, then the
finished runs per spec (DATA_DIR/tally.json)."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from rich.style import Style
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from mardonar.channels.terminal.tui.widgets.lines import Lines

if TYPE_CHECKING:
    from mardonar.channels.terminal.tui.views import TallyView


class TallyPanel(VerticalScroll):
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "tally--heading",
        "tally--current",
        "tally--error",
        "tally--dim",
        *(f"tally--speaker-{i}" for i in range(6)),
    }

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.view: TallyView | None = None

    def compose(self) -> ComposeResult:
        yield Static("", id="tally-body")

    def show(self, view: TallyView) -> None:
        self.view = view
        self.query_one("#tally-body", Static).update(self.render_view().renderable)

    @property
    def text(self) -> str:
        return self.render_view().plain

    def _s(self, name: str) -> Style:
        return self.get_component_rich_style(f"tally--{name}")

    def render_view(self) -> Lines:
        view = self.view
        out = Lines()
        if view is None:
            return out
        out.line(("This session", self._s("heading")))
        if not view.finished:
            out.line(("Outcome XP comes with the resolution.", self._s("dim")))
        for row in view.characters:
            out.line((row.name, self._s(f"speaker-{row.colour}")), f"  {row.xp_text}")
            for item in row.items:
                out.item("  ◆", item, indent=4)
        out.blank().line(("Runs per spec (tally.json)", self._s("heading")))
        if view.error:
            out.line((view.error, self._s("error")))
        if not view.runs:
            out.line("no finished run yet")
        for spec_id, runs in sorted(view.runs.items()):
            style = self._s("current") if spec_id == view.spec_id else Style()
            out.line((f"{runs:>4}  {spec_id}", style))
        return out
