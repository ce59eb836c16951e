"""The strict replay report: text (for a terminal), JSON and GitHub annotations. Transcript
text in it passes through `visible`, so an escape sequence recorded in a transcript is shown,
never obeyed."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol, TypeVar

from mardonar import safetext
from mardonar.harness.replay.results import ReplayResult
from mardonar.safetext import visible
from mardonar.wording import plural

__all__ = [
    "json_safe",
    "render_github",
    "render_json",
    "render_text",
    "summary",
    "unreadable_lines",
]


def render_text(results: Sequence[ReplayResult]) -> str:
    """The report; transcript text in it passes through `visible`, so an escape sequence
    recorded in a transcript is shown, never obeyed. Unreadable transcripts are left to
    the error lines (`unreadable_lines`) but counted in the summary."""
    lines: list[str] = []
    for r in results:
        if r.unreadable:
            continue
        notes = f" ({'; '.join(r.notes)})" if r.notes else ""
        if r.identical:
            lines.append(f"{r.path}: identical, {plural(r.turns, 'turn')}{notes}")
            continue
        if r.error:
            lines.append(f"{r.path}: engine error: {r.error}{notes}")
            continue
        lines.append(f"{r.path}: diverged at turn {r.turn}{notes}")
        lines += [f"  {line}" for line in r.diff]
        lines += [f"  {line}" for line in r.misses]
        if r.end_diff:
            lines.append("  at the end:")
            lines += [f"    {line}" for line in r.end_diff]
    lines.append(summary(results))
    return "\n".join(visible(line) for line in lines)


def unreadable_lines(messages: Iterable[str | None]) -> list[str]:
    """`mardonar: FILE:LINE: what is wrong` for each transcript that could not be read (the
    results' `unreadable`, None for the others)."""
    return [f"mardonar: {visible(message)}" for message in messages if message]


class Reported(Protocol):
    """One transcript's result, of strict replay (`ReplayResult`) or `--live` (`LiveResult`)."""

    @property
    def unreadable(self) -> str | None: ...

    def to_dict(self) -> dict[str, Any]: ...


R = TypeVar("R", bound=Reported)


def counts(
    results: Sequence[R], words: tuple[str, str], same: Callable[[R], bool]
) -> dict[str, int]:
    """How many transcripts replayed the `same`, how many not, and how many could not be
    read, under the report's own `words` for the first two ("identical", "diverged")."""
    agreed = sum(1 for r in results if same(r))
    bad = sum(1 for r in results if r.unreadable)
    return {words[0]: agreed, words[1]: len(results) - agreed - bad, "unreadable": bad}


def counts_line(counted: dict[str, int]) -> str:
    """`3 identical, 1 diverged` (`, 1 unreadable` only when one was)."""
    (same_word, same), (differ_word, differ), (_, bad) = counted.items()
    return f"{same} {same_word}, {differ} {differ_word}" + (f", {bad} unreadable" if bad else "")


def counts_json(results: Sequence[Reported], counted: dict[str, int]) -> str:
    """The counts, then every transcript's result."""
    return json_safe({**counted, "transcripts": [r.to_dict() for r in results]})


def _strict(results: Sequence[ReplayResult]) -> dict[str, int]:
    return counts(results, ("identical", "diverged"), lambda r: r.identical)


def summary(results: Sequence[ReplayResult]) -> str:
    return counts_line(_strict(results))


def render_json(results: Sequence[ReplayResult]) -> str:
    return counts_json(results, _strict(results))


def json_safe(document: Any) -> str:
    """`document` as indented JSON that is safe to print (safetext.json_safe)."""
    return safetext.json_safe(json.dumps(document, indent=2, ensure_ascii=False))


def _escape(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def render_github(results: Sequence[ReplayResult]) -> str:
    lines: list[str] = []
    for r in results:
        if r.identical:
            lines.append(f"{r.path}: identical, {plural(r.turns, 'turn')}")
            continue
        if r.unreadable:
            lines.append(
                f"::error file={r.path},title=unreadable transcript::{_escape(r.unreadable)}"
            )
            continue
        if r.error:
            lines.append(f"::error file={r.path},title=replay engine error::{_escape(r.error)}")
            continue
        body = "\n".join(r.diff + r.misses + [f"at the end: {x}" for x in r.end_diff] + r.notes)
        lines.append(
            f"::error file={r.path},title=replay diverged at turn {r.turn}::{_escape(body)}"
        )
    lines.append(summary(results))
    return "\n".join(visible(line) for line in lines)
