"""The OpenAI-compatible backend against a real HTTP server (tests/llm_server.py).

The real `openai` client, real sockets, real SSE: streaming, tool-call deltas, the options
and messages sent, every failure the fallback chain acts on, json tool mode and the probe
behind `mardonar doctor`. Timing is asserted only on the server's own request timestamps.
"""

# ruff: noqa: F811

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any, Literal

import pytest

from mardonar.llm.base import (
    LLM,
    Chunk,
    Finish,
    LLMConfigError,
    LLMError,
    LLMRequest,
    LLMUnavailable,
    Message,
    TextDelta,
    ToolCall,
    ToolSpec,
)
from mardonar.llm.openai_compat import OpenAICompatLLM, Probe, parse_json_calls
from mardonar.llm.scripted import ScriptedLLM, ScriptedReply
from tests.llm_server import (  # noqa: F401
    Reply,
    ScriptedServer,
    llm_server,
    serve_llm,
)

SKILL_CHECK = ToolSpec(
    "skill_check",
    "Roll a skill check for a player.",
    {
        "type": "object",
        "properties": {"player": {"type": "string"}, "check": {"type": "string"}},
        "required": ["player"],
    },
)
RESOLVE = ToolSpec(
    "resolve",
    "End the encounter with an outcome.",
    {
        "type": "object",
        "properties": {"outcome": {"type": "string"}, "summary": {"type": "string"}},
        "required": ["outcome", "summary"],
    },
)
TOOLS = (SKILL_CHECK, RESOLVE)
KEY = "sk-test-secret-7f3a9c"


def backend(server: ScriptedServer, **options: Any) -> OpenAICompatLLM:
    options.setdefault("retry_backoff", 0.05)
    options.setdefault("timeout", 5.0)
    options.setdefault("model", server.model)
    return OpenAICompatLLM(base_url=server.base_url, **options)


def ask(
    messages: tuple[Message, ...] = (Message("user", "[aria as Aria] Hello"),),
    tools: tuple[ToolSpec, ...] = TOOLS,
    **options: Any,
) -> LLMRequest:
    return LLMRequest(messages=messages, tools=tools, **options)


def collect(llm: OpenAICompatLLM, request: LLMRequest | None = None) -> list[Chunk]:
    async def go() -> list[Chunk]:
        try:
            return [chunk async for chunk in llm.stream(request or ask())]
        finally:
            await llm.aclose()

    return asyncio.run(go())


def failure(
    llm: OpenAICompatLLM, request: LLMRequest | None = None
) -> tuple[LLMError, list[Chunk]]:
    """The error the stream raised, and the chunks it yielded before."""
    seen: list[Chunk] = []

    async def go() -> LLMError:
        try:
            async for chunk in llm.stream(request or ask()):
                seen.append(chunk)
        except LLMError as error:
            return error
        finally:
            await llm.aclose()
        raise AssertionError(f"no error; the stream yielded {seen}")

    return asyncio.run(go()), seen


def probe(llm: OpenAICompatLLM, **options: Any) -> dict[str, Probe]:
    async def go() -> list[Probe]:
        try:
            return await llm.probe(**options)
        finally:
            await llm.aclose()

    probes = asyncio.run(go())
    assert [p.check for p in probes] == [
        "reachable",
        "model",
        "tool calls",
        "usage",
        "context window",
    ]
    return {p.check: p for p in probes}


def texts(chunks: list[Chunk]) -> list[str]:
    return [c.text for c in chunks if isinstance(c, TextDelta)]


def calls(chunks: list[Chunk]) -> list[ToolCall]:
    return [c for c in chunks if isinstance(c, ToolCall)]


# --------------------------------------------------------------------------- streaming


def test_is_an_llm_named_after_its_label_and_model(llm_server: ScriptedServer) -> None:
    llm = backend(llm_server, api_key=KEY, label="ollama")
    assert isinstance(llm, LLM)
    assert llm.name == "ollama:test-model"
    assert KEY not in repr(llm)


def test_text_streams_as_several_deltas_then_finish_with_usage(
    llm_server: ScriptedServer,
) -> None:
    text = "The bridge creaks under your boots; Grukk squints at you from his stool."
    llm_server.reply(text, usage=(321, 17), chunks=4)
    chunks = collect(backend(llm_server))
    assert len(texts(chunks)) == 4
    assert "".join(texts(chunks)) == text
    assert chunks[-1] == Finish("stop", prompt_tokens=321, completion_tokens=17)
    assert all(isinstance(c, TextDelta) for c in chunks[:-1])


def test_tool_call_deltas_are_assembled_into_one_call(llm_server: ScriptedServer) -> None:
    args = {"player": "aria", "check": "intimidate-grukk"}
    llm_server.reply(tool_calls=[("skill_check", args)])
    chunks = collect(backend(llm_server))
    assert texts(chunks) == []  # empty content with a tool call is fine
    [call] = calls(chunks)
    assert call.id == "call_0_0" and call.name == "skill_check"
    assert json.loads(call.arguments) == args
    assert isinstance(chunks[-1], Finish) and chunks[-1].reason == "tool_calls"
    assert chunks[-1].prompt_tokens is not None


def test_two_interleaved_tool_calls_are_assembled_by_index(llm_server: ScriptedServer) -> None:
    first = {"player": "aria", "check": "intimidate-grukk"}
    second = {"outcome": "crossed-free", "summary": "Grukk stepped aside, trembling."}
    llm_server.reply(
        "Grukk flinches.",
        tool_calls=[("skill_check", first), ("resolve", second)],
        interleave=True,
    )
    chunks = collect(backend(llm_server))
    assert "".join(texts(chunks)) == "Grukk flinches."
    assert [(c.name, json.loads(c.arguments)) for c in calls(chunks)] == [
        ("skill_check", first),
        ("resolve", second),
    ]
    # text first, then the complete calls, then Finish
    kinds = [type(c).__name__ for c in chunks]
    assert kinds[-3:] == ["ToolCall", "ToolCall", "Finish"]


def test_malformed_arguments_are_passed_on_raw(llm_server: ScriptedServer) -> None:
    llm_server.reply(tool_calls=[("skill_check", '{"player": "aria", "check": ')])
    [call] = calls(collect(backend(llm_server)))
    assert call.arguments == '{"player": "aria", "check":'  # the loop refuses it, not us


def test_options_from_the_persona_are_sent(llm_server: ScriptedServer) -> None:
    llm_server.reply("Fine.")
    request = ask(
        temperature=0.8,
        max_tokens=400,
        options={"top_p": 0.9, "stop": ["\n\nPlayer:"], "presence_penalty": 0.5, "top_k": 40},
    )
    collect(backend(llm_server), request)
    [sent] = llm_server.chat_requests
    body = sent.body
    assert body["model"] == "test-model"
    assert body["temperature"] == 0.8 and body["max_tokens"] == 400
    assert body["top_p"] == 0.9 and body["stop"] == ["\n\nPlayer:"]
    assert body["presence_penalty"] == 0.5
    assert body["top_k"] == 40  # unknown to the SDK: sent through extra_body
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert [t["function"]["name"] for t in body["tools"]] == ["skill_check", "resolve"]
    assert body["tools"][0] == {
        "type": "function",
        "function": {
            "name": "skill_check",
            "description": SKILL_CHECK.description,
            "parameters": SKILL_CHECK.parameters,
        },
    }


def test_no_tools_means_no_tools_parameter(llm_server: ScriptedServer) -> None:
    llm_server.reply("The end.")
    collect(backend(llm_server), ask(tools=(), options={"tool_choice": "auto"}))
    body = llm_server.chat_requests[0].body
    assert "tools" not in body and "tool_choice" not in body
    assert "temperature" not in body  # unset options are not sent


def test_messages_are_mapped_to_the_openai_shapes(llm_server: ScriptedServer) -> None:
    llm_server.reply("Grukk grumbles and steps aside.")
    call = ToolCall("call_abc", "skill_check", '{"check": "intimidate-grukk", "player": "aria"}')
    history = (
        Message("system", "You are Mardonar."),
        Message("user", "[aria as Aria] I threaten Grukk."),
        Message("assistant", "", tool_calls=(call,)),
        Message("tool", '{"ok": true}', tool_call_id="call_abc", name="skill_check"),
        Message("assistant", "Too long."),
        Message("user", "[correction] keep it short. Answer again."),
    )
    collect(backend(llm_server), ask(history))
    assert llm_server.chat_requests[0].messages == [
        {"role": "system", "content": "You are Mardonar."},
        {"role": "user", "content": "[aria as Aria] I threaten Grukk."},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_abc",
                    "type": "function",
                    "function": {"name": "skill_check", "arguments": call.arguments},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_abc", "content": '{"ok": true}'},
        {"role": "assistant", "content": "Too long."},
        {"role": "user", "content": "[correction] keep it short. Answer again."},
    ]


def test_the_api_key_travels_only_in_the_authorization_header(
    llm_server: ScriptedServer,
) -> None:
    llm_server.api_key = KEY
    llm_server.reply("Welcome.")
    assert "".join(texts(collect(backend(llm_server, api_key=KEY)))) == "Welcome."
    [sent] = llm_server.chat_requests
    assert sent.headers["authorization"] == f"Bearer {KEY}"
    assert KEY.encode() not in sent.raw
    assert not [
        name for name, value in sent.headers.items() if KEY in value and name != "authorization"
    ]


def test_one_backend_serves_several_event_loops(llm_server: ScriptedServer) -> None:
    llm_server.reply("One.").reply("Two.")
    llm = backend(llm_server)
    assert "".join(texts(asyncio.run(_drain(llm)))) == "One."
    assert "".join(texts(asyncio.run(_drain(llm)))) == "Two."
    asyncio.run(llm.aclose())


async def _drain(llm: OpenAICompatLLM) -> list[Chunk]:
    return [chunk async for chunk in llm.stream(ask())]


# --------------------------------------------------------------------------- failures


def test_connection_refused_is_unavailable_after_one_retry(llm_server: ScriptedServer) -> None:
    llm_server.stop()
    error, seen = failure(backend(llm_server, api_key=KEY))
    assert isinstance(error, LLMUnavailable) and not error.partial
    assert str(error) == f"litellm at {llm_server.base_url}: connection refused (retried once)"
    assert seen == []


def test_connection_refused_is_retried_once(llm_server: ScriptedServer) -> None:
    """The server comes back during the backoff: the retry reaches it."""
    llm_server.stop()
    llm_server.reply("Back again.")
    restart = threading.Timer(0.2, llm_server.start)
    restart.start()
    try:
        chunks = collect(backend(llm_server, retry_backoff=1.5))
    finally:
        restart.join()
    assert "".join(texts(chunks)) == "Back again."
    assert len(llm_server.chat_requests) == 1


def test_a_hung_server_times_out_then_is_unavailable(llm_server: ScriptedServer) -> None:
    llm_server.hang(seconds=10, times=2)
    error, _ = failure(backend(llm_server, timeout=0.5))
    assert isinstance(error, LLMUnavailable)
    assert "timed out after 0.5 s (retried once)" in str(error)
    assert len(llm_server.chat_requests) == 2


def test_429_waits_for_retry_after_then_succeeds(llm_server: ScriptedServer) -> None:
    llm_server.fail(429, retry_after=1)
    llm_server.reply("Patience pays.")
    chunks = collect(backend(llm_server))
    assert "".join(texts(chunks)) == "Patience pays."
    first, second = llm_server.chat_requests
    assert second.at - first.at >= 0.95  # the server's clock, not the test's


def test_retry_after_is_capped(llm_server: ScriptedServer) -> None:
    llm_server.fail(429, retry_after=120)
    llm_server.reply("Quick.")
    chunks = collect(backend(llm_server, max_retry_after=0.1))
    assert "".join(texts(chunks)) == "Quick."
    first, second = llm_server.chat_requests
    assert second.at - first.at < 60


def test_429_twice_is_unavailable(llm_server: ScriptedServer) -> None:
    llm_server.fail(429, retry_after=0, times=2)
    error, _ = failure(backend(llm_server))
    assert isinstance(error, LLMUnavailable)
    assert "HTTP 429" in str(error) and "retried once" in str(error)


def test_503_twice_is_unavailable_and_says_it_retried(llm_server: ScriptedServer) -> None:
    llm_server.fail(503, times=2)
    error, _ = failure(backend(llm_server))
    assert isinstance(error, LLMUnavailable) and not error.partial
    assert "HTTP 503" in str(error) and "retried" in str(error)
    assert str(error).startswith(f"litellm at {llm_server.base_url}: ")
    assert len(llm_server.chat_requests) == 2


@pytest.mark.parametrize("status", [500, 503])
def test_a_5xx_once_is_retried_and_succeeds(llm_server: ScriptedServer, status: int) -> None:
    llm_server.fail(status)
    llm_server.reply("Second time lucky.")
    assert "".join(texts(collect(backend(llm_server)))) == "Second time lucky."
    assert len(llm_server.chat_requests) == 2


def test_a_drop_mid_stream_is_partial_and_not_retried(llm_server: ScriptedServer) -> None:
    llm_server.drop(Reply("Grukk begins a long and winding tale about his cousins.", chunks=4))
    llm_server.reply("never asked for")
    error, seen = failure(backend(llm_server))
    assert isinstance(error, LLMUnavailable) and error.partial
    assert "in the middle of the reply" in str(error)
    assert texts(seen)  # the players saw part of it: that is why it is not retried
    assert len(llm_server.chat_requests) == 1


def test_a_drop_before_any_text_is_retried(llm_server: ScriptedServer) -> None:
    """Tool-call deltas are held until the end: nothing was handed on, so a retry is safe."""
    llm_server.drop(Reply(tool_calls=[("skill_check", {"player": "aria"})]), after_chunks=3)
    llm_server.reply("Recovered.")
    assert "".join(texts(collect(backend(llm_server)))) == "Recovered."
    assert len(llm_server.chat_requests) == 2


def test_401_names_the_key_setting_and_never_the_key(llm_server: ScriptedServer) -> None:
    llm_server.api_key = "sk-the-right-one"
    error, _ = failure(backend(llm_server, api_key=KEY))
    assert isinstance(error, LLMConfigError)
    assert error.setting == "LITELLM_API_KEY"
    assert "rejected the API key" in str(error) and "LITELLM_API_KEY" in str(error)
    assert KEY not in str(error) and "sk-the-right-one" not in str(error)
    assert error.__cause__ is None and error.__context__ is None  # no chained SDK error
    assert len(llm_server.chat_requests) == 1  # a config error is never retried


def test_missing_key_says_one_is_required(llm_server: ScriptedServer) -> None:
    llm_server.fail(401)
    error, _ = failure(backend(llm_server))
    assert isinstance(error, LLMConfigError) and error.setting == "LITELLM_API_KEY"
    assert "requires an API key" in str(error)


def test_ollama_behind_a_keyed_proxy_names_a_setting_that_exists(
    llm_server: ScriptedServer,
) -> None:
    # Ollama takes no key and CONTRACT §9 has no OLLAMA_API_KEY: the fix must not invent one.
    llm_server.fail(401)
    error, _ = failure(backend(llm_server, settings_prefix="OLLAMA", label="ollama"))
    assert isinstance(error, LLMConfigError) and error.setting == "OLLAMA_BASE_URL"
    assert "OLLAMA_API_KEY" not in str(error)
    assert "point OLLAMA_BASE_URL at Ollama itself" in str(error)
    llm_server.api_key = "sk-the-proxy-wants-this"
    result = probe(backend(llm_server, settings_prefix="OLLAMA", label="ollama"))
    assert not result["reachable"].ok
    assert result["reachable"].fix is not None
    assert result["reachable"].fix.startswith("point OLLAMA_BASE_URL at Ollama itself")
    assert result["model"].detail == "not checked: the API key was rejected"


def test_an_echoed_key_in_another_error_is_masked(llm_server: ScriptedServer) -> None:
    llm_server.fail(400, f"bad request from api_key={KEY} (Bearer {KEY})")
    error, _ = failure(backend(llm_server, api_key=KEY))
    assert isinstance(error, LLMConfigError)
    assert KEY not in str(error)


def test_unknown_model_names_the_setting_and_lists_served_models(
    llm_server: ScriptedServer,
) -> None:
    llm_server.models = ["llama3.2:latest", "mistral-nemo"]
    llm_server.strict_models = True
    error, _ = failure(backend(llm_server, model="gpt-9"))
    assert isinstance(error, LLMConfigError)
    assert error.setting == "LITELLM_MODEL"
    assert "'gpt-9'" in str(error)
    assert "llama3.2:latest, mistral-nemo" in str(error)
    assert len(llm_server.chat_requests) == 1


def test_a_400_about_the_model_is_a_model_error(llm_server: ScriptedServer) -> None:
    llm_server.fail(400, "Invalid model name passed in model=gpt-9. Call `/v1/models`.")
    error, _ = failure(backend(llm_server, model="gpt-9", settings_prefix="OLLAMA", label="ollama"))
    assert isinstance(error, LLMConfigError) and error.setting == "OLLAMA_MODEL"
    assert str(error).startswith("ollama at ")


def test_a_404_from_no_api_at_all_names_the_base_url(llm_server: ScriptedServer) -> None:
    llm_server.models_status = 404
    llm_server.fail(404, "404 page not found")
    error, _ = failure(backend(llm_server))
    assert isinstance(error, LLMConfigError) and error.setting == "LITELLM_BASE_URL"
    assert "/v1" in str(error)


def test_another_400_carries_the_servers_message_on_one_line(llm_server: ScriptedServer) -> None:
    llm_server.fail(400, "messages[3]: unexpected role\n  expected one of user, assistant")
    error, _ = failure(backend(llm_server))
    assert isinstance(error, LLMConfigError) and error.setting is None
    assert "HTTP 400" in str(error)
    assert "messages[3]: unexpected role expected one of user, assistant" in str(error)
    assert "\n" not in str(error)
    assert len(llm_server.chat_requests) == 1


def test_a_server_without_tools_names_the_tool_mode_setting(llm_server: ScriptedServer) -> None:
    llm_server.reject_tools = True
    error, _ = failure(backend(llm_server))
    assert isinstance(error, LLMConfigError) and error.setting == "MARDONAR_TOOL_MODE"
    assert "MARDONAR_TOOL_MODE=json" in str(error)


# --------------------------------------------------------------------------- json tool mode


def test_json_mode_describes_tools_in_the_system_message(llm_server: ScriptedServer) -> None:
    args = {"check": "intimidate-grukk", "player": "aria"}
    llm_server.reply(json.dumps({"tool": "skill_check", "arguments": args}))
    llm_server.reject_tools = True  # a server that would refuse native tools
    history = (
        Message("system", "You are Mardonar."),
        Message("user", "[aria as Aria] I threaten Grukk."),
    )
    chunks = collect(backend(llm_server, tool_mode="json"), ask(history))
    assert texts(chunks) == []  # the JSON is never shown as narration
    [call] = calls(chunks)
    assert call.name == "skill_check" and json.loads(call.arguments) == args
    assert isinstance(chunks[-1], Finish) and chunks[-1].reason == "tool_calls"
    body = llm_server.chat_requests[0].body
    assert "tools" not in body
    system = body["messages"][0]
    assert system["role"] == "system" and system["content"].startswith("You are Mardonar.")
    assert '{"tool": "NAME", "arguments": {...}}' in system["content"]
    assert "- skill_check: Roll a skill check" in system["content"]
    assert '"required":["player"]' in system["content"]  # the argument schema, compact


def test_json_mode_sends_calls_and_results_back_as_text(llm_server: ScriptedServer) -> None:
    llm_server.reply("Grukk steps aside.")
    first = ToolCall("json_0_0", "skill_check", '{"check": "intimidate-grukk", "player": "aria"}')
    second = ToolCall("json_0_1", "roll", '{"expression": "d20"}')
    history = (
        Message("system", "You are Mardonar."),
        Message("user", "[aria as Aria] I threaten Grukk."),
        Message("assistant", "", tool_calls=(first, second)),
        Message("tool", '{"ok": true, "result": {"success": true}}', tool_call_id="json_0_0"),
        Message("tool", '{"ok": true, "result": {"total": 12}}', tool_call_id="json_0_1"),
    )
    chunks = collect(backend(llm_server, tool_mode="json"), ask(history))
    assert "".join(texts(chunks)) == "Grukk steps aside."
    assert isinstance(chunks[-1], Finish) and chunks[-1].reason == "stop"
    messages = llm_server.chat_requests[0].messages
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    assert json.loads(messages[2]["content"]) == [
        {"tool": "skill_check", "arguments": {"check": "intimidate-grukk", "player": "aria"}},
        {"tool": "roll", "arguments": {"expression": "d20"}},
    ]
    assert messages[3]["content"] == (
        '[tool result skill_check] {"ok": true, "result": {"success": true}}\n'
        '[tool result roll] {"ok": true, "result": {"total": 12}}'
    )
    assert all("tool_call_id" not in m and "tool_calls" not in m for m in messages)


def test_json_mode_recovers_a_call_beside_narration(llm_server: ScriptedServer) -> None:
    reply = (
        "Grukk sneers at you.\n"
        '```json\n{"tool": "skill_check", "arguments": {"player": "aria", "check": "x"}}\n```'
    )
    llm_server.reply(reply)
    chunks = collect(backend(llm_server, tool_mode="json"))
    assert texts(chunks) == ["Grukk sneers at you."]
    [call] = calls(chunks)
    assert call.name == "skill_check" and call.id == "json_0_0"


def test_json_mode_a_list_is_several_calls(llm_server: ScriptedServer) -> None:
    llm_server.reply(
        '```json\n[{"tool": "skill_check", "arguments": {"player": "aria"}},'
        ' {"tool": "resolve", "arguments": {"outcome": "o", "summary": "s"}}]\n```'
    )
    chunks = collect(backend(llm_server, tool_mode="json"))
    assert [c.name for c in calls(chunks)] == ["skill_check", "resolve"]
    assert texts(chunks) == []


def test_json_mode_without_tools_streams_plain_text(llm_server: ScriptedServer) -> None:
    llm_server.reply("The mists part.", chunks=3)
    chunks = collect(backend(llm_server, tool_mode="json"), ask(tools=()))
    assert len(texts(chunks)) == 3
    assert "## Tools" not in json.dumps(llm_server.chat_requests[0].messages)


def test_parse_json_calls_accepts_only_whole_replies_of_known_tools() -> None:
    names = {"ping", "roll"}
    assert parse_json_calls('{"tool": "ping", "arguments": {}}', names) == [("ping", "{}")]
    assert parse_json_calls(
        '{"name": "roll", "arguments": "{\\"expression\\": \\"d6\\"}"}', names
    ) == [("roll", '{"expression": "d6"}')]
    assert parse_json_calls('{"tool": "nope", "arguments": {}}', names) is None
    assert parse_json_calls('Sure! {"tool": "ping", "arguments": {}}', names) is None
    assert parse_json_calls("[]", names) is None
    assert parse_json_calls("just prose", names) is None


# --------------------------------------------------------------------------- probe


def test_probe_all_ok(llm_server: ScriptedServer) -> None:
    llm_server.models = ["test-model", "other"]
    llm_server.reply(tool_calls=[("ping", {})])
    result = probe(backend(llm_server))
    assert all(p.ok for p in result.values()), result
    assert "2 models" in result["reachable"].detail
    assert "ping" in result["tool calls"].detail
    [ping] = llm_server.chat_requests
    assert ping.body["tool_choice"] == "required" and ping.body["max_tokens"] == 16
    assert [t["function"]["name"] for t in ping.body["tools"]] == ["ping"]
    # streamed, as the engine asks: the stream tells whether the server reports usage
    assert ping.body["stream"] is True
    assert "reports token usage" in result["usage"].detail
    assert result["context window"].detail.startswith("unknown")


def test_probe_server_down(llm_server: ScriptedServer) -> None:
    llm_server.stop()
    result = probe(backend(llm_server))
    assert not result["reachable"].ok
    assert "connection refused" in result["reachable"].detail
    assert "LITELLM_BASE_URL" in result["reachable"].fix
    assert result["model"].detail.startswith("not checked")
    assert result["tool calls"].detail.startswith("not checked")


def test_probe_hung_server_never_raises(llm_server: ScriptedServer) -> None:
    llm_server.models_status = None
    llm_server.hang(seconds=10)
    llm_server.reply(tool_calls=[("ping", {})])
    result = probe(backend(llm_server), timeout=0.3)
    assert result["reachable"].ok  # /models answered; the chat request hung
    assert not result["tool calls"].ok
    assert "timed out after 0.3 s" in result["tool calls"].detail
    assert "MARDONAR_LLM_TIMEOUT" in result["tool calls"].fix


def test_probe_model_missing(llm_server: ScriptedServer) -> None:
    llm_server.models = ["llama3.2:latest", "qwen2.5:7b"]
    llm_server.strict_models = True
    result = probe(backend(llm_server, model="gpt-9"))
    assert result["reachable"].ok
    assert not result["model"].ok
    assert "LITELLM_MODEL" in result["model"].fix and "qwen2.5:7b" in result["model"].fix
    assert result["tool calls"].detail.startswith("not checked")


def test_probe_accepts_ollamas_latest_tag(llm_server: ScriptedServer) -> None:
    llm_server.models = ["llama3.2:latest"]
    llm_server.reply(tool_calls=[("ping", {})])
    result = probe(backend(llm_server, model="llama3.2"))
    assert result["model"].ok and result["model"].detail == "'llama3.2' is served"


def test_probe_an_unlisted_model_that_answers_is_ok(llm_server: ScriptedServer) -> None:
    llm_server.models = ["openai/*"]  # LiteLLM wildcard routes: the list is partial
    llm_server.reply(tool_calls=[("ping", {})])
    result = probe(backend(llm_server, model="openai/gpt-4o-mini"))
    assert result["model"].ok and "not listed" in result["model"].detail


def test_probe_empty_model_list_is_unknown_but_ok(llm_server: ScriptedServer) -> None:
    llm_server.models = []
    llm_server.reply(tool_calls=[("ping", {})])
    result = probe(backend(llm_server, model="anything"))
    assert result["model"].ok and "lists no models" in result["model"].detail


def test_probe_tools_unsupported(llm_server: ScriptedServer) -> None:
    llm_server.default = "Pong! How can I help you today?"  # to "required", then to "auto"
    result = probe(backend(llm_server))
    assert result["reachable"].ok and result["model"].ok
    tools = result["tool calls"]
    assert not tools.ok
    assert "text instead of a tool call" in tools.detail
    assert "MARDONAR_TOOL_MODE=json" in tools.fix


def test_probe_a_server_refusing_tools(llm_server: ScriptedServer) -> None:
    llm_server.reject_tools = True
    result = probe(backend(llm_server))
    assert not result["tool calls"].ok
    assert "MARDONAR_TOOL_MODE=json" in result["tool calls"].fix


def test_probe_falls_back_to_tool_choice_auto(llm_server: ScriptedServer) -> None:
    llm_server.reject_tool_choice = True
    llm_server.reply(tool_calls=[("ping", {})])
    result = probe(backend(llm_server))
    assert result["tool calls"].ok
    assert [r.body.get("tool_choice") for r in llm_server.chat_requests] == ["required", "auto"]


def test_probe_rejected_key(llm_server: ScriptedServer) -> None:
    llm_server.api_key = "sk-the-right-one"
    result = probe(backend(llm_server, api_key=KEY))
    assert not result["reachable"].ok
    assert result["reachable"].fix == "set LITELLM_API_KEY"
    assert KEY not in json.dumps([p.__dict__ for p in result.values()])
    assert result["tool calls"].detail.startswith("not checked")


def test_probe_in_json_mode(llm_server: ScriptedServer) -> None:
    llm_server.reply('{"tool": "ping", "arguments": {}}')
    result = probe(backend(llm_server, tool_mode="json"))
    assert result["tool calls"].ok, result
    [ping] = llm_server.chat_requests
    assert "tools" not in ping.body
    assert "- ping:" in ping.body["messages"][0]["content"]


def test_probe_in_json_mode_with_a_model_that_ignores_the_format(
    llm_server: ScriptedServer,
) -> None:
    llm_server.reply("Pong.")
    result = probe(backend(llm_server, tool_mode="json"))
    assert not result["tool calls"].ok
    assert "LITELLM_MODEL" in result["tool calls"].fix


# --------------------------------------------------------------------------- the test server


def test_the_server_comes_back_on_the_same_port(llm_server: ScriptedServer) -> None:
    port = llm_server.port
    llm_server.reply("Before.").reply("After.")
    assert "".join(texts(collect(backend(llm_server)))) == "Before."
    llm_server.stop()
    assert isinstance(failure(backend(llm_server))[0], LLMUnavailable)
    llm_server.start()
    assert llm_server.port == port
    assert "".join(texts(collect(backend(llm_server)))) == "After."


def test_an_unscripted_request_fails_loudly(llm_server: ScriptedServer) -> None:
    error, _ = failure(backend(llm_server))
    assert isinstance(error, LLMUnavailable) and "no reply scripted" in str(error)


@pytest.mark.parametrize("call_index", ["zero", "omit"])
def test_calls_sent_whole_with_a_wrong_index_are_kept_apart(
    llm_server: ScriptedServer, call_index: Literal["zero", "omit"]
) -> None:
    """Some servers number every call 0, or not at all, and send each call whole."""
    rolls = [("roll", {"expression": "d20"}), ("roll", {"expression": "d6"})]
    llm_server.reply(tool_calls=rolls, whole_calls=True, call_index=call_index)
    chunks = collect(backend(llm_server))
    assert [(c.id, json.loads(c.arguments)) for c in calls(chunks)] == [
        ("call_0_0", {"expression": "d20"}),
        ("call_0_1", {"expression": "d6"}),
    ]


def test_arguments_without_index_continue_the_last_call(llm_server: ScriptedServer) -> None:
    llm_server.reply(tool_calls=[("roll", {"expression": "2d6+3"})], call_index="omit")
    [call] = calls(collect(backend(llm_server)))
    assert json.loads(call.arguments) == {"expression": "2d6+3"}


def test_serve_llm_puts_any_llm_on_the_wire(llm_server: ScriptedServer) -> None:
    """The helper end-to-end tests use: a ScriptedLLM answering through real HTTP."""
    scripted = ScriptedLLM(
        [ScriptedReply("Grukk rolls.", tool_calls=[("roll", {"expression": "d20"})])]
    )
    llm_server.default = serve_llm(scripted)
    call = ToolCall("call_abc", "skill_check", '{"player": "aria"}')
    history = (
        Message("system", "You are Mardonar."),
        Message("assistant", "", tool_calls=(call,)),
        Message("tool", '{"ok": true}', tool_call_id="call_abc"),
    )
    chunks = collect(backend(llm_server), ask(history, temperature=0.5))
    assert "".join(texts(chunks)) == "Grukk rolls."
    [roll] = calls(chunks)
    assert roll.id == "scripted_0_0" and json.loads(roll.arguments) == {"expression": "d20"}
    [seen] = scripted.requests
    assert seen.messages == history
    assert [t.name for t in seen.tools] == ["skill_check", "resolve"]
    assert seen.temperature == 0.5
