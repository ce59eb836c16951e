"""Small wording helpers shared by every front end and report: plurals, and the one way
long text is cut to a width (`clip`, `one_line`)."""

from __future__ import annotations


def plural(count: int, word: str, many: str | None = None) -> str:
    """`1 turn`, `2 turns`, `0 turns`; `many` for a word that is not made plural with -s
    (`plural(2, "entry", "entries")`)."""
    return f"{count} {word if count == 1 else (many or word + 's')}"


def clip(text: str, width: int, *, ellipsis: str = "…", trim: bool = False) -> str:
    """`text` unchanged when it has at most `width` characters; otherwise its first
    characters followed by `ellipsis`, `width` characters in all. `trim` also drops the
    whitespace the cut leaves before the ellipsis (`"a b…"`, not `"a  …"`; the result is
    then shorter than `width`). When `width` leaves no room for the ellipsis (`width` ≤
    `len(ellipsis)`), the text is cut to `width` without one: the limit (a Discord field,
    a log line) is what must hold. Newlines are kept: `one_line` folds them first."""
    if len(text) <= width:
        return text
    room = width - len(ellipsis)
    if room <= 0:
        return text[: max(width, 0)]
    head = text[:room]
    return (head.rstrip() if trim else head) + ellipsis


def one_line(text: str, width: int, *, ellipsis: str = "…", trim: bool = False) -> str:
    """`text` with every run of whitespace (newlines included) folded to one space and the
    ends stripped, then `clip`ped to `width`."""
    return clip(" ".join(text.split()), width, ellipsis=ellipsis, trim=trim)
