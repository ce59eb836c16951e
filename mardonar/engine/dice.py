"""The session's seeded dice: every roll of the `roll` tool, `/roll` and a skill check.

Roll number *k* of seed *s* always comes from a fresh `random.Random(f"{s}:{k}")`, so a
session that persists only `seed` and `rolls` goes on exactly as if it had never stopped,
and `replay` re-rolls the very same numbers. The notation (grammar, bounds, `DiceError`,
the shape of a result) is `mardonar.dicenotation`'s.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Protocol

from mardonar.dicenotation import DiceExpression, RollResult, parse_dice

__all__ = ["Dice", "RollCounter"]


class RollCounter(Protocol):
    """Where the roll count lives: a session (its `seed` and `rolls` fields), or a Dice's own."""

    seed: int
    rolls: int


@dataclass
class _Counter:
    seed: int
    rolls: int


class Dice:
    """The session's dice: deterministic for a seed, and resumable from `(seed, rolls)`.

    Persist `seed` and `rolls` with the session; `Dice(seed, rolls)` then continues the very
    same sequence. Each roll gets its own `random.Random` so that no hidden generator state
    has to be saved, and so a refused expression (parsed before anything is drawn) consumes
    no roll — a refused tool call never changes state. `Dice.of(session)` counts in the
    session itself, so the session always holds the RNG state and nobody has to copy it back.
    """

    def __init__(self, seed: int, rolls: int = 0) -> None:
        if rolls < 0:
            raise ValueError(f"rolls must be 0 or more, not {rolls}")
        self._counter: RollCounter = _Counter(seed, rolls)

    @classmethod
    def of(cls, counter: RollCounter) -> Dice:
        """Dice that read and advance `counter.rolls` (a session's) on every roll."""
        dice = cls(counter.seed, counter.rolls)
        dice._counter = counter
        return dice

    @property
    def seed(self) -> int:
        return self._counter.seed

    @property
    def rolls(self) -> int:
        return self._counter.rolls

    def __repr__(self) -> str:
        return f"Dice(seed={self.seed!r}, rolls={self.rolls!r})"

    def roll(self, expression: str | DiceExpression) -> RollResult:
        """Roll `expression` (text or already parsed); raise `DiceError` if it is refused."""
        parsed = expression if isinstance(expression, DiceExpression) else parse_dice(expression)
        # A string seed is hashed with SHA-512 by random.Random: stable across runs and
        # platforms, unlike hash() of a tuple, which PYTHONHASHSEED would scramble.
        rng = random.Random(f"{self.seed}:{self.rolls}")
        self._counter.rolls += 1
        return parsed.roll(rng)
