"""The OpenAI-compatible backend: LiteLLM, Ollama's /v1, vLLM, llama.cpp server, LM Studio.

One class talks to all of them through the `openai` SDK's async client, streaming. What it
adds to the SDK is what the turn loop needs from a backend:

- Tool calls arrive as deltas spread over many chunks (id and name first, the arguments in
  pieces, several calls interleaved by `index`); they are assembled here and handed on as
  complete `ToolCall`s at the end of the stream. Text is handed on as it arrives.
- Failures are sorted into the two kinds the fallback chain acts on. Down, timed out,
  overloaded (connection errors, 429, 5xx) is `LLMUnavailable` after ONE retry of our own
  (the SDK's retries are off: two layers of retries would multiply the wait before the
  fallback). A failure after text was already handed on is never retried — the players saw
  it — and says so (`partial=True`). The caller's fault (bad key, unknown model, a request
  the server rejects) is `LLMConfigError` naming the setting to fix, never retried.
- Messages never carry the API key: servers that echo it back (LiteLLM does) are redacted.
- `tool_mode="json"` (MARDONAR_TOOL_MODE=json) is for servers or models without tool
  support: the tools are described in the system prompt, the model answers with a JSON
  object, and that JSON is turned back into `ToolCall`s here, so the loop cannot tell.
- `probe()` is `mardonar doctor`'s view: reachable, model served, tool calls work.

The client is made lazily, once per event loop: httpx connections belong to the loop that
opened them, and a backend object may outlive one `asyncio.run`.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import json
import logging
import re
import socket
import sys
import time
from collections.abc import AsyncGenerator, AsyncIterator, Collection, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any, Literal

import openai
from openai import AsyncOpenAI, AsyncStream
from openai.types.chat import ChatCompletionChunk

from mardonar.llm.base import (
    Chunk,
    Finish,
    LLMConfigError,
    LLMRequest,
    LLMUnavailable,
    Message,
    TextDelta,
    ToolCall,
    ToolSpec,
)
from mardonar.llm.textcalls import recover_tool_calls
from mardonar.urls import redact_url

log = logging.getLogger(__name__)

ToolMode = Literal["native", "json"]

NO_KEY = "not-needed"
"""Sent as the bearer token when no key is configured: local servers ignore it, and the
SDK refuses to start without one."""

TOOL_RESULT_PREFIX = "[tool result"
"""In json tool mode, a tool result goes back as a user message starting with
`[tool result NAME]`."""

PROBE_TIMEOUT = 10.0
"""Most seconds each probe request may take: `mardonar doctor` must not sit for a minute
on a hung server (the per-request LLM timeout defaults to 60 s)."""

# Parameters every `chat.completions.create` since openai 1.40 accepts by name; any other
# option goes in `extra_body`, so a persona or settings option the installed SDK does not
# know (`top_k`, `repeat_penalty`…) still reaches servers that understand it.
_NAMED_OPTIONS = frozenset(
    {
        "top_p",
        "stop",
        "presence_penalty",
        "frequency_penalty",
        "seed",
        "n",
        "user",
        "logit_bias",
        "logprobs",
        "top_logprobs",
        "response_format",
        "parallel_tool_calls",
        "tool_choice",
        "max_completion_tokens",
    }
)
_RESERVED = frozenset(
    {"model", "messages", "stream", "stream_options", "tools", "timeout", "extra_body"}
)

_MODEL_PROBLEM = re.compile(
    r"\bmodel\b.{0,120}?\b(?:not found|does not exist|not exist|unknown|invalid|not available|"
    r"no such|isn't available|not allowed|no access|not supported)\b"
    r"|\b(?:unknown|invalid|no such) model\b|\bmodel_not_found\b",
    re.IGNORECASE | re.DOTALL,
)
_TOOLS_UNSUPPORTED = re.compile(
    r"\btools?\b.{0,60}?\b(?:not supported|unsupported|not support)"
    r"|\b(?:not support|doesn't support|does not support)\b.{0,40}?\btool",
    re.IGNORECASE | re.DOTALL,
)
_CONTEXT_TOO_LONG = re.compile(
    r"context (?:length|window)|maximum context|too many tokens|prompt is too long"
    r"|exceeds? the (?:model's )?(?:maximum|max)",
    re.IGNORECASE,
)
_SECRETS = (
    (re.compile(r"(?i)(bearer\s+)\S+"), r"\1***"),
    (re.compile(r"(?i)(api[ _-]?key\s*[=:]\s*)\S+"), r"\1***"),
    (re.compile(r"\bsk-[\w.-]{3,}"), "sk-***"),
)


@dataclass(frozen=True)
class Probe:
    """One line of `mardonar doctor`: what was checked, whether it works, and what to do."""

    check: str
    ok: bool
    detail: str
    fix: str = ""


@dataclass
class _PartialCall:
    """A tool call being assembled from stream deltas."""

    id: str = ""
    name: str = ""
    arguments: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Failure:
    """A failed attempt, sorted: `config` set = the caller's fault, never retried."""

    what: str
    retryable: bool = True
    delay: float | None = None
    config: LLMConfigError | None = None
    auth: bool = False
    """The server wants a (different) API key: nothing past the key could be checked."""


_PING = ToolSpec(
    "ping",
    "Health check: call this tool, with no arguments, when asked to.",
    {"type": "object", "properties": {}},
)


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
        params = self._params(request)
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
        reason: str | None = None
        prompt_tokens: int | None = None
        completion_tokens: int | None = None
        try:
            async for chunk in response:
                usage = getattr(chunk, "usage", None)
                if usage is not None:
                    prompt_tokens = getattr(usage, "prompt_tokens", None)
                    completion_tokens = getattr(usage, "completion_tokens", None)
                for choice in getattr(chunk, "choices", None) or ():
                    if getattr(choice, "index", 0) not in (0, None):
                        continue  # n > 1 is never asked for; ignore extra choices
                    delta = getattr(choice, "delta", None)
                    text = getattr(delta, "content", None) if delta is not None else None
                    if text:
                        if buffered:
                            content.append(text)
                        else:
                            yield TextDelta(text)
                    for piece in (getattr(delta, "tool_calls", None) or ()) if delta else ():
                        _add_call_delta(partial, piece)
                    if getattr(choice, "finish_reason", None):
                        reason = choice.finish_reason
        finally:
            await response.close()

        number = sum(1 for m in request.messages if m.role == "assistant")
        calls = [
            ToolCall(
                call.id or f"call_{number}_{index}",
                call.name,
                "".join(call.arguments).strip() or "{}",
            )
            for index, call in sorted(partial.items())
            if call.name
        ]
        if buffered:
            text, written = self._calls_from_text("".join(content), request.tools, number)
            calls += written
            if text:
                yield TextDelta(text)
        for call in calls:
            yield call
        reason = reason or "stop"
        if calls and reason == "stop":
            reason = "tool_calls"  # Ollama says "stop" even when it called tools
        yield Finish(reason, prompt_tokens, completion_tokens)

    def _calls_from_text(
        self, content: str, tools: Sequence[ToolSpec], number: int
    ) -> tuple[str, list[ToolCall]]:
        """json tool mode: the reply's JSON becomes calls; what is left is narration."""
        names = {tool.name for tool in tools}
        parsed = parse_json_calls(content, names)
        if parsed is not None:
            return "", [
                ToolCall(f"json_{number}_{i}", name, args) for i, (name, args) in enumerate(parsed)
            ]
        recovered = recover_tool_calls(content)
        if not recovered.leaked:
            return content, []
        calls = [
            ToolCall(f"json_{number}_{i}", call.name, call.arguments)
            for i, call in enumerate(recovered.calls)
        ]
        return recovered.text, calls

    # ------------------------------------------------------------------ the request

    def _params(self, request: LLMRequest) -> dict[str, Any]:
        """The `chat.completions.create` arguments for `request`."""
        if self.tool_mode == "json":
            messages = json_mode_messages(request.messages, request.tools)
        else:
            messages = [native_message(message) for message in request.messages]
        params: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if request.tools and self.tool_mode == "native":
            params["tools"] = [tool_param(tool) for tool in request.tools]
        if request.temperature is not None:
            params["temperature"] = request.temperature
        if request.max_tokens is not None:
            params["max_tokens"] = request.max_tokens
        extra: dict[str, Any] = {}
        for key, value in request.options.items():
            if value is None or key in _RESERVED or key in params:
                continue  # the request's own temperature/max_tokens win over options
            if key == "tool_choice" and "tools" not in params:
                continue  # tool_choice without tools is a 400 on most servers
            if key in _NAMED_OPTIONS:
                params[key] = value
            else:
                extra[key] = value
        if extra:
            params["extra_body"] = extra
        return params

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
            return _Failure(_connection_problem(error))
        if isinstance(error, openai.APIStatusError):
            return await self._status_failure(error, served)
        if isinstance(error, openai.APIError):  # an error event inside the stream
            return _Failure(f"the server reported an error: {self._server_message(error)}")
        if isinstance(error, json.JSONDecodeError):
            return _Failure("sent a malformed stream (not JSON)")
        return _Failure(_connection_problem(error))

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

    def _server_message(self, error: openai.APIError) -> str:
        """The server's own words, on one line, at most 200 characters, secrets masked."""
        body = error.body
        message: Any = None
        if isinstance(body, dict):
            inner = body.get("error", body)
            if isinstance(inner, dict):
                message = inner.get("message") or inner.get("detail") or inner.get("error")
            elif isinstance(inner, str):
                message = inner
            if message is None and "detail" in body:
                message = body["detail"]
        elif isinstance(body, str):
            message = body
        if message is None:
            response = getattr(error, "response", None)
            text = ""
            if response is not None:
                try:
                    text = response.text
                except Exception:  # a streamed body that was never read
                    text = ""
            message = text or getattr(error, "message", "") or type(error).__name__
        if not isinstance(message, str):
            message = json.dumps(message, ensure_ascii=False)
        return self._redact(_one_line(message))

    def _redact(self, text: str) -> str:
        if self._api_key:
            text = text.replace(self._api_key, "***")
        for pattern, replacement in _SECRETS:
            text = pattern.sub(replacement, text)
        return text

    async def _served_models(self) -> list[str] | None:
        """The models GET /models lists; None when that fails (never raises)."""
        try:
            client = self._openai(timeout=min(self.timeout, PROBE_TIMEOUT))
            return [model.id async for model in client.models.list()]
        except Exception:  # best effort: only decorates an error message or a probe
            return None

    # ------------------------------------------------------------------ mardonar doctor

    async def probe(self, *, timeout: float | None = None) -> list[Probe]:
        """Three checks for `mardonar doctor`, always in this order: "reachable",
        "model", "tool calls". Network problems become failed checks, never exceptions.

        The tool-call check is a real request (at most 16 tokens; 32 in json tool mode): a
        server can list a model and still fail to run it, and LiteLLM's list may be partial
        (wildcard routes), so a model that answers counts as served even when unlisted."""
        limit = min(self.timeout, PROBE_TIMEOUT) if timeout is None else timeout
        client = self._openai(timeout=limit)
        served: list[str] | None = None
        list_failure: _Failure | None = None
        try:
            served = [model.id async for model in client.models.list()]
        except _caught() as error:
            list_failure = self._list_failure(error, limit)
        if list_failure is not None and not list_failure.what.startswith("HTTP"):
            return self._unreachable(list_failure)

        ok, detail, failure = await self._ping(client, served, limit)
        if failure is not None and _ends_probe(failure, self._setting("")):
            return self._unreachable(failure)

        if served is not None:
            reachable = Probe("reachable", True, f"{self.where} answers; it lists {_count(served)}")
        else:
            what = list_failure.what if list_failure is not None else "no list"
            reachable = Probe("reachable", True, f"{self.where} answers (GET /models: {what})")

        setting = self._setting("MODEL")
        fix = (
            f"set {setting} to one of: {_short_list(served)}"
            if served
            else (f"set {setting} to a model the server serves")
        )
        missing = (
            failure is not None and failure.config is not None and failure.config.setting == setting
        )
        if missing:
            model = Probe("model", False, f"{self.model!r} is not served", fix)
        elif served and _served(self.model, served):
            model = Probe("model", True, f"{self.model!r} is served")
        elif served and failure is None:
            model = Probe("model", True, f"{self.model!r} is not listed, but it answers")
        elif served:
            model = Probe("model", False, f"{self.model!r} is not among the models listed", fix)
        elif served is not None:
            model = Probe("model", True, f"the server lists no models: {self.model!r} unconfirmed")
        else:
            model = Probe("model", True, f"no model list to find {self.model!r} in (unconfirmed)")

        if missing:
            tools = Probe("tool calls", False, "not checked: the model is not served")
        elif failure is not None:
            tools = Probe("tool calls", False, failure.what, self._tools_fix(failure))
        elif ok:
            tools = Probe("tool calls", True, detail)
        elif self.tool_mode == "json":
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
        return [reachable, model, tools]

    def _list_failure(self, error: BaseException, timeout: float) -> _Failure:
        """GET /models failed: a rejected key or no connection ends the probe; any other
        HTTP status only means there is no model list (the chat probe goes on)."""
        if isinstance(error, openai.APIStatusError):
            status = error.status_code
            if status in (401, 403):
                setting, _ = self._key_fix()
                verb = "requires" if self._api_key is None else "rejected"
                text = f"{self.where} {verb} the API key (HTTP {status})"
                config = LLMConfigError(text, setting=setting)
                return _Failure(text, retryable=False, config=config, auth=True)
            return _Failure(f"HTTP {status}: {self._server_message(error)}")
        if isinstance(error, openai.APITimeoutError) or _is_timeout(error):
            return _Failure(f"{self.where}: timed out after {timeout:g} s")
        return _Failure(f"{self.where}: {_connection_problem(error)}")

    def _unreachable(self, failure: _Failure) -> list[Probe]:
        """The three probes when nothing past the connection (or the key) could be checked."""
        setting = failure.config.setting if failure.config is not None else None
        if failure.auth:
            reason, fix = "the API key was rejected", self._key_fix()[1]
        elif setting == self._setting("BASE_URL"):
            reason, fix = "no OpenAI-compatible API at that address", f"set {setting}"
        else:
            reason = "the server is unreachable"
            fix = f"start the server, or set {self._setting('BASE_URL')} to its address"
        what = (
            failure.what
            if failure.what.startswith(self.where)
            else (f"{self.where}: {failure.what}")
        )
        return [
            Probe("reachable", False, what, fix),
            Probe("model", False, f"not checked: {reason}"),
            Probe("tool calls", False, f"not checked: {reason}"),
        ]

    async def _ping(
        self, client: AsyncOpenAI, served: list[str] | None, timeout: float
    ) -> tuple[bool, str, _Failure | None]:
        """One tiny completion asking for the `ping` tool: (ok, detail, failure)."""
        started = time.perf_counter()
        if self.tool_mode == "json":
            params: dict[str, Any] = {
                "model": self.model,
                "messages": json_mode_messages(
                    (Message("system", "You are a health check."), Message("user", "Call ping.")),
                    (_PING,),
                ),
                "max_tokens": 32,
            }
        else:
            params = {
                "model": self.model,
                "messages": [
                    {"role": "system", "content": "You are a health check."},
                    {"role": "user", "content": "Call the ping tool."},
                ],
                "tools": [tool_param(_PING)],
                "tool_choice": "required",
                "max_tokens": 16,
            }
        try:
            try:
                completion = await client.chat.completions.create(**params)
            except (openai.BadRequestError, openai.UnprocessableEntityError) as error:
                if "tool_choice" not in params or _MODEL_PROBLEM.search(str(error.body)):
                    raise
                params["tool_choice"] = "auto"  # servers that only know "auto"
                completion = await client.chat.completions.create(**params)
        except _caught() as error:
            return False, "", await self._failure(error, served, timeout=timeout)
        elapsed = f"{(time.perf_counter() - started) * 1000:.0f} ms"
        choices = getattr(completion, "choices", None) or []
        if not choices:
            return False, "the server answered with no choices", None
        message = choices[0].message
        reason = choices[0].finish_reason
        if self.tool_mode == "native" and getattr(message, "tool_calls", None):
            return True, f"the model called the ping tool ({elapsed})", None
        content = getattr(message, "content", None) or ""
        if self.tool_mode == "json":
            if parse_json_calls(content, {"ping"}) is not None:
                return True, f"the model answered with the JSON call ({elapsed})", None
            return False, f"the model did not answer with the JSON call: {_quote(content)}", None
        if parse_json_calls(content, {"ping"}) is not None or recover_tool_calls(content).leaked:
            return False, f"the model wrote the call as text: {_quote(content)}", None
        if reason == "length" and not content.strip():
            return False, "the model used up its 16 tokens without calling the tool", None
        return (
            False,
            f"the model answered with text instead of a tool call: {_quote(content)}",
            None,
        )

    def _tools_fix(self, failure: _Failure) -> str:
        config = failure.config
        if config is not None and config.setting == "MARDONAR_TOOL_MODE":
            return "set MARDONAR_TOOL_MODE=json, or use a model with tool support"
        if config is not None and config.setting:
            return f"set {config.setting}"
        if "timed out" in failure.what:
            return "check the server's load, or raise MARDONAR_LLM_TIMEOUT"
        return "check the server's logs"


# --------------------------------------------------------------------------- message mapping


def tool_param(tool: ToolSpec) -> dict[str, Any]:
    """A `ToolSpec` as the OpenAI `tools` entry."""
    return {
        "type": "function",
        "function": {
            "name": tool.name,
            "description": tool.description,
            "parameters": tool.parameters,
        },
    }


def native_message(message: Message) -> dict[str, Any]:
    """One of our messages as an OpenAI chat message."""
    if message.role == "assistant":
        out: dict[str, Any] = {
            "role": "assistant",
            # null, not "", beside tool calls: LiteLLM turns "" into an empty text block,
            # which some providers behind it (Anthropic) reject.
            "content": message.content or (None if message.tool_calls else ""),
        }
        if message.tool_calls:
            out["tool_calls"] = [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": call.arguments or "{}"},
                }
                for call in message.tool_calls
            ]
        return out
    if message.role == "tool":
        return {
            "role": "tool",
            "tool_call_id": message.tool_call_id or "",
            "content": message.content,
        }
    return {"role": message.role, "content": message.content}


def json_mode_instructions(tools: Sequence[ToolSpec]) -> str:
    """The system-prompt section that replaces native tools in json tool mode."""
    lines = [
        "## Tools",
        "To call a tool, answer with ONLY a JSON object and nothing else:",
        '{"tool": "NAME", "arguments": {...}}',
        "To call several tools at once, answer with a JSON list of such objects.",
        f"Each result comes back in a user message starting with {TOOL_RESULT_PREFIX} NAME], "
        "followed by JSON.",
        "When you need no tool, answer in plain prose, with no JSON.",
        "Tools (name: what it does; arguments as JSON Schema):",
    ]
    for tool in tools:
        schema = json.dumps(tool.parameters, separators=(",", ":"), sort_keys=True)
        lines.append(f"- {tool.name}: {_one_line(tool.description, 300)} Arguments: {schema}")
    return "\n".join(lines)


def json_mode_messages(
    messages: Sequence[Message], tools: Sequence[ToolSpec]
) -> list[dict[str, Any]]:
    """Our messages for a server without tool support: tool instructions in the system
    message, calls as JSON in assistant content, results as user messages.

    Consecutive tool results become ONE user message: several chat templates (llama.cpp's,
    Mistral's) reject two user messages in a row."""
    names = {call.id: call.name for m in messages for call in m.tool_calls}
    out: list[dict[str, Any]] = []
    instructions = json_mode_instructions(tools) if tools else ""
    placed = not instructions
    previous_was_result = False
    for message in messages:
        is_result = message.role == "tool"
        if message.role == "system":
            content = message.content
            if not placed:
                content = f"{content.rstrip()}\n\n{instructions}" if content else instructions
                placed = True
            out.append({"role": "system", "content": content})
        elif message.role == "assistant":
            parts = [message.content.strip()] if message.content.strip() else []
            if message.tool_calls:
                objects = [
                    {"tool": call.name, "arguments": _json_or_text(call.arguments)}
                    for call in message.tool_calls
                ]
                value: Any = objects[0] if len(objects) == 1 else objects
                parts.append(json.dumps(value, ensure_ascii=False))
            out.append({"role": "assistant", "content": "\n".join(parts)})
        elif is_result:
            name = message.name or names.get(message.tool_call_id or "", "tool")
            line = f"{TOOL_RESULT_PREFIX} {name}] {message.content}"
            if previous_was_result:
                out[-1]["content"] += "\n" + line
            else:
                out.append({"role": "user", "content": line})
        else:
            out.append({"role": message.role, "content": message.content})
        previous_was_result = is_result
    if not placed:
        out.insert(0, {"role": "system", "content": instructions})
    return out


def parse_json_calls(text: str, names: Collection[str]) -> list[tuple[str, str]] | None:
    """`{"tool": NAME, "arguments": {...}}` (or a list of them, in a code fence or not) →
    [(name, arguments JSON)]; None unless the WHOLE text is such calls to known tools."""
    body = text.strip()
    fenced = re.fullmatch(r"```[a-zA-Z]*\s*(.*?)\s*```", body, re.DOTALL)
    if fenced:
        body = fenced.group(1)
    if not body.startswith(("{", "[")):
        return None
    try:
        value = json.loads(body)
    except json.JSONDecodeError:
        return None
    items = value if isinstance(value, list) else [value]
    calls: list[tuple[str, str]] = []
    for item in items:
        if not isinstance(item, dict):
            return None
        name = item.get("tool", item.get("name"))
        args = item.get("arguments", item.get("args", item.get("parameters", {})))
        if isinstance(args, str):
            try:
                args = json.loads(args) if args.strip() else {}
            except json.JSONDecodeError:
                return None
        if not isinstance(name, str) or name not in names or not isinstance(args, dict):
            return None
        calls.append((name, json.dumps(args, sort_keys=True, ensure_ascii=False)))
    return calls or None


# --------------------------------------------------------------------------- helpers


def _add_call_delta(partial: dict[int, _PartialCall], piece: Any) -> None:
    """Fold one tool-call delta into the calls being assembled, keyed by `index`.

    Servers that omit `index` (older Ollama) send each call whole or with its id repeated:
    a new id starts a new call, no id continues the last one. Servers that number every
    call 0 send each one whole with its own id: a different id at a taken index is a new
    call too."""
    index = getattr(piece, "index", None)
    call_id = getattr(piece, "id", None) or ""
    last = max(partial) if partial else -1
    if index is None:
        index = last if last >= 0 and not _new_id(partial[last], call_id) else last + 1
    elif index in partial and _new_id(partial[index], call_id):
        index = last + 1
    call = partial.setdefault(index, _PartialCall())
    if call_id and not call.id:
        call.id = call_id
    function = getattr(piece, "function", None)
    if function is None:
        return
    name = getattr(function, "name", None)
    if name and not call.name:
        call.name = name  # some servers repeat the name in every delta: keep the first
    arguments = getattr(function, "arguments", None)
    if arguments:
        call.arguments.append(arguments)


def _new_id(call: _PartialCall, call_id: str) -> bool:
    return bool(call_id and call.id and call_id != call.id)


def _caught() -> tuple[type[BaseException], ...]:
    """What one attempt may fail with: the SDK's errors, plus raw transport errors (older
    SDKs let httpx errors raised while reading the stream through unwrapped)."""
    errors: list[type[BaseException]] = [openai.APIError, OSError, json.JSONDecodeError]
    for module_name in ("httpx", "httpx2"):
        module = sys.modules.get(module_name)
        error = getattr(module, "TransportError", None) if module is not None else None
        if isinstance(error, type) and issubclass(error, BaseException):
            errors.append(error)
    return tuple(errors)


def _chain(error: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in seen and len(seen) < 10:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def _is_timeout(error: BaseException) -> bool:
    return any(
        isinstance(e, TimeoutError)
        or type(e).__name__.endswith("Timeout")
        or type(e).__name__.endswith("TimeoutError")
        for e in _chain(error)
    )


def _connection_problem(error: BaseException) -> str:
    """A connection failure in a few words: refused, unknown host, cut mid-answer…"""
    chain = _chain(error)
    for cause in chain:
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        if isinstance(cause, socket.gaierror):
            return "cannot resolve the host name"
    text = " ".join(str(cause) for cause in chain).lower()
    if "refused" in text or "all connection attempts failed" in text:
        return "connection refused"
    if "name or service not known" in text or "nodename nor servname" in text:
        return "cannot resolve the host name"
    if "ssl" in text or "certificate" in text:
        return "TLS error (check https:// versus http://)"
    if (
        "peer closed" in text
        or "incomplete" in text
        or "disconnected" in text
        or "reset" in text
        or isinstance(error, openai.APIConnectionError)
    ):
        return "the connection was cut"
    return f"connection failed ({_one_line(str(chain[-1]) or type(chain[-1]).__name__, 120)})"


def _retry_after(headers: Any) -> float | None:
    """Seconds the server asks us to wait: `retry-after-ms`, `Retry-After` in seconds, or
    `Retry-After` as an HTTP date."""
    try:
        millis = headers.get("retry-after-ms")
        if millis is not None:
            return max(float(millis) / 1000, 0.0)
    except (TypeError, ValueError):
        pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - time.time(), 0.0)


def _error_code(error: openai.APIStatusError) -> str | None:
    code = getattr(error, "code", None)
    if isinstance(code, str):
        return code
    body = error.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and isinstance(inner.get("code"), str):
            return str(inner["code"])
    return None


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


def _short_list(names: Sequence[str] | None, most: int = 12) -> str:
    names = list(names or [])
    shown = ", ".join(names[:most])
    return shown + (f", … ({len(names) - most} more)" if len(names) > most else "")


def _one_line(text: str, most: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= most else text[: most - 1].rstrip() + "…"


def _quote(text: str) -> str:
    return repr(_one_line(text, 80)) if text.strip() else "(empty)"


def _json_or_text(arguments: str) -> Any:
    try:
        return json.loads(arguments) if arguments.strip() else {}
    except json.JSONDecodeError:
        return arguments
