"""Panel text with hanging indents, and its plain text beside it.

The side panels are about 48 columns wide, so a memory, a check result or a tool's
arguments often wrap; a wrapped line that starts back at the margin reads as a new entry.
`Lines` lays each item out as a two-column grid (marker, text) so the text wraps under
itself, and keeps the same content as plain text for tests and copying.
"""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from mardonar.channels.terminal.tui.shown import Part, text

__all__ = ["Lines", "Part"]


def _text(parts: tuple[Part, ...]) -> Text:
    return text(*parts)


class Lines:
    def __init__(self) -> None:
        self._renderables: list[RenderableType] = []
        self._plain: list[str] = []

    def line(self, *parts: Part) -> Lines:
        """A line of its own (it wraps at the margin)."""
        text = _text(parts)
        self._renderables.append(text)
        self._plain.append(text.plain)
        return self

    def item(self, marker: Part, *parts: Part, indent: int = 2) -> Lines:
        """`marker` in a column `indent` wide, the text wrapping beside it."""
        marker_text, text = _text((marker,)), _text(parts)
        grid = Table.grid(expand=True)
        grid.add_column(width=indent, no_wrap=True)
        grid.add_column(ratio=1)
        grid.add_row(marker_text, text)
        self._renderables.append(grid)
        self._plain.append(f"{marker_text.plain:<{indent}}{text.plain}")
        return self

    def blank(self) -> Lines:
        return self.line("")

    @property
    def renderable(self) -> RenderableType:
        return Group(*self._renderables)

    @property
    def plain(self) -> str:
        return "\n".join(self._plain)
