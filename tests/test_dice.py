"""Dice: the grammar, its bounds, seeded and resumable rolls, and the shape of a result."""

from __future__ import annotations

import json
import random
from collections import Counter

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from mardonar.dicenotation import (
    MAX_DICE,
    MAX_LENGTH,
    MAX_SIDES,
    MAX_TERMS,
    DiceError,
    DiceExpression,
    RollResult,
    parse_dice,
)
from mardonar.engine.dice import Dice


class ScriptedRandom(random.Random):
    """Lands the dice on the given values, in order, to check kept/dropped and the detail."""

    def __init__(self, values: list[int]) -> None:
        super().__init__(0)
        self.values = list(values)

    def randint(self, a: int, b: int) -> int:
        value = self.values.pop(0)
        assert a <= value <= b
        return value


def scripted(expression: str, values: list[int]) -> RollResult:
    return parse_dice(expression).roll(ScriptedRandom(values))


class SameFace(random.Random):
    """Lands every die on its lowest face, or on its highest."""

    def __init__(self, *, highest: bool) -> None:
        super().__init__(0)
        self.highest = highest

    def randint(self, a: int, b: int) -> int:
        return b if self.highest else a


def extremes(expression: str | DiceExpression) -> tuple[int, int]:
    """The lowest and highest totals a roll can have: each term at its own extreme (a
    subtracted term is lowest when its dice land high)."""
    parsed = expression if isinstance(expression, DiceExpression) else parse_dice(expression)
    low, high = parsed.roll(SameFace(highest=False)), parsed.roll(SameFace(highest=True))
    pairs = [(a.subtotal, b.subtotal) for a, b in zip(low.terms, high.terms, strict=True)]
    return (
        low.modifier + sum(min(pair) for pair in pairs),
        low.modifier + sum(max(pair) for pair in pairs),
    )


def dice_thrown(expression: str) -> int:
    return sum(len(term.dice) for term in Dice(0).roll(expression).terms)


# ------------------------------------------------------------------------------ grammar


@pytest.mark.parametrize(
    ("expression", "normalized", "minimum", "maximum", "dice"),
    [
        ("d20", "d20", 1, 20, 1),
        ("1d20", "d20", 1, 20, 1),
        ("2d6+3", "2d6+3", 5, 15, 2),
        ("2D6 + 3", "2d6+3", 5, 15, 2),
        ("  4d6kh3  ", "4d6kh3", 3, 18, 4),
        ("4d6 kh 3", "4d6kh3", 3, 18, 4),
        ("2d20kl1", "2d20kl1", 1, 20, 2),
        ("4d6dl1", "4d6dl1", 3, 18, 4),
        ("4d6dh1", "4d6dh1", 3, 18, 4),
        ("2d20k", "2d20kh1", 1, 20, 2),
        ("2d20kh", "2d20kh1", 1, 20, 2),
        ("d%", "d100", 1, 100, 1),
        ("2d%+1", "2d100+1", 3, 201, 2),
        ("3d6-2", "3d6-2", 1, 16, 3),
        ("-d4+10", "-d4+10", 6, 9, 1),
        ("d20-d4", "d20-d4", -3, 19, 2),
        ("5", "5", 5, 5, 0),
        ("1d1", "d1", 1, 1, 1),
        ("d20 adv", "d20 adv", 1, 20, 2),
        ("d20 ADVANTAGE", "d20 adv", 1, 20, 2),
        ("d20+5 adv", "d20+5 adv", 6, 25, 2),
        ("d20 + 5 dis", "d20+5 dis", 6, 25, 2),
        ("1d20-1 disadvantage", "d20-1 dis", 0, 19, 2),
        ("3+d20adv", "3+d20 adv", 4, 23, 2),
        ("d6+d8+d10+2", "d6+d8+d10+2", 5, 26, 3),
    ],
)
def test_grammar(expression: str, normalized: str, minimum: int, maximum: int, dice: int) -> None:
    parsed = parse_dice(expression)
    assert parsed.text == normalized
    assert extremes(parsed) == (minimum, maximum)
    assert dice_thrown(expression) == dice
    assert parse_dice(parsed.text) == parsed  # the normalized text means the same


@pytest.mark.parametrize(
    ("expression", "problem"),
    [
        ("", "nothing to roll"),
        ("   ", "nothing to roll"),
        ("adv", "nothing to roll"),
        ("2d", "number of sides"),
        ("d", "number of sides"),
        ("dd6", "number of sides"),
        ("2d6+", "ends where a term should follow"),
        ("+", "ends where a term should follow"),
        ("2d6++3", "unexpected '+'"),
        ("2d6 3", "expected + or -"),
        ("4d6d1", "expected + or -"),
        ("2x6", "expected + or -"),
        ("fireball", "unexpected 'f'"),
        ("2d6*2", "expected + or -"),
        ("(2d6)", "unexpected '('"),
        ("2d6/2", "expected + or -"),
        ("1.5d6", "expected + or -"),
        ("d20 ádv", "only letters, digits"),
        ("٣d6", "only letters, digits"),  # Arabic-Indic three: int() would accept it
        ("0d6", "at least one die"),
        ("d0", "1 to 1000 sides"),
        ("d1001", "1 to 1000 sides"),
        ("101d6", "at most 100 dice"),
        ("99999999999999999999d6", "at most 100 dice"),
        ("60d6+41d6", "at most 100 dice in total (got 101)"),
        ("2d6kh3", "must keep 1 to 2 dice"),
        ("2d6kh0", "must keep 1 to 2 dice"),
        ("2d6dl2", "must drop fewer than 2 dice"),
        ("d20+20000", "numbers above 10000"),
        ("2d20 adv", "only applies to a single d20"),
        ("d20+d4 adv", "only applies to a single d20"),
        ("d6 adv", "only applies to a single d20"),
        ("-d20 dis", "only applies to a single d20"),
        ("2d20kh1 adv", "only applies to a single d20"),
        ("+".join(["1"] * (MAX_TERMS + 1)), f"at most {MAX_TERMS} terms"),
        ("d20" + " " * MAX_LENGTH, f"longer than {MAX_LENGTH} characters"),
    ],
)
def test_refused_expressions_say_why_in_one_line(expression: str, problem: str) -> None:
    with pytest.raises(DiceError) as caught:
        parse_dice(expression)
    message = str(caught.value)
    assert message.startswith("bad dice expression ")
    assert problem in message
    assert message.endswith("expected NdM like 2d6+3, 4d6kh3 or d20 adv")
    assert "\n" not in message
    assert len(message) < 250
    assert isinstance(caught.value, ValueError)


def test_the_brief_example_error() -> None:
    with pytest.raises(DiceError, match=r"^bad dice expression '2d': .*expected NdM like 2d6\+3"):
        parse_dice("2d")


def test_bounds_are_inclusive() -> None:
    assert dice_thrown(f"{MAX_DICE}d6") == MAX_DICE
    assert dice_thrown("50d6+50d6") == MAX_DICE
    assert extremes(f"d{MAX_SIDES}")[1] == MAX_SIDES
    assert len(parse_dice("+".join(["1"] * MAX_TERMS)).parts) == MAX_TERMS
    assert parse_dice("d20" + " " * (MAX_LENGTH - 3)).text == "d20"


# ------------------------------------------------------------------------------ rolling


def test_kept_and_dropped_dice_and_the_detail() -> None:
    result = scripted("4d6kh3", [6, 5, 3, 1])
    assert result.detail == "4d6kh3 [6, 5, 3, (1)] = 14"
    assert result.total == 14
    assert [die.kept for die in result.terms[0].dice] == [True, True, True, False]

    assert scripted("d20+5 adv", [17, 4]).detail == "d20 adv [17, (4)] + 5 = 22"
    assert scripted("d20+5 adv", [4, 17]).detail == "d20 adv [(4), 17] + 5 = 22"
    assert scripted("d20-1 dis", [17, 4]).detail == "d20 dis [(17), 4] - 1 = 3"
    assert scripted("4d6dl1", [1, 6, 1, 5]).detail == "4d6dl1 [(1), 6, 1, 5] = 12"
    assert scripted("4d6dh1", [1, 6, 6, 5]).detail == "4d6dh1 [1, (6), 6, 5] = 12"
    assert scripted("3d8kl2", [8, 2, 3]).detail == "3d8kl2 [(8), 2, 3] = 5"
    assert scripted("2d6+3", [2, 4]).detail == "2d6 [2, 4] + 3 = 9"
    assert scripted("-d4+10", [3]).detail == "-d4 [3] + 10 = 7"
    assert scripted("d20-d4", [12, 3]).detail == "d20 [12] - d4 [3] = 9"
    assert scripted("7", []).detail == "7 = 7"


def test_natural_is_the_kept_d20_of_a_single_d20_term() -> None:
    assert scripted("d20", [20]).natural == 20
    assert scripted("d20+5", [1]).natural == 1
    assert scripted("d20 adv", [3, 19]).natural == 19
    assert scripted("d20 dis", [3, 19]).natural == 3
    assert scripted("2d20kh1", [3, 19]).natural == 19
    assert scripted("2d20", [3, 19]).natural is None
    assert scripted("d20+d4", [3, 2]).natural is None
    assert scripted("2d6", [3, 2]).natural is None
    assert scripted("5", []).natural is None


def test_modifier_and_total() -> None:
    result = scripted("2d6+3-1+d4", [2, 4, 1])
    assert result.modifier == 2
    assert result.total == 9
    assert [term.subtotal for term in result.terms] == [6, 1]


def test_result_round_trips_through_json() -> None:
    result = Dice(7).roll("d20+5 adv")
    data = json.loads(json.dumps(result.to_dict()))
    assert data["terms"][0]["dice"] == [
        {"value": die.value, "kept": die.kept} for die in result.terms[0].dice
    ]
    assert data["expression"] == "d20+5 adv"
    assert data["total"] == result.total
    assert data["natural"] == result.natural
    assert data["detail"] == result.detail == str(result)
    assert len(data["terms"][0]["dice"]) == 2


def test_same_seed_same_rolls_and_different_seeds_differ() -> None:
    def sequence(seed: int) -> list[int]:
        dice = Dice(seed)
        return [dice.roll("d20").total for _ in range(30)]

    assert sequence(1234) == sequence(1234)
    assert sequence(1234) != sequence(1235)
    assert sequence(0) != sequence(1)


def test_the_seeding_scheme_is_pinned() -> None:
    """Persisted sessions and recorded transcripts depend on these exact numbers."""
    expected = random.Random("42:0").randint(1, 20)
    assert Dice(42).roll("d20").total == expected
    expected = random.Random("42:3").randint(1, 6)
    assert Dice(42, rolls=3).roll("d6").total == expected


def test_resume_continues_the_sequence() -> None:
    expressions = ["d20", "4d6kh3", "2d6+3", "d20 adv", "d%", "3d8-2"] * 3
    straight = Dice(99)
    rolled = [straight.roll(e) for e in expressions]
    assert straight.rolls == len(expressions)
    for stop in (0, 1, 5, 11):
        resumed = Dice(99, rolls=stop)
        assert [resumed.roll(e) for e in expressions[stop:]] == rolled[stop:]


def test_a_refused_expression_consumes_no_roll() -> None:
    dice = Dice(5)
    with pytest.raises(DiceError):
        dice.roll("2d")
    assert dice.rolls == 0
    assert dice.roll("d20") == Dice(5).roll("d20")


def test_negative_rolls_are_refused() -> None:
    with pytest.raises(ValueError):
        Dice(1, rolls=-1)


def test_advantage_keeps_the_higher_and_disadvantage_the_lower() -> None:
    dice = Dice(2024)
    for _ in range(200):
        adv = dice.roll("d20+2 adv")
        values = [die.value for die in adv.terms[0].dice]
        assert adv.natural == max(values)
        assert adv.total == max(values) + 2
        assert sum(die.kept for die in adv.terms[0].dice) == 1
        dis = dice.roll("d20 dis")
        values = [die.value for die in dis.terms[0].dice]
        assert dis.natural == dis.total == min(values)


def test_keep_and_drop_keep_the_right_dice() -> None:
    # Which slice of the sorted dice each expression must keep.
    cases = {
        "4d6kh3": slice(1, None),
        "4d6kl3": slice(3),
        "4d6dh1": slice(3),
        "4d6dl1": slice(1, None),
    }
    dice = Dice(77)
    for _ in range(100):
        for expression, keep in cases.items():
            result = dice.roll(expression)
            expected = sorted(die.value for die in result.terms[0].dice)[keep]
            assert sorted(result.terms[0].kept) == expected
            assert result.total == sum(expected)


def test_d20_statistics() -> None:
    dice = Dice(31337)
    faces = Counter(dice.roll("d20").total for _ in range(2000))
    assert set(faces) == set(range(1, 21))  # every face, nothing else
    assert 9.5 < sum(face * n for face, n in faces.items()) / 2000 < 11.5
    assert max(faces.values()) < 150  # 100 expected per face; none wildly over


# ------------------------------------------------------------------------------ properties

# Mostly-valid expressions, so the property also exercises rolling, not only refusals.
_TERM = r"(([1-9][0-9]?)?d([1-9][0-9]{0,2}|%)((kh|kl|dh|dl|k)[1-3]?)?|[0-9]{1,3})"
_DICE_LIKE = st.from_regex(
    rf"\A ?[+-]? ?{_TERM}( ?[+-] ?{_TERM}){{0,4}}( (adv|dis|advantage|disadvantage))? ?\Z"
)


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.text(max_size=120), _DICE_LIKE, st.sampled_from(["d20 adv", "4d6kh3"])))
@example("d20+5 adv")
@example("2d20kh1 + 1d1000 - 3")
def test_any_text_parses_within_bounds_or_raises_dice_error(text: str) -> None:
    try:
        parsed = parse_dice(text)
    except DiceError as error:
        assert "\n" not in str(error)
        return
    assert len(parsed.parts) <= MAX_TERMS
    assert parse_dice(parsed.text) == parsed
    result = Dice(0).roll(parsed)
    assert sum(len(term.dice) for term in result.terms) <= MAX_DICE
    lowest, highest = extremes(parsed)
    assert lowest <= result.total <= highest
    for term in result.terms:
        assert all(1 <= die.value <= term.sides for die in term.dice)
    assert result.total == result.modifier + sum(term.subtotal for term in result.terms)
    assert json.loads(json.dumps(result.to_dict()))["detail"] == result.detail


def test_session_dice_count_in_the_session_so_a_resume_continues_the_sequence() -> None:
    """`Dice.of(session)` advances `session.rolls` with every roll (nobody copies it back):
    dice rebuilt from the saved session continue exactly where the first ones stopped."""
    from mardonar.engine.session import Session

    session = Session(
        id="s", spec_id="x", spec_sha256="", persona_sha256="", seed=99, started_at=""
    )
    dice = Dice.of(session)
    first = [dice.roll("d20").total for _ in range(3)]
    with pytest.raises(DiceError):
        dice.roll("2d")  # refused: no roll counted
    assert session.rolls == 3
    resumed = Session.model_validate_json(session.model_dump_json())
    straight = Dice(99)
    expected = [straight.roll("d20").total for _ in range(5)]
    assert first + [Dice.of(resumed).roll("d20").total for _ in range(2)] == expected
