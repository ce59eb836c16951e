"""`mardonar doctor`'s view of an OpenAI-compatible backend: reachable, model served, tool
calls work. Network problems become failed checks, never exceptions."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import openai
from openai import AsyncOpenAI

from mardonar.llm.base import LLMConfigError, Message, ToolSpec
from mardonar.llm.openai_compat.deltas import _add_call_delta, _PartialCall
from mardonar.llm.openai_compat.errors import (
    EmptyStream,
    _caught,
    _Failure,
    _is_timeout,
    _short_list,
    connection_problem,
)
from mardonar.llm.openai_compat.jsonmode import json_mode_messages, parse_json_calls
from mardonar.llm.openai_compat.wire import tool_param
from mardonar.llm.textcalls import recover_tool_calls
from mardonar.netreason import REFUSED
from mardonar.wording import one_line

if TYPE_CHECKING:
    from mardonar.llm.openai_compat.client import OpenAICompatLLM

PROBE_TIMEOUT = 10.0
"""Most seconds each probe request may take: `mardonar doctor` must not sit for a minute
on a hung server (the per-request LLM timeout defaults to 60 s)."""


@dataclass(frozen=True)
class Probe:
    """One line of `mardonar doctor`: what was checked, whether it works, and what to do."""

    check: str
    ok: bool
    detail: str
    fix: str = ""


_PING = ToolSpec(
    "ping",
    "Health check: call this tool, with no arguments, when asked to.",
    {"type": "object", "properties": {}},
)


async def probe(llm: OpenAICompatLLM, timeout: float | None = None) -> list[Probe]:
    """Five checks for `mardonar doctor`, always in this order: "reachable", "model",
    "tool calls", "usage", "context window". Network problems become failed checks, never
    exceptions.

    The tool-call check is a real streamed request, as the engine makes them (at most 16
    tokens; 32 in json tool mode): a server can list a model and still fail to run it, and
    LiteLLM's list may be partial (wildcard routes), so a model that answers counts as
    served even when unlisted. Its stream also tells whether the server reports token
    usage. The context window is asked at the same time (window.py)."""
    window, checks = await asyncio.gather(llm.context_window(), _checks(llm, timeout))
    if not checks[0].ok:
        return [*checks, Probe("context window", False, checks[1].detail)]  # "not checked: …"
    if window is None:
        found = Probe(
            "context window",
            True,
            "unknown: the server does not report it, so only MARDONAR_CONTEXT_BUDGET bounds "
            "the prompt",
            "set MARDONAR_CONTEXT_WINDOW to the server's context size (llama-cpp-python: "
            "its --n_ctx, 2048 by default)",
        )
    else:
        found = Probe("context window", True, f"{window.tokens:,} tokens ({window.source})")
    return [*checks, found]


async def _checks(llm: OpenAICompatLLM, timeout: float | None) -> list[Probe]:
    """reachable, model, tool calls, usage."""
    limit = min(llm.timeout, PROBE_TIMEOUT) if timeout is None else timeout
    client = llm._openai(timeout=limit)
    served: list[str] | None = None
    list_failure: _Failure | None = None
    try:
        served = [model.id async for model in client.models.list()]
    except _caught() as error:
        list_failure = _list_failure(llm, error, limit)
    if list_failure is not None and not list_failure.what.startswith("HTTP"):
        return _unreachable(llm, list_failure)

    ping = await _ping(llm, client, served, limit)
    ok, detail, failure = ping.ok, ping.detail, ping.failure
    if failure is not None and _ends_probe(failure, llm._setting("")):
        return _unreachable(llm, failure)

    if served is not None:
        reachable = Probe("reachable", True, f"{llm.where} answers; it lists {_count(served)}")
    else:
        what = list_failure.what if list_failure is not None else "no list"
        reachable = Probe("reachable", True, f"{llm.where} answers (GET /models: {what})")

    setting = llm._setting("MODEL")
    fix = (
        f"set {setting} to one of: {_short_list(served)}"
        if served
        else (f"set {setting} to a model the server serves")
    )
    missing = (
        failure is not None and failure.config is not None and failure.config.setting == setting
    )
    if missing:
        model = Probe("model", False, f"{llm.model!r} is not served", fix)
    elif served and _served(llm.model, served):
        model = Probe("model", True, f"{llm.model!r} is served")
    elif served and failure is None:
        model = Probe("model", True, f"{llm.model!r} is not listed, but it answers")
    elif served:
        model = Probe("model", False, f"{llm.model!r} is not among the models listed", fix)
    elif served is not None:
        model = Probe("model", True, f"the server lists no models: {llm.model!r} unconfirmed")
    else:
        model = Probe("model", True, f"no model list to find {llm.model!r} in (unconfirmed)")

    if missing:
        tools = Probe("tool calls", False, "not checked: the model is not served")
    elif failure is not None:
        tools = Probe("tool calls", False, failure.what, _tools_fix(failure))
    elif ok:
        tools = Probe("tool calls", True, detail)
    elif llm.tool_mode == "json":
        tools = Probe(
            "tool calls", False, detail, f"set {setting} to a model that follows instructions"
        )
    else:
        tools = Probe(
            "tool calls",
            False,
            detail,
            "set MARDONAR_TOOL_MODE=json, or use a model with tool support",
        )
    if ping.usage is None:
        usage = Probe("usage", False, "not checked: the tool-call request failed")
    elif ping.usage:
        usage = Probe("usage", True, "the server reports token usage in streamed replies")
    else:
        usage = Probe(
            "usage",
            True,
            "not reported in streamed replies: Mardonar counts tokens itself (~4 characters "
            "a token), marked estimated",
        )
    return [reachable, model, tools, usage]


def _list_failure(llm: OpenAICompatLLM, error: BaseException, timeout: float) -> _Failure:
    """GET /models failed: a rejected key or no connection ends the probe; any other
    HTTP status only means there is no model list (the chat probe goes on)."""
    if isinstance(error, openai.APIStatusError):
        status = error.status_code
        if status in (401, 403):
            setting, _ = llm._key_fix()
            verb = "requires" if llm._api_key is None else "rejected"
            text = f"{llm.where} {verb} the API key (HTTP {status})"
            config = LLMConfigError(text, setting=setting)
            return _Failure(text, retryable=False, config=config, auth=True)
        return _Failure(f"HTTP {status}: {llm._server_message(error)}")
    if isinstance(error, openai.APITimeoutError) or _is_timeout(error):
        return _Failure(f"{llm.where}: timed out after {timeout:g} s")
    return _Failure(f"{llm.where}: {connection_problem(error)}")


def _unreachable(llm: OpenAICompatLLM, failure: _Failure) -> list[Probe]:
    """The three probes when nothing past the connection (or the key) could be checked."""
    setting = failure.config.setting if failure.config is not None else None
    if failure.auth:
        reason, fix = "the API key was rejected", llm._key_fix()[1]
    elif setting == llm._setting("BASE_URL"):
        reason, fix = "no OpenAI-compatible API at that address", f"set {setting}"
    else:
        reason = "the server is unreachable"
        fix = f"start the server, or set {llm._setting('BASE_URL')} to its address"
    what = failure.what if failure.what.startswith(llm.where) else (f"{llm.where}: {failure.what}")
    return [
        Probe("reachable", False, what, fix),
        Probe("model", False, f"not checked: {reason}"),
        Probe("tool calls", False, f"not checked: {reason}"),
        Probe("usage", False, f"not checked: {reason}"),
    ]


@dataclass(frozen=True)
class _Ping:
    ok: bool
    detail: str
    failure: _Failure | None = None
    usage: bool | None = None
    """Whether the stream carried token usage; None when no stream came back."""


@dataclass
class _Streamed:
    content: str = ""
    calls: int = 0
    reason: str | None = None
    usage: bool = False


async def _stream(client: AsyncOpenAI, params: dict[str, Any]) -> _Streamed:
    """The ping streamed, as the engine streams its requests."""
    try:
        stream = await client.chat.completions.create(
            **params, stream=True, stream_options={"include_usage": True}
        )
    except openai.APIConnectionError as error:
        # The model list answered a moment ago: a connection dropped on the chat request
        # (not refused, not slow) is the server failing on it, as llama-cpp-python does
        # when its error comes before its headers.
        if isinstance(error, openai.APITimeoutError) or connection_problem(error) == REFUSED:
            raise
        raise EmptyStream from error
    got = _Streamed()
    partial: dict[int, _PartialCall] = {}
    try:
        async for chunk in stream:
            if getattr(chunk, "usage", None) is not None:
                got.usage = True
            for choice in getattr(chunk, "choices", None) or ():
                delta = getattr(choice, "delta", None)
                if delta is not None and getattr(delta, "content", None):
                    got.content += delta.content
                for piece in (getattr(delta, "tool_calls", None) or ()) if delta else ():
                    _add_call_delta(partial, piece)
                if getattr(choice, "finish_reason", None):
                    got.reason = choice.finish_reason
    except _caught() as error:
        # Cut after the HTTP 200 before any answer: the server failed on the request, it
        # is not down (llama-cpp-python's error after its headers ends the stream cleanly
        # or cuts it, depending on timing).
        if got.reason is None and not got.content and not partial:
            raise EmptyStream from error
        raise
    finally:
        await stream.close()
    if got.reason is None and not got.content and not partial:
        raise EmptyStream  # llama-cpp-python, asked to stream a forced or a tool answer
    got.calls = sum(1 for call in partial.values() if call.name)
    return got


async def _ping(
    llm: OpenAICompatLLM, client: AsyncOpenAI, served: list[str] | None, timeout: float
) -> _Ping:
    """One tiny streamed completion asking for the `ping` tool."""
    started = time.perf_counter()
    if llm.tool_mode == "json":
        params: dict[str, Any] = {
            "model": llm.model,
            "messages": json_mode_messages(
                (Message("system", "You are a health check."), Message("user", "Call ping.")),
                (_PING,),
            ),
            "max_tokens": 32,
        }
    else:
        params = {
            "model": llm.model,
            "messages": [
                {"role": "system", "content": "You are a health check."},
                {"role": "user", "content": "Call the ping tool."},
            ],
            "tools": [tool_param(_PING)],
            "tool_choice": "required",
            "max_tokens": 16,
        }
    forced = ""
    try:
        try:
            got = await _stream(client, params)
        except (openai.APIError, EmptyStream) as error:
            if "tool_choice" not in params or isinstance(
                error, openai.APIConnectionError | openai.APITimeoutError
            ):
                raise
            # Whatever the server said: llama-cpp-python's chatml-function-calling answers
            # a forced choice with HTTP 500 and an empty message (it asserts "auto").
            forced = _forced_failure(error)
            params["tool_choice"] = "auto"
            got = await _stream(client, params)
        else:
            if params.get("tool_choice") == "required" and not got.calls:
                # Told to call a tool, it did not: the LiteLLM proxy in front of
                # llama-cpp-python turns the upstream failure into an empty answer.
                forced = "no tool call"
                params["tool_choice"] = "auto"
                got = await _stream(client, params)
    except EmptyStream:
        return _Ping(False, "", _no_streamed_call(llm))
    except _caught() as error:
        return _Ping(False, "", await llm._failure(error, served, timeout=timeout))
    elapsed = f"{(time.perf_counter() - started) * 1000:.0f} ms"
    if forced:
        elapsed += f"; forced tool choice unsupported ({forced}), auto works"
    ok, detail = _verdict(llm, got, elapsed)
    return _Ping(ok, detail, None, got.usage)


def _no_streamed_call(llm: OpenAICompatLLM) -> _Failure:
    """Asked (forced, then "auto") for a tool call, the stream had no answer at all."""
    text = (
        f"{llm.where} ended the stream without an answer when asked for a tool call: it "
        "cannot stream one (llama-cpp-python's chatml-function-calling cannot)"
    )
    return _Failure(
        text, retryable=False, config=LLMConfigError(text, setting="MARDONAR_TOOL_MODE")
    )


def _forced_failure(error: Exception) -> str:
    if isinstance(error, openai.APIStatusError):
        return f"HTTP {error.status_code}"
    if isinstance(error, EmptyStream):
        return "an empty stream"
    return "the server reported an error"


def _verdict(llm: OpenAICompatLLM, got: _Streamed, elapsed: str) -> tuple[bool, str]:
    """(ok, detail) of what the model answered."""
    content = got.content
    if llm.tool_mode == "native" and got.calls:
        return True, f"the model called the ping tool ({elapsed})"
    if llm.tool_mode == "json":
        if parse_json_calls(content, {"ping"}) is not None:
            return True, f"the model answered with the JSON call ({elapsed})"
        return False, f"the model did not answer with the JSON call: {_quote(content)}"
    if parse_json_calls(content, {"ping"}) is not None or recover_tool_calls(content).leaked:
        return False, f"the model wrote the call as text: {_quote(content)}"
    if got.reason == "length" and not content.strip():
        return False, "the model used up its 16 tokens without calling the tool"
    if got.reason is None and not content:
        return False, "the server answered with no choices"
    return False, f"the model answered with text instead of a tool call: {_quote(content)}"


def _tools_fix(failure: _Failure) -> str:
    config = failure.config
    if config is not None and config.setting == "MARDONAR_TOOL_MODE":
        return "set MARDONAR_TOOL_MODE=json, or use a model with tool support"
    if config is not None and config.setting:
        return f"set {config.setting}"
    if "timed out" in failure.what:
        return "check the server's load, or raise MARDONAR_LLM_TIMEOUT"
    return "check the server's logs"


def _ends_probe(failure: _Failure, prefix: str) -> bool:
    """A chat-probe failure that means nothing past the connection could be checked: a
    rejected key, no API at that address, or no connection at all (not an HTTP error or a
    slow answer: those say the server is there)."""
    if failure.auth:
        return True
    if failure.config is not None:
        return failure.config.setting == f"{prefix}BASE_URL"
    return not failure.what.startswith(("HTTP", "timed out", "the server reported"))


def _served(model: str, served: Sequence[str]) -> bool:
    """Ollama lists `llama3.2:latest` for a model asked for as `llama3.2`."""
    return model in served or f"{model}:latest" in served


def _count(served: Sequence[str]) -> str:
    return f"{len(served)} model" + ("" if len(served) == 1 else "s")


def _quote(text: str) -> str:
    return repr(one_line(text, 80, trim=True)) if text.strip() else "(empty)"
