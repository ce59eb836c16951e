"""The checks panel: every check of the spec, rolled or not, by whom and with what result;
improvised checks follow the spec's own."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar

from rich.style import Style
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from mardonar.channels.terminal.tui.widgets.lines import Lines

if TYPE_CHECKING:
    from mardonar.channels.terminal.tui.views import CheckRow


class ChecksPanel(VerticalScroll):
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "checks--id",
        "checks--dim",
        "checks--success",
        "checks--failure",
        *(f"checks--speaker-{i}" for i in range(6)),
    }

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.rows: list[CheckRow] = []

    def compose(self) -> ComposeResult:
        yield Static("", id="checks-body")

    def show(self, rows: Sequence[CheckRow]) -> None:
        self.rows = list(rows)
        self.query_one("#checks-body", Static).update(self.render_rows().renderable)

    @property
    def text(self) -> str:
        return self.render_rows().plain

    def _s(self, name: str) -> Style:
        return self.get_component_rich_style(f"checks--{name}")

    def render_rows(self) -> Lines:
        out = Lines()
        dim = self._s("dim")
        for index, row in enumerate(self.rows):
            if index:
                out.blank()
            against = f" vs {row.npc}" if row.npc else ""
            out.line((row.check, self._s("id")), (f"  {row.skill} DC {row.dc}{against}", dim))
            if not row.rolls:
                out.item("", ("not rolled", dim))
            for roll in row.rolls:
                verdict = (
                    ("✔ success", self._s("success"))
                    if roll.success
                    else ("✘ failure", self._s("failure"))
                )
                out.item(
                    "",
                    (roll.who, self._s(f"speaker-{roll.colour}")),
                    f" {roll.natural}{roll.modifier:+d} = {roll.total} ",
                    verdict,
                    (f"  turn {roll.turn}", dim),
                )
        return out
