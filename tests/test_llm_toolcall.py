"""`ToolCall.parsed_arguments`: the one lenient reading of a model's tool-call arguments."""

from __future__ import annotations

from mardonar.llm.base import BadArguments, ToolCall


def parsed(arguments: str) -> object:
    return ToolCall("c1", "roll", arguments).parsed_arguments


def test_a_json_object_is_the_dict() -> None:
    assert parsed('{"expression": "2d6"}') == {"expression": "2d6"}


def test_blank_arguments_are_no_arguments() -> None:
    assert parsed("") == {}
    assert parsed("  \n") == {}


def test_json_that_is_not_an_object_says_so() -> None:
    assert parsed('["2d6"]') == BadArguments("arguments must be a JSON object")
    assert parsed("null") == BadArguments("arguments must be a JSON object")


def test_text_that_is_not_json_says_where_it_broke() -> None:
    assert parsed('{"expression": ') == BadArguments(
        "arguments are not valid JSON (Expecting value at char 15)"
    )


def test_json_too_large_to_read_is_not_valid_json_rather_than_an_exception() -> None:
    too_deep = parsed("[" * 999 + "]" * 999)
    too_long = parsed('{"n": ' + "1" * 5000 + "}")
    assert too_deep == too_long == BadArguments("arguments are not valid JSON (too large to read)")
