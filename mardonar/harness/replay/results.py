"""What a strict replay found for one transcript (`ReplayResult`), and how paths are shown."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mardonar.errors import UserError

__all__ = ["ReplayResult", "display_path", "unreadable"]


def display_path(path: Path) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:
        return str(path)


@dataclass
class ReplayResult:
    path: str
    spec: str
    seed: int
    turns: int
    notes: list[str] = field(default_factory=list)
    """Information: hashes changed since recording, `/roll`s that could not be replayed."""
    turn: int | None = None
    """The first divergent turn, or None when the replay is identical."""
    diff: list[str] = field(default_factory=list)
    """What differs in that turn, one line per field."""
    end_diff: list[str] = field(default_factory=list)
    """Outcome, XP and items at the end, where they differ."""
    misses: list[str] = field(default_factory=list)
    """Turns where the engine asked the model something the cassette had no answer for."""
    error: str | None = None
    """Why the transcript could not be replayed to its end (its worker process died)."""
    unreadable: str | None = None
    """Why the transcript could not be replayed at all: `FILE:LINE: what is wrong` (a bad
    line, or a spec that cannot be loaded). The other transcripts of the run are still
    replayed; the run exits 2."""
    seconds: float = 0.0

    @property
    def identical(self) -> bool:
        return (
            self.turn is None
            and not self.end_diff
            and not self.misses
            and not self.error
            and not self.unreadable
        )

    @property
    def verdict(self) -> str:
        if self.unreadable:
            return "unreadable"
        return "identical" if self.identical else "diverged"

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "spec": self.spec,
            "seed": self.seed,
            "turns": self.turns,
            "result": self.verdict,
            "notes": self.notes,
            "turn": self.turn,
            "diff": self.diff,
            "end_diff": self.end_diff,
            "misses": self.misses,
            "error": self.error,
            "unreadable": self.unreadable,
            "seconds": round(self.seconds, 4),
        }


def unreadable(path: Path, error: UserError) -> ReplayResult:
    """The result of a transcript that could not be replayed at all."""
    return ReplayResult(path=display_path(path), spec="", seed=0, turns=0, unreadable=str(error))
