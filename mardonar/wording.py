"""Small wording helpers shared by every front end and report."""

from __future__ import annotations


def plural(count: int, word: str, many: str | None = None) -> str:
    """`1 turn`, `2 turns`, `0 turns`; `many` for a word that is not made plural with -s
    (`plural(2, "entry", "entries")`)."""
    return f"{count} {word if count == 1 else (many or word + 's')}"
