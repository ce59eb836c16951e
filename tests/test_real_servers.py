"""What real OpenAI-compatible servers do that the API does not say, over real HTTP.

Seen on llama-cpp-python's server 0.3.36 (`--chat_format chatml-function-calling`): no usage
in streamed replies, HTML entities in the model's text (its template escapes the prompt),
HTTP 500 for a forced tool choice, tools ignored without `tool_choice`, and no word of the
context window; vLLM, llama.cpp's own server and the LiteLLM proxy each report the window in
a place of their own. `tests/llm_server.py` plays each of these.
"""

# ruff: noqa: F811
from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any, Literal

import pytest

from mardonar.engine.events import ModelReplied, Narration, NarrationDelta
from mardonar.errors import ConfigError
from mardonar.llm.base import (
    Chunk,
    ContextWindow,
    Finish,
    LLMRequest,
    Message,
    TextDelta,
    ToolCall,
    ToolSpec,
)
from mardonar.llm.chain import FallbackChain
from mardonar.llm.offline import OfflineNarrator
from mardonar.llm.openai_compat import OpenAICompatLLM, Probe
from mardonar.llm.openai_compat.entities import EntityStream, decode_arguments, decode_reply
from mardonar.transcript import read_transcript
from tests.engine_helpers import bundle, open_table, run
from tests.llm_server import Reply, ScriptedServer, llm_server, serve_llm  # noqa: F401

ROLL = ToolSpec("roll", "Roll dice.", {"type": "object", "properties": {}})


def backend(server: ScriptedServer, **options: Any) -> OpenAICompatLLM:
    options.setdefault("retry_backoff", 0.01)
    options.setdefault("timeout", 5.0)
    return OpenAICompatLLM(base_url=server.base_url, model=server.model, **options)


def collect(llm: OpenAICompatLLM, request: LLMRequest) -> list[Chunk]:
    async def go() -> list[Chunk]:
        try:
            return [chunk async for chunk in llm.stream(request)]
        finally:
            await llm.aclose()

    return asyncio.run(go())


def ask(text: str = "[aria as Aria] Hello", tools: tuple[ToolSpec, ...] = ()) -> LLMRequest:
    return LLMRequest(
        messages=(Message("system", "You are the GM. " * 50), Message("user", text)),
        tools=tools,
    )


def text_of(chunks: list[Chunk]) -> str:
    return "".join(chunk.text for chunk in chunks if isinstance(chunk, TextDelta))


def finish_of(chunks: list[Chunk]) -> Finish:
    (finish,) = [chunk for chunk in chunks if isinstance(chunk, Finish)]
    return finish


# --------------------------------------------------------------------------- usage


def test_a_server_without_usage_gets_estimated_counts(llm_server: ScriptedServer) -> None:
    llm_server.stream_usage = False  # llama-cpp-python ignores stream_options.include_usage
    llm_server.reply("Grukk squints at you and holds out a grubby hand for the toll.")
    finish = finish_of(collect(backend(llm_server), ask()))

    assert finish.estimated
    # ~4 characters a token over what was sent: 800 characters of system prompt and more
    assert finish.prompt_tokens is not None and 200 <= finish.prompt_tokens <= 240
    assert finish.completion_tokens == 16  # 63 characters of reply


def test_a_server_that_reports_usage_is_believed(llm_server: ScriptedServer) -> None:
    llm_server.reply("Grukk squints.", usage=(1234, 5))
    finish = finish_of(collect(backend(llm_server), ask()))
    assert (finish.prompt_tokens, finish.completion_tokens, finish.estimated) == (1234, 5, False)


def test_estimated_usage_is_marked_on_the_event_and_in_the_transcript(
    llm_server: ScriptedServer, tmp_path: Path
) -> None:
    llm_server.stream_usage = False
    llm_server.default = serve_llm(OfflineNarrator(bundle(), 1))

    async def play() -> list[Any]:
        table = await open_table(tmp_path, backend(llm_server), transcript=True)
        try:
            await table.say("aria", "Hello there, goblin.")
        finally:
            await table.close()
            await table.engine.llm.aclose()
        return table.events

    events = run(play())
    replied = [event for event in events if isinstance(event, ModelReplied)]
    assert replied and all(event.usage_estimated for event in replied)
    assert all(event.prompt_tokens and event.prompt_tokens > 1000 for event in replied)
    records = [r for r in read_transcript(tmp_path / "transcript.jsonl") if r["type"] == "llm"]
    assert records and all(record["usage"]["estimated"] is True for record in records)


# --------------------------------------------------------------------------- HTML entities


def test_entities_in_a_streamed_reply_are_decoded_even_cut_across_deltas(
    llm_server: ScriptedServer,
) -> None:
    # 5 chunks of "I&#39;m not paying, Grukk. &quot;Move&quot;" cut "&#39;" in two
    llm_server.reply("I&#39;m not paying, Grukk. &quot;Move&quot;, he says.", chunks=19)
    chunks = collect(backend(llm_server), ask())
    assert text_of(chunks) == 'I\'m not paying, Grukk. "Move", he says.'
    assert all("&" not in chunk.text for chunk in chunks if isinstance(chunk, TextDelta))


def test_entities_fed_back_once_more_are_decoded_too(llm_server: ScriptedServer) -> None:
    llm_server.reply("I&amp;#39;m Grukk &amp; this is my bridge.")
    assert text_of(collect(backend(llm_server), ask())) == "I'm Grukk & this is my bridge."


@pytest.mark.parametrize(
    "text",
    [
        "The R&D of goblin bridges is cheap.",
        "Write &amp; to get an ampersand in HTML.",
        "AT&T, &lt;b&gt; and &copy; as they are",
    ],
)
def test_a_reply_that_means_its_ampersands_is_left_alone(
    llm_server: ScriptedServer, text: str
) -> None:
    llm_server.reply(text, chunks=7)
    assert text_of(collect(backend(llm_server), ask())) == text


def test_entities_in_tool_call_arguments_are_decoded_as_json(llm_server: ScriptedServer) -> None:
    summary = "Grukk&#39;s toll: &quot;two silver&quot;"
    llm_server.reply(tool_calls=[("roll", {"reason": summary, "expression": "d20"})])
    (call,) = [
        c for c in collect(backend(llm_server), ask(tools=(ROLL,))) if isinstance(c, ToolCall)
    ]
    assert json.loads(call.arguments) == {
        "reason": 'Grukk\'s toll: "two silver"',
        "expression": "d20",
    }


def test_json_tool_mode_reads_a_call_the_server_escaped(llm_server: ScriptedServer) -> None:
    llm_server.reply("{&quot;tool&quot;: &quot;roll&quot;, &quot;arguments&quot;: {}}")
    chunks = collect(backend(llm_server, tool_mode="json"), ask(tools=(ROLL,)))
    assert [(c.name, c.arguments) for c in chunks if isinstance(c, ToolCall)] == [("roll", "{}")]


def test_the_decoding_rule() -> None:
    assert decode_reply("I&#39;m") == "I'm"
    assert decode_reply("I&#x27;m &lt;here&gt; &#8212; &amp;") == "I'm <here> — &"
    assert decode_reply("Tom &amp; Jerry") == "Tom &amp; Jerry"  # no sign of escaping
    assert decode_reply("a & b &#39;") == "a & b '"  # a bare & stays
    assert decode_arguments('{"a": "&quot;x&quot;"}') == '{"a": "\\"x\\""}'
    assert decode_arguments('{"a": "R&D"}') == '{"a": "R&D"}'
    stream = EntityStream()
    # text from the first entity on waits for a sign, then is decoded with the rest
    assert stream.feed("Tom &amp; Jerry") == "Tom "
    assert stream.feed(" say &#3") == ""
    assert stream.feed("9;hi&#39;") == "& Jerry say 'hi'"
    assert stream.end() == ""
    plain = EntityStream()
    assert plain.feed("Tom &amp; Jerry") == "Tom "
    assert plain.end() == "&amp; Jerry"


# --------------------------------------------------------------------------- tool choice


def test_requests_with_tools_name_no_tool_choice(llm_server: ScriptedServer) -> None:
    """llama-cpp-python's chatml-function-calling leaves the tools out without one, but
    with "auto" it cannot stream a reply that calls one (it fails after its HTTP 200): a
    turn that narrates beats a turn that fails, and doctor says to use JSON tool mode."""
    llm_server.stream_tools_break = True
    llm_server.reply("Grukk waits.")
    assert text_of(collect(backend(llm_server), ask(tools=(ROLL,)))) == "Grukk waits."
    (sent,) = llm_server.chat_requests
    assert "tools" in sent.body and "tool_choice" not in sent.body


# --------------------------------------------------------------------------- the probe


def probe(llm: OpenAICompatLLM) -> dict[str, Probe]:
    async def go() -> list[Probe]:
        try:
            return await llm.probe()
        finally:
            await llm.aclose()

    return {p.check: p for p in asyncio.run(go())}


def test_a_forced_tool_choice_refused_with_http_500_falls_back_to_auto(
    llm_server: ScriptedServer,
) -> None:
    llm_server.tool_choice_500 = True  # HTTP 500, empty message, for "required"
    llm_server.stream_usage = False
    llm_server.default = Reply(tool_calls=[("ping", {})])
    result = probe(backend(llm_server))

    assert result["tool calls"].ok, result["tool calls"]
    assert "forced tool choice unsupported (HTTP 500), auto works" in result["tool calls"].detail
    assert [r.body["tool_choice"] for r in llm_server.chat_requests] == ["required", "auto"]
    assert result["usage"].ok and "not reported" in result["usage"].detail
    assert result["context window"].detail.startswith("unknown")
    assert "MARDONAR_CONTEXT_WINDOW" in result["context window"].fix


def test_a_forced_choice_answered_without_a_call_is_tried_with_auto(
    llm_server: ScriptedServer,
) -> None:
    """The LiteLLM proxy in front of llama-cpp-python answers a forced choice with an
    empty reply rather than an error."""
    llm_server.script(Reply(""), Reply(tool_calls=[("ping", {})]))
    result = probe(backend(llm_server))
    assert result["tool calls"].ok
    assert "forced tool choice unsupported (no tool call), auto works" in (
        result["tool calls"].detail
    )


@pytest.mark.parametrize("ending", [True, "cut", "drop"])
def test_on_llama_cpp_python_the_probe_points_to_json_tool_mode(
    llm_server: ScriptedServer, ending: bool | Literal["cut", "drop"]
) -> None:
    """Streamed, its chatml-function-calling fails both for "required" and for a tool the
    model picks under "auto": an empty stream, a cut one, or no answer at all, by timing
    (seen on the real server: never "the server is unreachable")."""
    llm_server.stream_tools_break = ending
    llm_server.default = Reply(tool_calls=[("ping", {})])
    result = probe(backend(llm_server))

    assert [r.body["tool_choice"] for r in llm_server.chat_requests] == ["required", "auto"]
    tools = result["tool calls"]
    assert not tools.ok and "when asked for a tool call: it cannot stream one" in tools.detail
    assert "MARDONAR_TOOL_MODE=json" in tools.fix


def test_an_empty_stream_is_a_failure_not_an_empty_reply(llm_server: ScriptedServer) -> None:
    """What llama-cpp-python sends for a prompt over its --n_ctx: HTTP 200, then nothing."""
    from mardonar.llm.base import LLMUnavailable

    llm_server.stream_tools_break = True
    llm_server.default = Reply(tool_calls=[("roll", {})])

    async def go() -> BaseException:
        llm = backend(llm_server)
        try:
            async for _ in llm.stream(ask(tools=(ROLL,))):
                pass
        except LLMUnavailable as error:
            return error
        finally:
            await llm.aclose()
        raise AssertionError("an empty stream passed for an empty reply")

    error = asyncio.run(go())
    assert "ended the stream without an answer" in str(error)
    assert "MARDONAR_CONTEXT_WINDOW" in str(error)
    assert len(llm_server.chat_requests) == 2  # a failure like a 5xx: one retry


# --------------------------------------------------------------------------- context window


def window(llm: OpenAICompatLLM | FallbackChain) -> ContextWindow | None:
    async def go() -> ContextWindow | None:
        try:
            return await llm.context_window()
        finally:
            await llm.aclose()

    return asyncio.run(go())


@pytest.mark.parametrize(
    ("setup", "expected"),
    [
        ({"max_model_len": 32768}, ContextWindow(32768, "vLLM max_model_len")),
        ({"props_n_ctx": 4096}, ContextWindow(4096, "llama.cpp /props")),
        (
            {"model_info": {"max_input_tokens": 128000, "max_tokens": 16384}},
            ContextWindow(128000, "LiteLLM /model/info max_input_tokens"),
        ),
        ({}, None),
    ],
)
def test_the_window_is_what_the_server_reports(
    llm_server: ScriptedServer, setup: dict[str, Any], expected: ContextWindow | None
) -> None:
    for name, value in setup.items():
        setattr(llm_server, name, value)
    llm = backend(llm_server)
    assert window(llm) == expected
    asked = len(llm_server.requests)
    assert window(llm) == expected
    assert window(backend(llm_server)) == expected  # another backend, same server
    assert len(llm_server.requests) == asked  # asked once per process


def test_the_setting_wins_and_a_chain_takes_the_smallest(llm_server: ScriptedServer) -> None:
    llm_server.props_n_ctx = 8192
    assert window(backend(llm_server, context_window=2048)) == ContextWindow(
        2048, "MARDONAR_CONTEXT_WINDOW"
    )
    assert llm_server.requests == []  # the setting needs no question
    with ScriptedServer() as other:
        other.max_model_len = 4096
        chain = FallbackChain([backend(llm_server), backend(other)])
        assert window(chain) == ContextWindow(4096, "vLLM max_model_len")


def test_the_budget_is_cut_to_fit_the_window(llm_server: ScriptedServer, tmp_path: Path) -> None:
    llm_server.props_n_ctx = 4096
    llm_server.default = serve_llm(OfflineNarrator(bundle(), 1))

    async def play() -> tuple[int, int]:
        table = await open_table(tmp_path, backend(llm_server))
        try:
            await table.say("aria", "Hello there, goblin.")
        finally:
            await table.close()
            await table.engine.llm.aclose()
        assert table.engine.last_built is not None
        return table.engine.context_budget, table.engine.last_built.tokens

    budget, built = run(play())
    # 4,096 less the 400-token reply, the tool schemas (~954) and 10% (410); not 6,000
    assert budget == 2332
    # what was sent fits the window with the reply and the tools (the margin absorbs the
    # context builder's lore and memory shares, which it takes of the budget, not of what
    # the fixed parts leave)
    assert built + 954 + 400 <= 4096


def test_a_spec_too_big_for_the_window_is_one_line_naming_the_setting(
    llm_server: ScriptedServer, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError) as raised:
        run(open_table(tmp_path, backend(llm_server, context_window=2048)))
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith("goblin-toll-bridge: the fixed part of the prompt")
    assert "2,048-token context window" in message and "MARDONAR_CONTEXT_WINDOW" in message
    assert llm_server.chat_requests == []  # nothing was asked of the model


def test_play_stops_in_one_line_when_the_spec_cannot_fit(
    run_cli: Any, llm_server: ScriptedServer, tmp_path: Path
) -> None:
    from tests.engine_helpers import copy_content

    repo = copy_content(tmp_path / "repo")
    llm_server.props_n_ctx = 2048  # llama.cpp's server started with -c 2048
    result = run_cli(
        "play",
        "goblin-toll-bridge",
        "--plain",
        cwd=repo,
        env={**llm_server.env(), "DATA_DIR": str(tmp_path / "data")},
        input="Hello\n",
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert "llama.cpp /props" in line and "MARDONAR_CONTEXT_WINDOW" in line


def test_the_offline_narrator_keeps_the_budget(tmp_path: Path) -> None:
    async def play() -> tuple[int, list[Any]]:
        table = await open_table(tmp_path, OfflineNarrator(bundle(), 1))
        try:
            await table.say("aria", "Hello there, goblin.")
        finally:
            await table.close()
        return table.engine.context_budget, table.events

    budget, events = run(play())
    assert budget == 6000
    assert any(isinstance(e, Narration) for e in events)
    assert not any(isinstance(e, ModelReplied) and e.usage_estimated for e in events)
    assert NarrationDelta  # the offline narrator streams as before


def test_doctor_on_a_server_with_every_quirk(run_cli: Any, llm_server: ScriptedServer) -> None:
    """A forced tool choice refused with HTTP 500, no usage in streams, and the window at
    /props (llama.cpp's own server's place)."""
    llm_server.tool_choice_500 = True
    llm_server.stream_usage = False
    llm_server.props_n_ctx = 4096
    llm_server.default = Reply(tool_calls=[("ping", {})])
    result = run_cli("doctor", "--format", "json", env=llm_server.env(), timeout=60)

    rows = {row["check"]: row for row in json.loads(result.stdout) if "LiteLLM" in row["part"]}
    assert result.returncode == 0, rows
    assert rows["tool calls"]["status"] == "ok"
    assert "auto works" in rows["tool calls"]["detail"]
    assert "not reported" in rows["usage"]["detail"]
    assert rows["context window"]["detail"] == (
        "4,096 tokens (llama.cpp /props); the context budget is cut from 6,000 to 2,332 to fit"
    )
