"""The LLM interface's shared parts: `ToolCall.parsed_arguments` (the one lenient reading
of a model's tool-call arguments) and `aclose`, which every backend has."""

from __future__ import annotations

import asyncio

from mardonar.llm.base import LLM, BadArguments, ToolCall
from mardonar.llm.cassette import CassetteLLM
from mardonar.llm.chain import FallbackChain
from mardonar.llm.offline import OfflineNarrator
from mardonar.llm.openai_compat import OpenAICompatLLM
from mardonar.llm.scripted import FailingLLM, ScriptedLLM
from tests.engine_helpers import bundle


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


class Counted(ScriptedLLM):
    def __init__(self) -> None:
        super().__init__([])
        self.closed = 0

    async def aclose(self) -> None:
        self.closed += 1


def test_every_backend_can_be_closed_twice_without_asking_whether_it_can() -> None:
    backends: list[LLM] = [
        ScriptedLLM([]),
        FailingLLM(),
        CassetteLLM([]),
        OfflineNarrator(bundle(), seed=1),
        OpenAICompatLLM(base_url="http://127.0.0.1:9/v1", model="m"),
        FallbackChain([ScriptedLLM([]), FailingLLM()]),
    ]

    async def close_all() -> None:
        for backend in backends:
            assert isinstance(backend, LLM)
            await backend.aclose()
            await backend.aclose()

    asyncio.run(close_all())


def test_closing_a_fallback_chain_closes_each_backend() -> None:
    first, second = Counted(), Counted()
    asyncio.run(FallbackChain([first, second]).aclose())
    assert (first.closed, second.closed) == (1, 1)
