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
- `visible(text)` shows the same characters as escapes (`\\x1b`) instead, for reports
  whose reader wants to see what a file holds.
"""

from __future__ import annotations

import re

_SEQUENCE = re.compile(
    r"""
    (?:\x1b\[|\x9b)[\x30-\x3f]*[\x20-\x2f]*[\x40-\x7e]?        # CSI: parameters, final byte
  | (?:\x1b[\]PX^_]|[\x9d\x90\x98\x9e\x9f])                      # OSC, DCS, SOS, PM, APC ...
    [^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?                        # ... up to BEL or ST
  | \x1b[\x20-\x2f]*[\x30-\x7e]?                                 # any other ESC sequence
    """,
    re.VERBOSE,
)
"""An escape sequence as ECMA-48 frames it. An unterminated one (a string cut mid-way)
runs to the end of the text: it is dropped rather than shown half."""

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
"""C0 controls but tab (0x09) and newline (0x0a), DEL, and the C1 range."""


def safe(text: str) -> str:
    """`text` without escape sequences and control characters (newline and tab kept)."""
    if not _CONTROL.search(text):  # the common case: nothing to do, no copy
        return text
    text = text.replace("\r\n", "\n")
    return _CONTROL.sub("", _SEQUENCE.sub("", text))


def visible(text: str) -> str:
    """`text` with each control character but newline and tab written as an escape."""
    if not _CONTROL.search(text):
        return text
    return _CONTROL.sub(lambda match: f"\\x{ord(match.group()):02x}", text)
