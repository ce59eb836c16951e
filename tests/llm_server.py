"""A scripted OpenAI-compatible server on 127.0.0.1, for tests that need the real HTTP path.

The real `openai` client, real sockets, real SSE: the server plays the replies a test queues,
streams them the way LiteLLM/vLLM/Ollama do (text in several chunks; tool calls as deltas —
id and name first, the arguments in pieces; a usage chunk at the end) and injects the
failures a test asks for. It records every request it receives, so a test asserts on what
was SENT (options, messages, headers), and on when (`RecordedRequest.at`, the server's own
`time.monotonic()` at arrival — never the test's wall clock).

Use it through the `llm_server` fixture (function-scoped, started, stopped at teardown):

    from tests.llm_server import Fault, Reply, ScriptedServer, llm_server  # noqa: F401

    def test_something(llm_server: ScriptedServer) -> None:
        llm_server.reply("Grukk squints at you.")                          # streamed text
        llm_server.reply(tool_calls=[("skill_check", {"player": "aria", "check": "x"})])
        llm_server.fail(503)                                               # next request: 503
        llm_server.fail(429, retry_after=1)                                # 429 + Retry-After: 1
        llm_server.hang(seconds=5)                                         # longer than a timeout
        llm_server.drop(Reply("A long answer that breaks off"), after_chunks=2)
        llm = OpenAICompatLLM(base_url=llm_server.base_url, model=llm_server.model)
        ...
        assert llm_server.chat_requests[0].body["temperature"] == 0.8

(Test modules import the fixture by name, like tests/backends.py, with a file-level
`# ruff: noqa: F811`; no conftest.py needed.)

Each POST to `.../chat/completions` takes the next item of the script, in order: a `Reply`,
a `Fault`, a plain string (a text reply) or a function of the `RecordedRequest` returning
one of those. An empty script answers HTTP 500 "no reply scripted" (loudly: a test that
expected fewer model calls fails), unless `default` is set (a reply for every extra call).
`GET .../models` lists `models`; it never takes a script item.

Server-wide behaviour, checked before the script (and not consuming it):

- `api_key`: when set, a request without `Authorization: Bearer <key>` gets a 401 whose
  message echoes the key it received, as LiteLLM does — so tests prove the client never
  repeats a server's echo of a secret.
- `strict_models`: a request for a model not in `models` gets a 404 "model not found".
- `reject_tools` / `reject_tool_choice`: a request with `tools` (or a `tool_choice` other
  than "auto") gets a 400, like servers without tool support.
- `models_status`: answer `GET /models` with this HTTP status instead of the list.
- `stream_usage = False`: never send the usage chunk, whatever `stream_options` asks
  (llama-cpp-python's server ignores `include_usage`).
- `tool_choice_500`: a `tool_choice` other than "auto" gets an HTTP 500 with an empty
  message, as llama-cpp-python's `chatml-function-calling` does unstreamed (it asserts
  "auto").
- `stream_tools_break`: a streamed request with a forced `tool_choice`, or whose reply
  calls tools, gets an HTTP 200 stream that ends without a single chunk: what
  llama-cpp-python's `chatml-function-calling` sends when its error ("Automatic streaming
  tool choice is not supported", the "auto" assertion) comes after the headers.

What servers say of the model's context window (llm/openai_compat/window.py), each unset
(a 404) by default: `max_model_len` (vLLM: on each `GET /v1/models` entry), `props_n_ctx`
(llama.cpp's server: `GET /props` at the root, `default_generation_settings.n_ctx`) and
`model_info` (the LiteLLM proxy: `GET /v1/model/info`, this dict as the served model's
`model_info`).

Connection refused is `stop()`; `start()` brings the server back on the SAME port (a test
can kill the primary backend mid-session and revive it). `stop()` also cuts every open
connection, like a killed process.

End-to-end tests through a subprocess (`mardonar play ... --plain`): `server.env()` gives
the LITELLM_* variables pointing at this server; `serve_llm(llm)` answers every request
with any `LLM` (the offline narrator, a `ScriptedLLM`) converted to the wire format, so a
whole encounter runs through real HTTP without writing each reply by hand:

    llm_server.default = serve_llm(OfflineNarrator(bundle, seed=7))
    result = run_cli("play", "goblin-toll-bridge", "--plain", env=llm_server.env(), ...)
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal

import pytest

from mardonar.llm.base import (
    LLM,
    Finish,
    LLMRequest,
    Message,
    TextDelta,
    ToolCall,
    ToolSpec,
)

DEFAULT_MODEL = "test-model"


# --------------------------------------------------------------------------- what tests script


@dataclass(frozen=True)
class Reply:
    """One model answer. Text is streamed in `chunks` pieces; each tool call as an id+name
    delta then its arguments in 2-3 pieces. A tool call is `(name, arguments)`: a dict is
    sent as JSON, a str raw (to send malformed arguments)."""

    text: str = ""
    tool_calls: Sequence[tuple[str, dict[str, Any] | str]] = ()
    finish_reason: str | None = None
    """Default: "tool_calls" with calls, else "stop"."""
    usage: tuple[int, int] | None = None
    """(prompt_tokens, completion_tokens); default: rough counts from the request and reply."""
    chunks: int = 3
    """How many SSE chunks the text is cut into."""
    delay: float = 0.0
    """Seconds between SSE chunks (to watch text arrive while the model 'writes')."""
    interleave: bool = False
    """Stream the argument pieces of several tool calls alternately (index-based assembly)."""
    tool_call_ids: Sequence[str] | None = None
    """Ids of the tool calls; default `call_<request number>_<n>`."""
    whole_calls: bool = False
    """Send each tool call whole in one delta (Ollama) instead of id+name then pieces."""
    call_index: Literal["normal", "zero", "omit"] = "normal"
    """The `index` of tool-call deltas: 0, 1, … ("normal"), always 0, or left out (servers
    that get this wrong exist; the client must still keep the calls apart)."""


FaultKind = Literal["status", "hang", "drop"]


@dataclass(frozen=True)
class Fault:
    """A failure served instead of a reply."""

    kind: FaultKind
    status: int = 500
    message: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    seconds: float = 30.0
    """hang: how long to wait before closing without an answer (cut short by `stop()`)."""
    after_chunks: int = 2
    """drop: SSE chunks sent before the connection is cut."""
    reply: Reply | None = None
    """drop: the reply whose first chunks are sent."""
    code: str | None = None
    """The `error.code` field of the JSON error body (e.g. "model_not_found")."""


@dataclass(frozen=True)
class RecordedRequest:
    """One HTTP request as the server received it."""

    number: int
    method: str
    path: str
    headers: dict[str, str]
    """Header names lower-cased."""
    raw: bytes
    body: Any
    """The parsed JSON body (None when empty or not JSON)."""
    at: float
    """`time.monotonic()` when the request arrived (same clock as the test process)."""

    @property
    def messages(self) -> list[dict[str, Any]]:
        return list(self.body.get("messages", [])) if isinstance(self.body, dict) else []

    @property
    def is_chat(self) -> bool:
        return self.method == "POST" and self.path.rstrip("/").endswith("/chat/completions")


ScriptItem = Reply | Fault | str | Callable[[RecordedRequest], "Reply | Fault | str"]


# --------------------------------------------------------------------------- the server


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True  # start() after stop() rebinds the same port at once

    def __init__(self, address: tuple[str, int], owner: ScriptedServer) -> None:
        self.owner = owner
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # chunked SSE: a cut stream is an error, not a clean end
    server: _HTTPServer

    def log_message(self, format: str, *args: Any) -> None:  # quiet test output
        pass

    def setup(self) -> None:
        super().setup()
        self.server.owner._track(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass  # the connection was cut on purpose (drop, stop)
        finally:
            self.server.owner._track(self.connection, add=False)

    def do_GET(self) -> None:
        self.server.owner._handle(self)

    def do_POST(self) -> None:
        self.server.owner._handle(self)


class ScriptedServer:
    """An OpenAI-compatible server the test scripts; see the module docstring."""

    def __init__(self, models: Sequence[str] = (DEFAULT_MODEL,), *, port: int = 0) -> None:
        self.models: list[str] = list(models)
        self.api_key: str | None = None
        self.strict_models = False
        self.reject_tools = False
        self.reject_tool_choice = False
        self.models_status: int | None = None
        self.stream_usage = True
        self.tool_choice_500 = False
        self.stream_tools_break: bool | Literal["cut", "drop"] = False
        self.max_model_len: int | None = None
        self.props_n_ctx: int | None = None
        self.model_info: dict[str, Any] | None = None
        self.default: ScriptItem | None = None
        self.requests: list[RecordedRequest] = []
        self._script: deque[ScriptItem] = deque()
        self._lock = threading.Lock()
        self._port = port
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._connections: set[socket.socket] = set()

    # ------------------------------------------------------------------ lifecycle

    @property
    def port(self) -> int:
        return self._port

    @property
    def base_url(self) -> str:
        """What LITELLM_BASE_URL would be: `http://127.0.0.1:<port>/v1`."""
        return f"http://127.0.0.1:{self._port}/v1"

    @property
    def model(self) -> str:
        """The first served model: what a test usually asks for."""
        return self.models[0] if self.models else DEFAULT_MODEL

    @property
    def running(self) -> bool:
        return self._httpd is not None

    def start(self) -> ScriptedServer:
        """Listen (again) — on the same port as before, when there was a before."""
        if self._httpd is not None:
            return self
        self._stopping = threading.Event()
        httpd = _HTTPServer(("127.0.0.1", self._port), self)
        self._port = httpd.server_address[1]
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"llm-server-{self._port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening (clients now get connection refused) and cut open connections."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        self._stopping.set()  # wakes hanging and slow-streaming handlers
        httpd.shutdown()
        httpd.server_close()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> ScriptedServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ scripting

    def script(self, *items: ScriptItem) -> ScriptedServer:
        """Queue replies, faults, strings or functions, in order."""
        with self._lock:
            self._script.extend(items)
        return self

    def reply(
        self,
        text: str = "",
        tool_calls: Sequence[tuple[str, dict[str, Any] | str]] = (),
        **options: Any,
    ) -> ScriptedServer:
        """Queue one answer (see `Reply` for the options)."""
        return self.script(Reply(text, tuple(tool_calls), **options))

    def fail(
        self,
        status: int,
        message: str | None = None,
        *,
        retry_after: float | str | None = None,
        times: int = 1,
        code: str | None = None,
    ) -> ScriptedServer:
        """Queue `times` HTTP errors; 429 can carry a Retry-After (seconds)."""
        headers = {} if retry_after is None else {"Retry-After": str(retry_after)}
        fault = Fault("status", status=status, message=message or "", headers=headers, code=code)
        return self.script(*[fault] * times)

    def hang(self, seconds: float = 30.0, *, times: int = 1) -> ScriptedServer:
        """Queue requests that get no answer for `seconds` (then the connection closes)."""
        return self.script(*[Fault("hang", seconds=seconds)] * times)

    def drop(self, reply: Reply | str | None = None, *, after_chunks: int = 2) -> ScriptedServer:
        """Queue a streamed reply cut off after `after_chunks` SSE chunks."""
        if isinstance(reply, str) or reply is None:
            reply = Reply(reply or "The words break off halfway through a long sentence.")
        return self.script(Fault("drop", reply=reply, after_chunks=after_chunks))

    @property
    def pending(self) -> int:
        """Script items not yet served."""
        with self._lock:
            return len(self._script)

    @property
    def chat_requests(self) -> list[RecordedRequest]:
        """The chat completion requests received, in order."""
        with self._lock:
            return [r for r in self.requests if r.is_chat]

    def wait_for_requests(self, count: int, timeout: float = 10.0) -> list[RecordedRequest]:
        """Wait until `count` chat requests arrived (for tests driving another process)."""
        deadline = time.monotonic() + timeout
        while len(self.chat_requests) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.chat_requests

    def env(self, prefix: str = "LITELLM", *, model: str | None = None) -> dict[str, str]:
        """The settings (CONTRACT.md §9) that point Mardonar at this server."""
        env = {f"{prefix}_BASE_URL": self.base_url, f"{prefix}_MODEL": model or self.model}
        if self.api_key is not None and prefix == "LITELLM":
            env["LITELLM_API_KEY"] = self.api_key
        return env

    # ------------------------------------------------------------------ serving

    def _track(self, connection: socket.socket, *, add: bool) -> None:
        with self._lock:
            if add:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    def _handle(self, handler: _Handler) -> None:
        at = time.monotonic()
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        with self._lock:
            request = RecordedRequest(
                number=len(self.requests),
                method=handler.command,
                path=handler.path,
                headers={k.lower(): v for k, v in handler.headers.items()},
                raw=raw,
                body=body,
                at=at,
            )
            self.requests.append(request)
        # OSError: the client went away (a timeout on its side) or the server stopped
        with contextlib.suppress(OSError):
            self._route(handler, request)

    def _route(self, handler: _Handler, request: RecordedRequest) -> None:
        path = request.path.split("?", 1)[0].rstrip("/")
        if self.api_key is not None:
            sent = request.headers.get("authorization", "")
            if sent != f"Bearer {self.api_key}":
                received = sent.removeprefix("Bearer ")
                message = (
                    "Authentication Error, Invalid proxy server token passed. "
                    f"Received API Key = {received}"
                )
                _send_error(handler, 401, message, "auth_error")
                return
        if request.method == "GET" and path.endswith("/models"):
            if self.models_status is not None:
                _send_error(handler, self.models_status, "no model list here")
                return
            data = [
                {"id": m, "object": "model", "created": 0, "owned_by": "tests"} for m in self.models
            ]
            if self.max_model_len is not None:
                data = [{**entry, "max_model_len": self.max_model_len} for entry in data]
            _send_json(handler, 200, {"object": "list", "data": data})
            return
        if request.method == "GET" and path == "/props" and self.props_n_ctx is not None:
            settings = {"n_ctx": self.props_n_ctx, "temperature": 0.8}
            _send_json(handler, 200, {"default_generation_settings": settings, "total_slots": 1})
            return
        if request.method == "GET" and path.endswith("/model/info") and self.model_info:
            data = [
                {
                    "model_name": m,
                    "litellm_params": {"model": f"openai/{m}"},
                    "model_info": {"id": f"id-{m}", **self.model_info},
                }
                for m in self.models
            ]
            _send_json(handler, 200, {"data": data})
            return
        if not request.is_chat:
            _send_error(handler, 404, f"no route for {request.method} {request.path}")
            return
        body = request.body if isinstance(request.body, dict) else {}
        model = str(body.get("model", ""))
        if self.strict_models and model not in self.models:
            _send_error(
                handler,
                404,
                f"The model `{model}` does not exist.",
                code="model_not_found",
            )
            return
        if self.reject_tools and body.get("tools"):
            _send_error(handler, 400, f"registry/{model} does not support tools")
            return
        if self.reject_tool_choice and body.get("tool_choice") not in (None, "auto"):
            _send_error(handler, 400, "tool_choice is not supported: only 'auto' is")
            return
        forced = body.get("tool_choice") not in (None, "auto")
        if self.stream_tools_break and body.get("stream") and body.get("tools") and forced:
            self._stream_nothing(handler)
            return
        if self.tool_choice_500 and forced:
            _send_error(handler, 500, "", "internal_server_error")
            return
        item = self._next_item()
        if callable(item):
            item = item(request)
        if isinstance(item, str):
            item = Reply(item)
        if item is None:
            _send_error(handler, 500, "the scripted server has no reply scripted for this request")
        elif isinstance(item, Fault):
            self._serve_fault(handler, request, item)
        elif body.get("stream") and self.stream_tools_break and item.tool_calls:
            self._stream_nothing(handler)
        elif body.get("stream"):
            self._stream(handler, request, item)
        else:
            _send_json(handler, 200, _completion(item, request))

    def _next_item(self) -> ScriptItem | None:
        with self._lock:
            if self._script:
                return self._script.popleft()
            return self.default

    def _serve_fault(self, handler: _Handler, request: RecordedRequest, fault: Fault) -> None:
        if fault.kind == "status":
            message = fault.message or _DEFAULT_MESSAGES.get(fault.status, "error")
            code = fault.code
            if fault.status == 404 and not fault.message:
                model = request.body.get("model") if isinstance(request.body, dict) else None
                message = f"The model `{model}` does not exist."
                code = code or "model_not_found"
            _send_error(handler, fault.status, message, code=code, headers=fault.headers)
        elif fault.kind == "hang":
            self._stopping.wait(fault.seconds)
            handler.close_connection = True
            _cut(handler)
        else:
            reply = fault.reply or Reply("")
            self._stream(handler, request, reply, cut_after=fault.after_chunks)

    def _stream_nothing(self, handler: _Handler) -> None:
        """HTTP 200, SSE headers, then the end: no chunk, no [DONE]; a clean end, or with
        `stream_tools_break = "cut"` the connection cut (the real server does either,
        depending on timing), or with `"drop"` no response at all (its error came first)."""
        if self.stream_tools_break == "drop":
            _cut(handler)
            return
        handler.send_response(200)
        handler.send_header("Content-Type", "text/event-stream")
        handler.send_header("Transfer-Encoding", "chunked")
        handler.send_header("Connection", "close")
        handler.end_headers()
        _write_chunk(handler, b": ping\n\n")
        if self.stream_tools_break == "cut":
            time.sleep(0.05)
            _cut(handler)
            return
        _write_chunk(handler, b"")

    def _stream(
        self,
        handler: _Handler,
        request: RecordedRequest,
        reply: Reply,
        *,
        cut_after: int | None = None,
    ) -> None:
        body = request.body if isinstance(request.body, dict) else {}
        include_usage = self.stream_usage and bool(
            (body.get("stream_options") or {}).get("include_usage")
        )
        events = _chunks(reply, request, include_usage=include_usage)
        handler.send_response(200)
        handler.send_header("Content-Type", "text/event-stream")
        handler.send_header("Cache-Control", "no-cache")
        handler.send_header("Transfer-Encoding", "chunked")
        handler.send_header("Connection", "close")
        handler.end_headers()
        for number, event in enumerate(events):
            if cut_after is not None and number >= cut_after:
                time.sleep(0.05)  # let the client read what was sent before the cut
                _cut(handler)
                return
            if number and reply.delay and self._stopping.wait(reply.delay):
                _cut(handler)
                return
            _write_chunk(handler, f"data: {json.dumps(event)}\n\n".encode())
        _write_chunk(handler, b"data: [DONE]\n\n")
        _write_chunk(handler, b"")  # the terminating zero-length chunk


# --------------------------------------------------------------------------- wire format

_DEFAULT_MESSAGES = {
    400: "Bad request",
    401: "Incorrect API key provided",
    403: "Forbidden",
    422: "Unprocessable entity",
    429: "Rate limit exceeded, slow down",
    500: "Internal server error",
    502: "Bad gateway",
    503: "Service unavailable: the model is overloaded",
}


def _send_json(
    handler: _Handler, status: int, payload: Any, headers: dict[str, str] | None = None
) -> None:
    data = json.dumps(payload).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    handler.send_header("Connection", "close")
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    handler.end_headers()
    handler.wfile.write(data)
    handler.wfile.flush()


def _send_error(
    handler: _Handler,
    status: int,
    message: str,
    kind: str = "invalid_request_error",
    *,
    code: str | None = None,
    headers: dict[str, str] | None = None,
) -> None:
    payload = {"error": {"message": message, "type": kind, "param": None, "code": code}}
    _send_json(handler, status, payload, headers)


def _write_chunk(handler: _Handler, data: bytes) -> None:
    handler.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
    handler.wfile.flush()


def _cut(handler: _Handler) -> None:
    """Close the connection without finishing the response, like a crashed server."""
    handler.close_connection = True
    with contextlib.suppress(OSError):
        handler.connection.shutdown(socket.SHUT_RDWR)


def _pieces(text: str, parts: int) -> list[str]:
    """Cut `text` into at most `parts` pieces (by characters) that join back to it."""
    if not text:
        return []
    parts = max(1, min(parts, len(text)))
    size = -(-len(text) // parts)
    return [text[i : i + size] for i in range(0, len(text), size)]


def _arguments(raw: dict[str, Any] | str) -> str:
    return raw if isinstance(raw, str) else json.dumps(raw, sort_keys=True)


def _call_ids(reply: Reply, request: RecordedRequest) -> list[str]:
    if reply.tool_call_ids is not None:
        return list(reply.tool_call_ids)
    return [f"call_{request.number}_{i}" for i in range(len(reply.tool_calls))]


def _usage(reply: Reply, request: RecordedRequest) -> dict[str, int]:
    if reply.usage is not None:
        prompt, completion = reply.usage
    else:
        prompt = max(1, len(request.raw) // 4)
        completion = max(1, len(reply.text) // 4) + 8 * len(reply.tool_calls)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def _finish_reason(reply: Reply) -> str:
    return reply.finish_reason or ("tool_calls" if reply.tool_calls else "stop")


def _model(request: RecordedRequest) -> str:
    body = request.body if isinstance(request.body, dict) else {}
    return str(body.get("model", DEFAULT_MODEL))


def _chunks(reply: Reply, request: RecordedRequest, *, include_usage: bool) -> list[dict[str, Any]]:
    """The SSE `data:` payloads of one streamed answer, in order."""
    base = {
        "id": f"chatcmpl-{request.number}",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": _model(request),
    }

    def event(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        return {**base, "choices": [choice]}

    events = [event({"role": "assistant", "content": ""})]
    events += [event({"content": piece}) for piece in _pieces(reply.text, reply.chunks)]
    ids = _call_ids(reply, request)
    starts: list[dict[str, Any]] = []
    argument_pieces: list[list[dict[str, Any]]] = []
    for index, (name, raw) in enumerate(reply.tool_calls):
        numbered = {"normal": {"index": index}, "zero": {"index": 0}, "omit": {}}[reply.call_index]
        head = {
            **numbered,
            "id": ids[index],
            "type": "function",
            "function": {"name": name, "arguments": _arguments(raw) if reply.whole_calls else ""},
        }
        starts.append(event({"tool_calls": [head]}))
        argument_pieces.append(
            []
            if reply.whole_calls
            else [
                event({"tool_calls": [{**numbered, "function": {"arguments": piece}}]})
                for piece in _pieces(_arguments(raw), 3)
            ]
        )
    if reply.interleave:
        events += starts
        for round_ in range(max((len(p) for p in argument_pieces), default=0)):
            events += [pieces[round_] for pieces in argument_pieces if round_ < len(pieces)]
    else:
        for start, pieces in zip(starts, argument_pieces, strict=True):
            events += [start, *pieces]
    events.append(event({}, _finish_reason(reply)))
    if include_usage:
        events.append({**base, "choices": [], "usage": _usage(reply, request)})
    return events


def _completion(reply: Reply, request: RecordedRequest) -> dict[str, Any]:
    """A non-streamed `chat.completion` answer."""
    message: dict[str, Any] = {"role": "assistant", "content": reply.text or None}
    if reply.tool_calls:
        message["tool_calls"] = [
            {"id": call_id, "type": "function", "function": {"name": n, "arguments": _arguments(a)}}
            for call_id, (n, a) in zip(_call_ids(reply, request), reply.tool_calls, strict=True)
        ]
    return {
        "id": f"chatcmpl-{request.number}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": _model(request),
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": _finish_reason(reply),
            }
        ],
        "usage": _usage(reply, request),
    }


# --------------------------------------------------------------------------- any LLM on the wire


def request_from_wire(body: dict[str, Any]) -> LLMRequest:
    """An OpenAI chat request body back into our `LLMRequest` (the inverse of the client)."""
    messages: list[Message] = []
    for item in body.get("messages", []):
        calls = tuple(
            ToolCall(c.get("id", ""), c["function"]["name"], c["function"].get("arguments", ""))
            for c in item.get("tool_calls") or ()
        )
        content = item.get("content") or ""
        if isinstance(content, list):  # content parts
            content = "".join(part.get("text", "") for part in content)
        messages.append(
            Message(
                item["role"],
                content,
                tool_calls=calls,
                tool_call_id=item.get("tool_call_id"),
                name=item.get("name"),
            )
        )
    tools = tuple(
        ToolSpec(
            t["function"]["name"],
            t["function"].get("description", ""),
            t["function"].get("parameters", {}),
        )
        for t in body.get("tools") or ()
    )
    return LLMRequest(
        messages=tuple(messages),
        tools=tools,
        temperature=body.get("temperature"),
        max_tokens=body.get("max_tokens"),
    )


def serve_llm(llm: LLM) -> Callable[[RecordedRequest], Reply]:
    """A script item (use it as `server.default`) that answers every request with `llm`.

    The LLM runs in the server's handler thread, one `asyncio.run` per request."""

    lock = threading.Lock()  # one request at a time: scripted/offline models are not shared-safe

    def answer(request: RecordedRequest) -> Reply:
        wire = request_from_wire(request.body if isinstance(request.body, dict) else {})

        async def collect() -> Reply:
            text = ""
            calls: list[tuple[str, dict[str, Any] | str]] = []
            ids: list[str] = []
            reason: str | None = None
            async for chunk in llm.stream(wire):
                if isinstance(chunk, TextDelta):
                    text += chunk.text
                elif isinstance(chunk, ToolCall):
                    calls.append((chunk.name, chunk.arguments))
                    ids.append(chunk.id)
                elif isinstance(chunk, Finish):
                    reason = chunk.reason
            return Reply(text, tuple(calls), finish_reason=reason, tool_call_ids=tuple(ids))

        with lock:
            return asyncio.run(collect())

    return answer


def play_goblin_bridge_over_http(
    run_cli: Any,
    server: ScriptedServer,
    *,
    repo: Path,
    data: Path,
    transcript: Path,
    env: dict[str, str] | None = None,
) -> Any:
    """`mardonar play goblin-toll-bridge --plain --seed 7` with LiteLLM pointing at `server`,
    which answers as the offline narrator: a failed threat, then paying the toll. `env` adds
    settings (the production services)."""
    from mardonar.content.bundle import load_bundle
    from mardonar.llm.offline import OfflineNarrator

    server.default = serve_llm(OfflineNarrator(load_bundle("goblin-toll-bridge", cwd=repo), 7))
    return run_cli(
        "play",
        "goblin-toll-bridge",
        "--plain",
        "--seed",
        "7",
        "--transcript",
        transcript,
        cwd=repo,
        env={**server.env(), "DATA_DIR": str(data), **(env or {})},
        input="I threaten Grukk with my axe\nFine. We pay the toll.\n",
    )


# --------------------------------------------------------------------------- the fixture


@pytest.fixture
def llm_server() -> Iterator[ScriptedServer]:
    """A started `ScriptedServer` serving `test-model`, stopped when the test ends."""
    server = ScriptedServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()
