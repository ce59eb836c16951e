"""What lint reports: findings with stable codes."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

Severity = Literal["error", "warning"]

# Stable codes: never renumber or reuse one; docs/lint-rules.md has an entry for each
# (tests/test_lint_docs.py keeps the two in step).
CODES: dict[str, tuple[Severity, str]] = {
    "M100": ("error", "file cannot be read"),
    "M101": ("error", "YAML syntax error"),
    "M102": ("error", "duplicate key in one mapping"),
    "M201": ("error", "missing required field"),
    "M202": ("error", "wrong type"),
    "M203": ("error", "invalid value"),
    "M204": ("error", "unknown key"),
    "M301": ("error", "duplicate id"),
    "M302": ("error", "dangling reference"),
    "M303": ("error", "check skill not in the persona"),
    "M304": ("error", "party skill not in the persona"),
    "M305": ("error", "spec id used by two files"),
    "M306": ("warning", "file name differs from the spec id"),
    "M307": ("error", "invalid regular expression"),
    "M308": ("error", "outcome requires an unknown check"),
    "M401": ("warning", "outcome nothing leads to"),
    "M402": ("warning", "check without keywords"),
    "M403": ("warning", "NPC secrets no check can reveal"),
    "M404": ("warning", "prompt over the token budget"),
    "M405": ("warning", "lore file cannot be referenced"),
}


@dataclass(frozen=True, slots=True, order=True)
class Finding:
    """One problem, at the line and column of the YAML node it is about."""

    path: str
    line: int
    col: int
    severity: Severity
    code: str
    message: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Finding:
        return cls(**data)


def finding(path: str, line: int, col: int, code: str, message: str) -> Finding:
    """A finding whose severity comes from its code. Messages quote the author's values,
    which may hold line breaks; escaped here so every finding stays one line."""
    one_line = message.replace("\r", "\\r").replace("\n", "\\n")
    return Finding(path, line, col, CODES[code][0], code, one_line)
