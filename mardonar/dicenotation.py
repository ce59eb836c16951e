"""Dice notation: the grammar, its bounds, and what a roll of a parsed expression looks like.

The `roll` tool, `/roll`, every skill check and lint's check of a test plan's `/roll` read
expressions here. It sits below every layer (it imports nothing of mardonar) so that lint
can refuse a bad `/roll` with the very parser the engine uses; the seeded roller that owns
a session's roll count is `mardonar.engine.dice.Dice`.

**Bounded.** Expressions come from the model or a player, so they are read by a small
grammar with hard limits (100 dice, 1000 sides, 20 terms, 100 characters). Anything else is
a `DiceError` — a `ValueError` with one line naming the problem and the accepted syntax —
never a hang, a huge allocation or another exception type.

Grammar (case-insensitive; spaces are tolerated between the parts)::

    expression := ["+" | "-"] term (("+" | "-") term)* [" adv" | " dis"]
    term       := [N] "d" (M | "%") [("kh" | "kl" | "dh" | "dl") [K]]  |  integer

`d%` is `d100`; `k` alone means `kh`; a keep/drop without K means 1. The suffix `adv`/`dis`
(or `advantage`/`disadvantage`) is only valid with a single `d20` term: `d20+5 adv` rolls
`2d20kh1+5`. Dropped dice are shown in parentheses: `4d6kh3 [6, 5, 3, (1)] = 14`.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Any, Literal, cast

__all__ = [
    "MAX_DICE",
    "MAX_LENGTH",
    "MAX_NUMBER",
    "MAX_SIDES",
    "MAX_TERMS",
    "DiceError",
    "DiceExpression",
    "DiceTerm",
    "DieRoll",
    "RollResult",
    "TermRoll",
    "parse_dice",
]

MAX_DICE = 100
"""Most dice one expression may roll (an `adv` d20 counts as two)."""
MAX_SIDES = 1000
"""Most sides a die may have."""
MAX_TERMS = 20
"""Most terms (dice groups and numbers) in one expression."""
MAX_LENGTH = 100
"""Longest expression accepted, in characters."""
MAX_NUMBER = 10_000
"""Largest plain number: a modifier this big is already a typo, and it keeps totals small."""

SYNTAX = "NdM like 2d6+3, 4d6kh3 or d20 adv"
"""The accepted syntax, quoted at the end of every `DiceError`."""

KeepMode = Literal["kh", "kl", "dh", "dl"]
Advantage = Literal["adv", "dis"]


class DiceError(ValueError):
    """An expression that is not valid dice syntax or exceeds a bound.

    `str(error)` is one line, e.g. ``bad dice expression '2d': 'd' must be followed by the
    number of sides; expected NdM like 2d6+3, 4d6kh3 or d20 adv`` — fit to show a player or
    to hand back to the model as a tool error.
    """

    def __init__(self, expression: str, problem: str | None = None) -> None:
        self.expression = expression
        self.problem = problem
        shown = expression if len(expression) <= 40 else expression[:37] + "..."
        # repr() keeps the message on one line even when the input holds newlines.
        reason = f"{problem}; " if problem else ""
        super().__init__(f"bad dice expression {shown!r}: {reason}expected {SYNTAX}")


# ---------------------------------------------------------------------------- parsing

_SUFFIX = re.compile(
    r"(?P<body>.*?)\s*(?P<mode>advantage|adv|disadvantage|dis)", re.ASCII | re.DOTALL
)
# ASCII only: `\d` would accept Arabic-Indic digits that int() happily converts.
_TERM = re.compile(
    r"(?:(?P<count>[0-9]+)\s*)?d\s*(?P<sides>[0-9]+|%)"
    r"(?:\s*(?P<mode>kh|kl|dh|dl|k)\s*(?P<keep>[0-9]+)?)?"
    r"|(?P<number>[0-9]+)",
    re.ASCII,
)
_SPACE = re.compile(r"\s*", re.ASCII)


@dataclass(frozen=True)
class DiceTerm:
    """One group of dice, `NdM` with an optional keep/drop, as parsed (not yet rolled)."""

    count: int
    sides: int
    sign: int = 1
    keep: KeepMode | None = None
    keep_count: int = 0
    advantage: Advantage | None = None
    """Set when this term is the `d20` of an `adv`/`dis` expression (then 2d20kh1/kl1)."""

    @property
    def notation(self) -> str:
        """The normalized term as written in an expression: `4d6kh3`, `d20` (for adv)."""
        if self.advantage:
            return "d20"
        count = "" if self.count == 1 else str(self.count)
        keep = f"{self.keep}{self.keep_count}" if self.keep else ""
        return f"{count}d{self.sides}{keep}"

    @property
    def label(self) -> str:
        """The term as shown in a roll's detail: like `notation`, but `d20 adv` for adv."""
        return f"d20 {self.advantage}" if self.advantage else self.notation

    @property
    def kept(self) -> int:
        """How many of the dice count towards the total."""
        if self.keep in ("kh", "kl"):
            return self.keep_count
        if self.keep in ("dh", "dl"):
            return self.count - self.keep_count
        return self.count

    def keep_flags(self, values: list[int]) -> list[bool]:
        """Which of `values` (in roll order) count; ties keep or drop the earliest die."""
        if self.keep is None:
            return [True] * len(values)
        highest_first = sorted(range(len(values)), key=lambda i: (-values[i], i))
        lowest_first = sorted(range(len(values)), key=lambda i: (values[i], i))
        if self.keep == "kh":
            kept = highest_first[: self.keep_count]
        elif self.keep == "kl":
            kept = lowest_first[: self.keep_count]
        elif self.keep == "dh":
            kept = highest_first[self.keep_count :]
        else:
            kept = lowest_first[self.keep_count :]
        chosen = set(kept)
        return [i in chosen for i in range(len(values))]


@dataclass(frozen=True)
class DiceExpression:
    """A parsed, validated expression: roll it with `roll(rng)` or through `Dice.roll`."""

    text: str
    """The normalized expression: lower case, no spaces, `d%` → `d100`, `1d20` → `d20`."""
    parts: tuple[DiceTerm | int, ...]
    """Terms in written order; plain numbers are signed ints."""
    advantage: Advantage | None = None

    @property
    def terms(self) -> tuple[DiceTerm, ...]:
        """The dice terms only."""
        return tuple(part for part in self.parts if isinstance(part, DiceTerm))

    @property
    def modifier(self) -> int:
        """The signed sum of the plain numbers."""
        return sum(part for part in self.parts if isinstance(part, int))

    def roll(self, rng: random.Random) -> RollResult:
        """Throw the dice with `rng` (use `Dice.roll` for the seeded, resumable sequence)."""
        rolled: list[TermRoll] = []
        pieces: list[str] = []
        total = 0
        for index, part in enumerate(self.parts):
            if isinstance(part, int):
                sign, shown = (-1 if part < 0 else 1), str(abs(part))
                total += part
            else:
                values = [rng.randint(1, part.sides) for _ in range(part.count)]
                flags = part.keep_flags(values)
                term = TermRoll(
                    term=part.label,
                    sign=part.sign,
                    sides=part.sides,
                    dice=tuple(DieRoll(v, k) for v, k in zip(values, flags, strict=True)),
                )
                rolled.append(term)
                sign, shown = part.sign, f"{part.label} [{term.shown_dice}]"
                total += term.subtotal
            if index == 0:
                pieces.append(f"-{shown}" if sign < 0 else shown)
            else:
                pieces.append(f" - {shown}" if sign < 0 else f" + {shown}")
        natural = None
        if len(rolled) == 1 and rolled[0].sides == 20 and rolled[0].sign > 0:
            kept = rolled[0].kept
            natural = kept[0] if len(kept) == 1 else None
        return RollResult(
            expression=self.text,
            terms=tuple(rolled),
            modifier=self.modifier,
            total=total,
            detail="".join(pieces) + f" = {total}",
            natural=natural,
        )


def parse_dice(expression: str) -> DiceExpression:
    """Parse and validate `expression`; raise `DiceError` for anything not accepted."""
    if not isinstance(expression, str):
        raise DiceError(repr(expression), "not text")
    if len(expression) > MAX_LENGTH:
        raise DiceError(expression, f"longer than {MAX_LENGTH} characters")
    text = expression.strip()
    if not text.isascii():
        raise DiceError(expression, "only letters, digits, +, - and % are allowed")
    text = text.lower()
    advantage: Advantage | None = None
    suffix = _SUFFIX.fullmatch(text)
    if suffix:
        text = suffix["body"]
        advantage = "adv" if suffix["mode"].startswith("adv") else "dis"
    if not text:
        raise DiceError(expression, "nothing to roll")

    offset = len(expression) - len(expression.lstrip())  # for 1-based positions in errors
    parts: list[DiceTerm | int] = []
    pos = 0
    sign = 1
    if text[0] in "+-":
        sign = -1 if text[0] == "-" else 1
        pos = _skip_space(text, 1)
    while True:
        match = _TERM.match(text, pos)
        if match is None:
            raise _unexpected(expression, text, pos, offset)
        part = _make_part(expression, match, sign)
        parts.append(part)
        if len(parts) > MAX_TERMS:
            raise DiceError(expression, f"at most {MAX_TERMS} terms")
        pos = _skip_space(text, match.end())
        if pos == len(text):
            break
        if text[pos] not in "+-":
            raise _missing_operator(
                expression, text, pos, offset, after_number=isinstance(part, int)
            )
        sign = -1 if text[pos] == "-" else 1
        pos = _skip_space(text, pos + 1)

    dice = sum(part.count for part in parts if isinstance(part, DiceTerm))
    if dice > MAX_DICE:
        raise DiceError(expression, f"at most {MAX_DICE} dice in total (got {dice})")
    if advantage:
        parts = _apply_advantage(expression, parts, advantage)
    return DiceExpression(
        text=_normalize(parts, advantage), parts=tuple(parts), advantage=advantage
    )


def _skip_space(text: str, pos: int) -> int:
    match = _SPACE.match(text, pos)
    return match.end() if match else pos


_NO_SIDES = "'d' must be followed by the number of sides (d6, d20, d%)"


def _unexpected(expression: str, text: str, pos: int, offset: int) -> DiceError:
    """Where a term should start but none does."""
    if pos >= len(text):
        return DiceError(expression, "it ends where a term should follow")
    if text[pos] == "d":
        return DiceError(expression, _NO_SIDES)
    return DiceError(expression, f"unexpected {text[pos]!r} at character {pos + offset + 1}")


def _missing_operator(
    expression: str, text: str, pos: int, offset: int, *, after_number: bool
) -> DiceError:
    """Where a term has ended and neither + nor - follows it."""
    if after_number and text[pos] == "d":  # `2d`, `3dx`: the sides are missing
        return DiceError(expression, _NO_SIDES)
    return DiceError(
        expression, f"expected + or - at character {pos + offset + 1}, found {text[pos]!r}"
    )


def _make_part(expression: str, match: re.Match[str], sign: int) -> DiceTerm | int:
    if match["number"] is not None:
        number = int(match["number"])
        if number > MAX_NUMBER:
            raise DiceError(expression, f"numbers above {MAX_NUMBER} are not allowed")
        return sign * number
    count = int(match["count"]) if match["count"] else 1
    sides = 100 if match["sides"] == "%" else int(match["sides"])
    if count < 1:
        raise DiceError(expression, "a term needs at least one die")
    if count > MAX_DICE:
        raise DiceError(expression, f"at most {MAX_DICE} dice in total (got {count})")
    if not 1 <= sides <= MAX_SIDES:
        raise DiceError(expression, f"dice have 1 to {MAX_SIDES} sides (got d{sides})")
    mode = match["mode"]
    if mode is None:
        return DiceTerm(count=count, sides=sides, sign=sign)
    keep = cast(KeepMode, "kh" if mode == "k" else mode)
    keep_count = int(match["keep"]) if match["keep"] else 1
    written = f"{count}d{sides}{keep}{keep_count}"
    if keep in ("kh", "kl") and not 1 <= keep_count <= count:
        raise DiceError(expression, f"{written} must keep 1 to {count} dice")
    if keep in ("dh", "dl") and not keep_count < count:
        raise DiceError(expression, f"{written} must drop fewer than {count} dice")
    return DiceTerm(count=count, sides=sides, sign=sign, keep=keep, keep_count=keep_count)


def _apply_advantage(
    expression: str, parts: list[DiceTerm | int], advantage: Advantage
) -> list[DiceTerm | int]:
    terms = [part for part in parts if isinstance(part, DiceTerm)]
    plain_d20 = DiceTerm(count=1, sides=20)
    if len(terms) != 1 or terms[0] != plain_d20:
        raise DiceError(expression, f"{advantage} only applies to a single d20, as in d20+5 adv")
    rolled_twice = DiceTerm(
        count=2,
        sides=20,
        keep="kh" if advantage == "adv" else "kl",
        keep_count=1,
        advantage=advantage,
    )
    return [rolled_twice if isinstance(part, DiceTerm) else part for part in parts]


def _normalize(parts: list[DiceTerm | int], advantage: Advantage | None) -> str:
    pieces: list[str] = []
    for index, part in enumerate(parts):
        if isinstance(part, int):
            negative, body = part < 0, str(abs(part))
        else:
            negative, body = part.sign < 0, part.notation
        pieces.append(("-" if negative else "" if index == 0 else "+") + body)
    return "".join(pieces) + (f" {advantage}" if advantage else "")


# ---------------------------------------------------------------------------- results


@dataclass(frozen=True)
class DieRoll:
    """One die as it landed, and whether it counts towards the total."""

    value: int
    kept: bool = True


@dataclass(frozen=True)
class TermRoll:
    """One rolled dice term."""

    term: str
    """The term as shown: `4d6kh3`, `d20 adv`."""
    sign: int
    sides: int
    dice: tuple[DieRoll, ...]
    """Every die in roll order, dropped ones included."""

    @property
    def kept(self) -> tuple[int, ...]:
        """The values that count, in roll order."""
        return tuple(die.value for die in self.dice if die.kept)

    @property
    def subtotal(self) -> int:
        """The signed sum of the kept dice."""
        return self.sign * sum(self.kept)

    @property
    def shown_dice(self) -> str:
        """`6, 5, 3, (1)`: dropped dice in parentheses, plain text for every channel."""
        return ", ".join(str(d.value) if d.kept else f"({d.value})" for d in self.dice)


@dataclass(frozen=True)
class RollResult:
    """The outcome of one roll: what the tool returns and the transcript records."""

    expression: str
    """The normalized expression (`d20+5 adv`)."""
    terms: tuple[TermRoll, ...]
    """The dice terms, with every die."""
    modifier: int
    """The signed sum of the plain numbers."""
    total: int
    detail: str
    """Readable one-liner: `d20 adv [17, (4)] + 5 = 22`."""
    natural: int | None = None
    """The kept d20 when the expression is a single d20 term (natural 1s and 20s), else None."""

    def __str__(self) -> str:
        return self.detail

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (what the `roll` tool returns and the transcript stores)."""
        return {
            "expression": self.expression,
            "terms": [
                {
                    "term": term.term,
                    "sign": term.sign,
                    "sides": term.sides,
                    "dice": [{"value": die.value, "kept": die.kept} for die in term.dice],
                    "subtotal": term.subtotal,
                }
                for term in self.terms
            ],
            "modifier": self.modifier,
            "total": self.total,
            "natural": self.natural,
            "detail": self.detail,
        }
