"""The checks panel: every check of the spec, rolled or not, by whom and with what result;
improvised checks follow the spec's own."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from mardonar.channels.terminal.tui.widgets.lines import Lines
from mardonar.channels.terminal.tui.widgets.panel import SPEAKER_STYLES, Panel

if TYPE_CHECKING:
    from mardonar.channels.terminal.tui.views import CheckRow


class ChecksPanel(Panel):
    PREFIX = "checks"
    STYLES = ("id", "dim", "success", "failure", *SPEAKER_STYLES)

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.rows: list[CheckRow] = []

    def show(self, rows: Sequence[CheckRow]) -> None:
        self.rows = list(rows)
        self.refresh_body()

    def body_lines(self) -> Lines:
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
