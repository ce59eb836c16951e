"""What the TUI's scrolling panes share: their named styles, and for the side panels one body.

Each pane names its styles `<prefix>--<name>` (Textual component classes, coloured in
app.tcss) and reads them with `_s(name)`: `Styled` lists the names once and makes the
classes from them. A `Panel` (checks, NPCs, tally) also renders everything it shows as one
`Lines` into one Static body, `#<prefix>-body`, whose plain text is `text` (what the tests
and the snapshots read). The story and the tool log mount one widget a line or call, so
they only take `Styled`.
"""

from __future__ import annotations

from typing import Any, ClassVar

from rich.style import Style
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from mardonar.channels.terminal.tui.views import SPEAKER_COLOURS
from mardonar.channels.terminal.tui.widgets.lines import Lines

SPEAKER_STYLES = tuple(f"speaker-{index}" for index in range(SPEAKER_COLOURS))
"""One style a party member's colour (views.speaker_colours hands them out)."""


class Styled(VerticalScroll):
    PREFIX: ClassVar[str]
    """The component classes' prefix: `checks` makes `checks--dim`."""
    STYLES: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # Textual reads COMPONENT_CLASSES from each class's own __dict__: set it there.
        cls.COMPONENT_CLASSES = {f"{cls.PREFIX}--{name}" for name in cls.STYLES}

    def _s(self, name: str) -> Style:
        return self.get_component_rich_style(f"{self.PREFIX}--{name}")


class Panel(Styled):
    def compose(self) -> ComposeResult:
        yield Static("", id=f"{self.PREFIX}-body")

    def body_lines(self) -> Lines:
        """Everything the panel shows (the subclass renders its own data)."""
        raise NotImplementedError

    def refresh_body(self) -> None:
        self.query_one(f"#{self.PREFIX}-body", Static).update(self.body_lines().renderable)

    @property
    def text(self) -> str:
        return self.body_lines().plain
