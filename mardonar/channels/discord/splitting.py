"""Cutting narration into Discord messages (2,000 characters at most, Discord's limit).

Cuts fall on the last paragraph break that fits, else the last sentence end, else the last
space; only a single "word" longer than the limit (a URL, a wall of dice) is cut mid-word.
"""

from __future__ import annotations

import re

DISCORD_LIMIT = 2000
"""Most characters in one Discord message."""

_SENTENCE_END = re.compile(r"[.!?…][\"'”’)\]*_]*(?=\s)")
_SPACE = re.compile(r"\s")


def _last_paragraph(window: str) -> int:
    return window.rfind("\n\n")


def _last_sentence(window: str) -> int:
    ends = [match.end() for match in _SENTENCE_END.finditer(window)]
    return ends[-1] if ends else -1


def _last_space(window: str) -> int:
    spaces = [match.start() for match in _SPACE.finditer(window)]
    return spaces[-1] if spaces else -1


def split_message(text: str, limit: int = DISCORD_LIMIT) -> list[str]:
    """`text` as messages of at most `limit` characters each, none empty, whitespace at the
    cuts dropped; the non-space characters of the messages, joined, are those of `text`."""
    if limit < 1:
        raise ValueError("limit must be at least 1")
    rest = text.strip()
    pieces: list[str] = []
    while len(rest) > limit:
        # One character past the limit: a break right after a full-length piece still counts.
        window = rest[: limit + 1]
        cut = -1
        for finder in (_last_paragraph, _last_sentence, _last_space):
            cut = finder(window)
            if 0 < cut <= limit and rest[:cut].strip():
                break
            cut = -1
        if cut <= 0:
            cut = limit
        pieces.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest:
        pieces.append(rest)
    return pieces
