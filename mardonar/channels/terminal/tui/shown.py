"""What the TUI shows of model, player and content text: made safe (mardonar.safetext).

Two layers, so nothing depends on each widget remembering:

- `text(*parts)` builds every Rich `Text` a widget shows from strings: each string passes
  `safe()` first, so an escape sequence is dropped whole (no `]0;pwned` residue) before
  the text is measured and wrapped.
- `ControlFilter` is a Textual line filter the app applies to every rendered line of every
  widget (labels, notifications and inputs included): whatever did not come through
  `text()` still reaches the terminal without a single control character.
"""

from __future__ import annotations

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.color import Color
from textual.filter import LineFilter

from mardonar.safetext import safe, without_controls

Part = str | tuple[str, Style]


def text(*parts: Part) -> Text:
    """`Text.assemble(*parts)` with each string made safe."""
    return Text.assemble(
        *(safe(part) if isinstance(part, str) else (safe(part[0]), part[1]) for part in parts)
    )


class ControlFilter(LineFilter):
    """Drops control characters from rendered segments. They take no column, so the line's
    layout is unchanged; Textual's own escape codes are written after filters, as styles."""

    def apply(self, segments: list[Segment], background: Color) -> list[Segment]:
        kept: list[Segment] = []
        for segment in segments:
            # A control segment is Textual's own (text never renders as one): left as it is.
            cleaned = segment.text if segment.control else without_controls(segment.text)
            if cleaned is segment.text:
                kept.append(segment)
            elif cleaned:
                kept.append(Segment(cleaned, segment.style))
        return kept
