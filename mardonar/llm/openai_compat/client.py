"""The OpenAI-compatible backend class: the client per event loop, streaming, retries.

The client is made lazily, once per event loop: httpx connections belong to the loop that
opened them, and a backend object may outlive one `asyncio.run`. How a failure is sorted is
errors.py, the wire format wire.py, json tool mode jsonmode.py, the doctor probe probe.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from typing import Any

import openai
from openai import AsyncOpenAI, AsyncStream
from openai.types.chat import ChatCompletionChunk

from mardonar.llm.base import (
    Chunk,
    ContextWindow,
    Finish,
    LLMConfigError,
    LLMRequest,
    LLMUnavailable,
    TextDelta,
    ToolCall,
)
from mardonar.llm.openai_compat.deltas import _add_call_delta, _PartialCall
from mardonar.llm.openai_compat.entities import EntityStream, decode_arguments, decode_reply
from mardonar.llm.openai_compat.errors import (
    _CONTEXT_TOO_LONG,
    _MODEL_PROBLEM,
    _TOOLS_UNSUPPORTED,
    EmptyStream,
    _caught,
    _error_code,
    _Failure,
    _is_timeout,
    _retry_after,
    _short_list,
    connection_problem,
    server_message,
)
from mardonar.llm.openai_compat.jsonmode import calls_from_text
from mardonar.llm.openai_compat.probe import PROBE_TIMEOUT, Probe
from mardonar.llm.openai_compat.probe import probe as run_probe
from mardonar.llm.openai_compat.usage import estimated_completion, estimated_prompt
from mardonar.llm.openai_compat.window import reported_window
from mardonar.llm.openai_compat.wire import ToolMode, chat_params
from mardonar.urls import redact_url

log = logging.getLogger(__name__)

NO_KEY = "not-needed"
"""Sent as the bearer token when no key is configured: local servers ignore it, and the
SDK refuses to start without one."""


class OpenAICompatLLM:
    """A chat model behind an OpenAI-compatible HTTP API, implementing the `LLM` Protocol.

    `label` names the backend in messages and in `name` ("litellm", "ollama");
    `settings_prefix` names its settings in fixes (LITELLM → LITELLM_MODEL, …).
    """

    def __init__(
        self,
        *,
        base_url: str,
        model: str,
        api_key: str | None = None,
        label: str = "litellm",
        timeout: float = 60.0,
        tool_mode: ToolMode = "native",
        retry_backoff: float = 0.5,
        max_retry_after: float = 30.0,
        settings_prefix: str = "LITELLM",
        context_window: int | None = None,
    ) -> None:
        if tool_mode not in ("native", "json"):
            raise ValueError(f"tool_mode must be 'native' or 'json', not {tool_mode!r}")
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.label = label
        self.timeout = timeout
        self.tool_mode: ToolMode = tool_mode
        self.retry_backoff = retry_backoff
        self.max_retry_after = max_retry_after
        self.settings_prefix = settings_prefix
        self._api_key = api_key or None
        self.configured_window = context_window
        """MARDONAR_CONTEXT_WINDOW: wins over what the server reports."""
        self._client: AsyncOpenAI | None = None
        self._client_loop: asyncio.AbstractEventLoop | None = None

    # ------------------------------------------------------------------ identity

    @property
    def name(self) -> str:
        return f"{self.label}:{self.model}"

    @property
    def where(self) -> str:
        """`litellm at http://host:4000/v1`: how every message names this backend."""
        return f"{self.label} at {redact_url(self.base_url)}"

    def __repr__(self) -> str:  # never the key
        return (
            f"OpenAICompatLLM(label={self.label!r}, model={self.model!r}, "
            f"base_url={redact_url(self.base_url)!r}, tool_mode={self.tool_mode!r})"
        )

    def _setting(self, suffix: str) -> str:
        return f"{self.settings_prefix}_{suffix}"

    def _key_fix(self) -> tuple[str, str]:
        """(setting, fix) for a missing or rejected API key.

        Only the preferred backend has a key setting (CONTRACT §9); Ollama takes none, so a
        401 there means the URL points at something in front of Ollama that wants one.
        """
        if self.settings_prefix == "OLLAMA":
            setting = self._setting("BASE_URL")
            return setting, (
                f"point {setting} at Ollama itself (it takes no API key), or configure a "
                "server that needs a key as LITELLM_BASE_URL with LITELLM_API_KEY"
            )
        setting = self._setting("API_KEY")
        return setting, f"set {setting}"

    # ------------------------------------------------------------------ the client

    def _openai(self, timeout: float | None = None) -> AsyncOpenAI:
        """The SDK client of the running event loop (made on first use in each loop)."""
        loop = asyncio.get_running_loop()
        if self._client is None or self._client_loop is not loop:
            self._client = AsyncOpenAI(
                base_url=self.base_url,
                api_key=self._api_key or NO_KEY,
                timeout=self.timeout,
                max_retries=0,  # one retry of our own, then the fallback: see the module doc
            )
            self._client_loop = loop
        return self._client if timeout is None else self._client.with_options(timeout=timeout)

    async def aclose(self) -> None:
        """Close the HTTP client (its connection pool); the backend can still be used after,
        a new client is made on the next call."""
        client, self._client, self._client_loop = self._client, None, None
        if client is not None:
            # RuntimeError: made in an event loop that is gone, nothing left to close
            with contextlib.suppress(RuntimeError):
                await client.close()

    # ------------------------------------------------------------------ streaming

    async def stream(self, request: LLMRequest) -> AsyncIterator[Chunk]:
        """Answer `request`: text deltas as they arrive, then tool calls, then `Finish`.

        Connection errors, timeouts, 429 and 5xx get one retry (after `retry_backoff`
        seconds, or the server's Retry-After up to `max_retry_after`), then
        `LLMUnavailable`; nothing is retried once text has been handed on."""
        params = chat_params(request, self.model, self.tool_mode)
        for attempt in (1, 2):
            yielded = False
            try:
                async with aclosing(self._attempt(params, request)) as chunks:
                    async for chunk in chunks:
                        yielded = True
                        yield chunk
                return
            except _caught() as error:
                failure = await self._failure(error)
            # Raised outside the except block, so the SDK's exception (whose message may
            # quote a server echoing the key) is not chained into tracebacks.
            if failure.config is not None:
                raise failure.config
            if yielded:
                raise LLMUnavailable(
                    f"{self.where}: {failure.what} in the middle of the reply", partial=True
                )
            if attempt == 1 and failure.retryable:
                delay = self.retry_backoff if failure.delay is None else failure.delay
                log.info("%s: %s; retrying in %.2f s", self.where, failure.what, delay)
                await asyncio.sleep(delay)
                continue
            retried = " (retried once)" if attempt == 2 else ""
            raise LLMUnavailable(f"{self.where}: {failure.what}{retried}")

    async def _attempt(
        self, params: dict[str, Any], request: LLMRequest
    ) -> AsyncGenerator[Chunk, None]:
        """One request: stream it, assemble tool calls, end with `Finish`."""
        buffered = self.tool_mode == "json" and bool(request.tools)
        # The SDK's `chat.completions.create` first walks the whole request through its
        # TypedDict transformer: ~12 ms for a 4,000-token context, half of a turn against a
        # server that answers at once (bench/bench_engine.py --backend loopback). Our
        # messages are plain JSON already, so post them as the body through the same client
        # (same retries-off, timeouts, headers, error classes and SSE parsing).
        body = dict(params)
        body.update(body.pop("extra_body", None) or {})
        response = await self._openai().post(
            "/chat/completions",
            body=body,
            cast_to=ChatCompletionChunk,
            stream=True,
            stream_cls=AsyncStream[ChatCompletionChunk],
        )
        partial: dict[int, _PartialCall] = {}
        content: list[str] = []
        entities = EntityStream()
        reason: str | None = None
        prompt_tokens: int | None = None
        completion_tokens: int | None = None
        answered = False
        try:
            async for chunk in response:
                usage = getattr(chunk, "usage", None)
                if usage is not None:
                    prompt_tokens = getattr(usage, "prompt_tokens", None)
                    completion_tokens = getattr(usage, "completion_tokens", None)
                for choice in getattr(chunk, "choices", None) or ():
                    answered = True
                    if getattr(choice, "index", 0) not in (0, None):
                        continue  # n > 1 is never asked for; ignore extra choices
                    delta = getattr(choice, "delta", None)
                    text = getattr(delta, "content", None) if delta is not None else None
                    if text:
                        content.append(text)
                        shown = "" if buffered else entities.feed(text)
                        if shown:
                            yield TextDelta(shown)
                    for piece in (getattr(delta, "tool_calls", None) or ()) if delta else ():
                        _add_call_delta(partial, piece)
                    if getattr(choice, "finish_reason", None):
                        reason = choice.finish_reason
        finally:
            await response.close()
        if not answered:
            raise EmptyStream
        rest = "" if buffered else entities.end()
        if rest:
            yield TextDelta(rest)

        number = sum(1 for m in request.messages if m.role == "assistant")
        calls = [
            ToolCall(
                call.id or f"call_{number}_{index}",
                call.name,
                decode_arguments("".join(call.arguments).strip() or "{}"),
            )
            for index, call in sorted(partial.items())
            if call.name
        ]
        if buffered:
            whole = decode_reply("".join(content))
            text, written = calls_from_text(whole, request.tools, number)
            calls += written
            if text:
                yield TextDelta(text)
        for call in calls:
            yield call
        reason = reason or "stop"
        if calls and reason == "stop":
            reason = "tool_calls"  # Ollama says "stop" even when it called tools
        if prompt_tokens is None and completion_tokens is None:
            yield Finish(
                reason,
                estimated_prompt(body),
                estimated_completion("".join(content), calls),
                estimated=True,
            )
            return
        yield Finish(reason, prompt_tokens, completion_tokens)

    # ------------------------------------------------------------------ failures

    async def _failure(
        self,
        error: BaseException,
        served: list[str] | None = None,
        *,
        timeout: float | None = None,
    ) -> _Failure:
        """What went wrong, in one line, and whether a retry or the fallback can help."""
        if isinstance(error, openai.APITimeoutError) or _is_timeout(error):
            return _Failure(f"timed out after {timeout or self.timeout:g} s")
        if isinstance(error, openai.APIConnectionError):
            return _Failure(connection_problem(error))
        if isinstance(error, openai.APIStatusError):
            return await self._status_failure(error, served)
        if isinstance(error, openai.APIError):  # an error event inside the stream
            return _Failure(f"the server reported an error: {self._server_message(error)}")
        if isinstance(error, json.JSONDecodeError):
            return _Failure("sent a malformed stream (not JSON)")
        if isinstance(error, EmptyStream):
            return self._empty_stream()
        return _Failure(connection_problem(error))

    async def _status_failure(
        self, error: openai.APIStatusError, served: list[str] | None
    ) -> _Failure:
        status = error.status_code
        message = self._server_message(error)
        if status == 429:
            delay = _retry_after(error.response.headers)
            if delay is not None:
                delay = min(delay, self.max_retry_after)
            return _Failure(f"HTTP 429 rate limited: {message}", delay=delay)
        if status >= 500 or status == 408:
            return _Failure(f"HTTP {status}: {message}")
        code = _error_code(error)
        if status in (401, 403) and not _MODEL_PROBLEM.search(message):
            setting, fix = self._key_fix()
            if self._api_key is None:
                text = f"{self.where} requires an API key (HTTP {status}): {fix}"
            else:
                text = f"{self.where} rejected the API key (HTTP {status}): {fix}"
            config = LLMConfigError(text, setting=setting)
            return _Failure(text, retryable=False, config=config, auth=True)
        if self.tool_mode == "native" and _TOOLS_UNSUPPORTED.search(message):
            text = (
                f"{self.where} does not support tool calls with {self.model} (HTTP {status}: "
                f"{message}): set MARDONAR_TOOL_MODE=json, or use a model with tool support"
            )
            return _Failure(
                text, retryable=False, config=LLMConfigError(text, setting="MARDONAR_TOOL_MODE")
            )
        if code == "model_not_found" or _MODEL_PROBLEM.search(message) or status == 404:
            if served is None:
                served = await self._served_models()
            return self._model_failure(status, message, served)
        if _CONTEXT_TOO_LONG.search(message):
            text = (
                f"{self.where}: the prompt is too long for {self.model} (HTTP {status}: "
                f"{message}): lower MARDONAR_CONTEXT_BUDGET"
            )
            return _Failure(
                text,
                retryable=False,
                config=LLMConfigError(text, setting="MARDONAR_CONTEXT_BUDGET"),
            )
        text = f"{self.where} rejected the request (HTTP {status}): {message}"
        return _Failure(text, retryable=False, config=LLMConfigError(text))

    def _empty_stream(self) -> _Failure:
        """No answer at all in a stream: llama-cpp-python fails that way after its HTTP 200
        (or cuts the stream) when the prompt is over its --n_ctx, and when asked to stream
        a tool call, which only a `tool_choice` (never sent by the engine) lets it try."""
        return _Failure(
            "ended the stream without an answer (llama-cpp-python does so for a prompt over "
            "its context: set MARDONAR_CONTEXT_WINDOW to its --n_ctx)"
        )

    def _model_failure(self, status: int, message: str, served: list[str] | None) -> _Failure:
        """A 404 or a model complaint: the model name is wrong — unless the 404 came from a
        server with no OpenAI API at that path at all (no /models either)."""
        if status == 404 and served is None and not re.search("model", message, re.I):
            setting = self._setting("BASE_URL")
            text = (
                f"{self.where}: no OpenAI-compatible API there (HTTP 404): set {setting} "
                "to the API root (it usually ends in /v1)"
            )
            return _Failure(text, retryable=False, config=LLMConfigError(text, setting=setting))
        setting = self._setting("MODEL")
        if served:
            listed = _short_list(served)
            hint = f"set {setting} to one of the models it serves: {listed}"
        else:
            hint = f"set {setting} to a model it serves"
        text = f"{self.where} does not serve the model {self.model!r} (HTTP {status}): {hint}"
        return _Failure(text, retryable=False, config=LLMConfigError(text, setting=setting))

    async def _served_models(self) -> list[str] | None:
        """The models GET /models lists; None when that fails (never raises)."""
        try:
            client = self._openai(timeout=min(self.timeout, PROBE_TIMEOUT))
            return [model.id async for model in client.models.list()]
        except Exception:  # best effort: only decorates an error message or a probe
            return None

    def _server_message(self, error: openai.APIError) -> str:
        """The server's own words, on one line, at most 200 characters, secrets masked."""
        return server_message(error, self._api_key)

    # ------------------------------------------------------------------ mardonar doctor

    async def context_window(self) -> ContextWindow | None:
        """MARDONAR_CONTEXT_WINDOW when set, else what the server reports (window.py:
        asked once per process, at most a few seconds, never raising); None when unknown."""
        if self.configured_window is not None:
            return ContextWindow(self.configured_window, "MARDONAR_CONTEXT_WINDOW")
        return await reported_window(self)

    async def probe(self, *, timeout: float | None = None) -> list[Probe]:
        """Three checks for `mardonar doctor`, in this order: "reachable", "model",
        "tool calls" (probe.py says how)."""
        return await run_probe(self, timeout)
