"""Text from a model or a player, made safe for a terminal or a chat to show.

A model's narration, a player's line or a transcript's field can carry terminal control
sequences: `ESC ] 0 ; title BEL` retitles the window, `ESC [ 2 J` clears it, OSC 52 writes
the clipboard, `ESC [ ? 1049 h` switches to the alternate screen, and the 8-bit C1 forms
(`0x9b` for CSI, `0x9d` for OSC) do the same on terminals that honour them. Every front end
(the plain REPL, the TUI, Discord, lint and replay reports) passes such text through here
before showing it; the transcript keeps the original (JSON escapes it).

- `safe(text)` drops every escape sequence whole (so no `]0;pwned` residue is shown),
  then every other C0 control but newline and tab, DEL and every C1 control. A carriage
  return is dropped too: alone, it lets a line overwrite what was printed before it.
- `without_controls(text)` drops the control characters only (a last guard where text is
  already laid out, such as the TUI's rendered lines).
- `SafeStream` does what `safe()` does for text that arrives in pieces (streamed
  narration), where a sequence can start in one piece and end in the next.
- `visible(text)` shows the same characters as escapes (`\\x1b`) instead, for reports
  whose reader wants to see what a file holds; `json_safe` does it for JSON text.
"""

from __future__ import annotations

import re

_SEQUENCE = re.compile(
    r"""
    (?:\x1b\[|\x9b)[\x30-\x3f]*[\x20-\x2f]*(?P<csi_end>[\x40-\x7e])?  # CSI: parameters, final
  | (?:\x1b[\]PX^_]|[\x9d\x90\x98\x9e\x9f])                            # OSC, DCS, SOS, PM, APC
    [^\x07\x1b\x9c\n]*(?P<string_end>\x07|\x1b\\|\x9c)?                # ... up to BEL or ST
  | \x1b[\x20-\x2f]*(?P<esc_end>[\x30-\x7e])?                          # any other ESC sequence
    """,
    re.VERBOSE,
)
"""An escape sequence as ECMA-48 frames it. An unterminated one (a string cut mid-way) is
dropped rather than shown half: a control string up to the end of its line (so a stray
`ESC ]` costs one line of narration, not the rest of the reply), any other sequence as far
as it got."""

_ENDS = ("csi_end", "string_end", "esc_end")

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
"""C0 controls but tab (0x09) and newline (0x0a), DEL, and the C1 range."""

_JSON_RAW = re.compile(r"[\x7f-\x9f]")
"""What `json.dumps(..., ensure_ascii=False)` leaves raw of the controls: DEL and C1 (it
escapes C0 itself)."""


def safe(text: str) -> str:
    """`text` without escape sequences and control characters (newline and tab kept)."""
    if not _CONTROL.search(text):  # the common case: nothing to do, no copy
        return text
    return _CONTROL.sub("", _SEQUENCE.sub("", text))


def without_controls(text: str) -> str:
    """`text` with only its control characters dropped, each of which takes no column: for
    text already laid out on a screen, where dropping a sequence's printable rest would
    shift what follows. What `safe()` missed (text that never passed through it) still
    reaches no terminal as a control."""
    if not _CONTROL.search(text):
        return text
    return _CONTROL.sub("", text)


class SafeStream:
    """`safe()` for text shown piece by piece as it arrives.

    A piece that ends inside an escape sequence (`ESC ] 0 ; pw` | `ned BEL`) keeps the
    sequence back until the piece that finishes it, so nothing of it is shown, and the
    pieces shown join up to exactly `safe()` of the whole text. `end()` closes the text:
    a sequence still open then is dropped, as `safe()` drops it.
    """

    def __init__(self) -> None:
        self._held = ""

    def feed(self, piece: str) -> str:
        """What of `piece` (after what was held back) can be shown now."""
        text, self._held = self._held + piece, ""
        if not _CONTROL.search(text):
            return text
        last = None
        for match in _SEQUENCE.finditer(text):
            last = match
        if last is not None and last.end() == len(text) and not any(last.group(g) for g in _ENDS):
            # It may go on in the next piece: hold it back until it does or the text ends.
            self._held, text = text[last.start() :], text[: last.start()]
        return safe(text)

    def end(self) -> str:
        """The rest when the text is complete (an unfinished sequence shows nothing)."""
        held, self._held = self._held, ""
        return safe(held)


def visible(text: str) -> str:
    """`text` with each control character but newline and tab written as an escape."""
    if not _CONTROL.search(text):
        return text
    return _CONTROL.sub(lambda match: f"\\x{ord(match.group()):02x}", text)


def json_safe(dumped: str) -> str:
    """JSON text (from `json.dumps(..., ensure_ascii=False)`) with DEL and C1 written as
    `\\u` escapes: still the same JSON, but nothing in it a terminal acts on. Outside
    strings JSON has no such characters, so every one replaced is inside a string."""
    return _JSON_RAW.sub(lambda match: f"\\u{ord(match.group()):04x}", dumped)
