"""The scripted test model and the always-failing one behave like real backends."""

from __future__ import annotations

import asyncio
import json

import pytest

from mardonar.llm.base import LLM, Chunk, Finish, LLMError, LLMRequest, Message, TextDelta, ToolCall
from mardonar.llm.scripted import ErrorLLM, FailingLLM, ScriptedLLM, ScriptedReply, split_text


def ask(llm: LLM, text: str = "hi") -> list[Chunk]:
    async def collect() -> list[Chunk]:
        request = LLMRequest(messages=(Message("user", text),))
        return [chunk async for chunk in llm.stream(request)]

    return asyncio.run(collect())


def text_of(chunks: list[Chunk]) -> str:
    return "".join(c.text for c in chunks if isinstance(c, TextDelta))


def test_is_an_llm_with_a_name() -> None:
    assert isinstance(ScriptedLLM([]), LLM)
    assert ScriptedLLM([]).name == "scripted"
    assert ScriptedLLM([], name="gpt-test").name == "gpt-test"
    assert isinstance(FailingLLM(), LLM)


def test_replies_play_in_order_and_stream_in_chunks() -> None:
    llm = ScriptedLLM(["The bridge creaks under your boots as you step onto it.", "Second."])
    first = ask(llm)
    deltas = [c for c in first if isinstance(c, TextDelta)]
    assert 2 <= len(deltas) <= 3
    assert text_of(first) == "The bridge creaks under your boots as you step onto it."
    assert first[-1] == Finish(reason="stop")
    assert text_of(ask(llm)) == "Second."
    assert llm.remaining == 0


def test_tool_calls_dict_arguments_are_json_and_raw_strings_pass_through() -> None:
    llm = ScriptedLLM(
        [
            ScriptedReply(
                text="Let me see.",
                tool_calls=[
                    ("skill_check", {"player": "aria", "check": "read-grukk"}),
                    ("resolve", '{"outcome": "crossed-free", '),  # malformed on purpose
                ],
            )
        ]
    )
    chunks = ask(llm)
    calls = [c for c in chunks if isinstance(c, ToolCall)]
    assert [c.name for c in calls] == ["skill_check", "resolve"]
    assert json.loads(calls[0].arguments) == {"player": "aria", "check": "read-grukk"}
    assert calls[0].arguments == '{"check": "read-grukk", "player": "aria"}'
    assert calls[1].arguments == '{"outcome": "crossed-free", '
    assert len({c.id for c in calls}) == 2
    assert text_of(chunks) == "Let me see."
    assert chunks[-1] == Finish(reason="tool_calls")


def test_every_request_is_recorded() -> None:
    llm = ScriptedLLM(["one", "two"])
    ask(llm, "first question")
    ask(llm, "second question")
    assert [r.messages[-1].content for r in llm.requests] == ["first question", "second question"]


def test_a_callable_reply_sees_the_request() -> None:
    llm = ScriptedLLM([lambda request: ScriptedReply(f"You said: {request.messages[-1].content}")])
    assert text_of(ask(llm, "hello")) == "You said: hello"
    llm = ScriptedLLM([lambda request: "plain text works too"])
    assert text_of(ask(llm)) == "plain text works too"


def test_exhaustion_raises_llm_error() -> None:
    llm = ScriptedLLM(["only one"])
    ask(llm)
    with pytest.raises(LLMError, match="scripted model has no more replies"):
        ask(llm)
    assert len(llm.requests) == 2  # the failed call was still sent


def test_repeat_last_keeps_answering() -> None:
    llm = ScriptedLLM(["a", "b"], repeat_last=True)
    assert [text_of(ask(llm)) for _ in range(4)] == ["a", "b", "b", "b"]
    with pytest.raises(LLMError):
        ask(ScriptedLLM([], repeat_last=True))


def test_an_exception_in_the_script_is_raised_on_that_call() -> None:
    llm = ScriptedLLM([LLMError("timed out"), "recovered"])
    with pytest.raises(LLMError, match="timed out"):
        ask(llm)
    assert text_of(ask(llm)) == "recovered"


def test_empty_text_sends_no_delta_and_finish_can_be_overridden() -> None:
    chunks = ask(ScriptedLLM([ScriptedReply(finish_reason="length")]))
    assert chunks == [Finish(reason="length")]


def test_failing_llm_always_raises_llm_error() -> None:
    llm = FailingLLM(LLMError("connection refused"))
    for _ in range(2):
        with pytest.raises(LLMError, match="connection refused"):
            ask(llm)
    assert len(llm.requests) == 2
    with pytest.raises(LLMError, match="unreachable"):
        ask(ErrorLLM())
    with pytest.raises(LLMError, match="down"):
        ask(FailingLLM("down", name="ollama"))


@pytest.mark.parametrize("text", ["", "x", "two words", "a b c d e f g h i j", "  spaced  out  "])
def test_split_text_rejoins_exactly(text: str) -> None:
    parts = split_text(text)
    assert "".join(parts) == text
    assert len(parts) <= 3
    assert all(parts)
