"""HTML entities a server put into the model's text, taken out again.

llama-cpp-python's `chatml-function-calling` format renders the prompt with Jinja's HTML
autoescape on, so the model reads `I&#39;m` and writes it back; fed back the next turn, it
becomes `I&amp;#39;m`. A reply is decoded only when it clearly carries such escaping, since
"R&D" or a literal "&amp;" is text a model may mean:

- it is escaped when it holds an escaped quote (`&#39;` `&#34;` `&#x27;` `&#x22;`
  `&quot;` `&apos;`: an escaper's output, which no narration writes by choice) or an
  escaped entity (`&amp;#39;`);
- then every entity in it with its closing `;` is decoded (named ones HTML knows, numeric
  ones), and an escaped entity loses its extra layer first. A bare `&` stays as it is.

Streamed text is decoded as it goes (`EntityStream`): an entity cut across two deltas is
held back until it is whole, and text from the first entity on is held back until the
reply shows it is escaped (then decoded) or ends without a sign (then passed on as is).
"""

from __future__ import annotations

import html
import json
import re
from typing import Any

_MARKER = re.compile(r"&(?:#0*3[49]|#[xX]0*2[27]|quot|apos|amp;#\d{1,7});")
_ENTITY = re.compile(r"&(?:#\d{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")
_DOUBLE = re.compile(r"&amp;(?=#\d{1,7};|#[xX][0-9a-fA-F]{1,6};)")
_PARTIAL = re.compile(r"&(?:amp;)?(?:#\d{0,7}|#[xX][0-9a-fA-F]{0,6}|[A-Za-z][A-Za-z0-9]{0,31})?\Z")
"""The start of an entity at the very end of a delta: `&`, `&#3`, `&am`, `&amp;#3`."""


def escaped(text: str) -> bool:
    """Whether `text` clearly came through an HTML escaper (see the module doc)."""
    return _MARKER.search(text) is not None


def decode(text: str) -> str:
    """`text` with its entities decoded; call only for text that is `escaped`."""
    return _ENTITY.sub(lambda m: html.unescape(m.group(0)), _DOUBLE.sub("&", text))


def decode_reply(text: str) -> str:
    """A whole reply: decoded when it is clearly escaped, else unchanged."""
    return decode(text) if escaped(text) else text


def decode_arguments(arguments: str) -> str:
    """Tool-call arguments (JSON text) with escaped string values decoded. Decoded as JSON
    values, not as text: a `&quot;` turned into `"` inside a JSON string would break it."""
    if not escaped(arguments):
        return arguments
    try:
        value = json.loads(arguments)
    except (ValueError, RecursionError):
        return arguments
    return json.dumps(_decode_values(value), ensure_ascii=False)


def _decode_values(value: Any) -> Any:
    if isinstance(value, str):
        return decode(value)
    if isinstance(value, list):
        return [_decode_values(item) for item in value]
    if isinstance(value, dict):
        return {decode(str(key)): _decode_values(item) for key, item in value.items()}
    return value


class EntityStream:
    """Decodes one streamed reply delta by delta (see the module doc)."""

    def __init__(self) -> None:
        self.escaped = False
        self._held = ""

    def feed(self, text: str) -> str:
        """What of `text` (after what was held back) can be handed on now."""
        buffer = self._held + text
        if not self.escaped and _MARKER.search(buffer):
            self.escaped = True
        if self.escaped:
            cut = _tail(buffer)
            self._held = buffer[cut:]
            return decode(buffer[:cut])
        first = _ENTITY.search(buffer)
        cut = first.start() if first is not None else _tail(buffer)
        self._held = buffer[cut:]
        return buffer[:cut]

    def end(self) -> str:
        """The rest, once the reply is complete."""
        held, self._held = self._held, ""
        return decode(held) if self.escaped else held


def _tail(text: str) -> int:
    """Where an entity that may still be arriving starts (len(text) when none)."""
    match = _PARTIAL.search(text[-40:])
    return len(text) - len(text[-40:]) + match.start() if match is not None else len(text)
