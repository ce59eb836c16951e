"""What the reference rules share: reading a file's raw YAML data, and placing a finding.

The rules read the raw data rather than the validated model, so a file with a typo in one
place still gets its dangling references reported elsewhere (see rules.py).
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import dataclass
from typing import Any

from mardonar.content.lint.findings import Finding, finding
from mardonar.content.lint.schema_errors import suggest
from mardonar.content.yamlpos import Located, Mark, Path


def entries(data: Any, key: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """(index, mapping) for each mapping in the list at `key`."""
    value = data.get(key) if isinstance(data, dict) else None
    if isinstance(value, list):
        for index, entry in enumerate(value):
            if isinstance(entry, dict):
                yield index, entry


def strings(value: Any) -> list[tuple[int, str]]:
    """(index, text) for each string of a list; nothing for anything else."""
    if isinstance(value, list):
        return [(i, v) for i, v in enumerate(value) if isinstance(v, str)]
    return []


def did_you_mean(word: str, choices: Collection[str]) -> str:
    """`; did you mean 'x'?` for the closest of `choices`, or nothing when none is close."""
    close = suggest(word, sorted(choices))
    return f"; did you mean '{close}'?" if close else ""


@dataclass(slots=True)
class Flagger:
    """Adds one file's findings to `found`, each at the line and column of a YAML node."""

    file: str
    located: Located
    found: list[Finding]

    def at(self, mark: Mark, code: str, message: str) -> None:
        self.found.append(finding(self.file, mark.line, mark.col, code, message))

    def value(self, path: Path, code: str, message: str) -> None:
        """At the value of `path` (`("checks", 0, "npc")`)."""
        self.at(self.located.value_mark(path), code, message)

    def key(self, path: Path, code: str, message: str) -> None:
        """At the key of `path`: for a mapping's entry, or a section too long as a whole."""
        self.at(self.located.key_mark(path), code, message)
