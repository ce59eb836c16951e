"""The tally panel: the XP and items each character has earned in this session, then the
finished runs per spec (DATA_DIR/tally.json)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.style import Style

from mardonar.channels.terminal.tui.widgets.lines import Lines
from mardonar.channels.terminal.tui.widgets.panel import SPEAKER_STYLES, Panel

if TYPE_CHECKING:
    from mardonar.channels.terminal.tui.views import TallyView


class TallyPanel(Panel):
    PREFIX = "tally"
    STYLES = ("heading", "current", "error", "dim", *SPEAKER_STYLES)

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.view: TallyView | None = None

    def show(self, view: TallyView) -> None:
        self.view = view
        self.refresh_body()

    def body_lines(self) -> Lines:
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
