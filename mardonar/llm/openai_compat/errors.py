"""Failures of an OpenAI-compatible server, sorted into what the fallback chain acts on.

Down, timed out, overloaded (connection errors, 429, 5xx) may be retried once; the caller's
fault (bad key, unknown model, a rejected request) carries an `LLMConfigError` naming the
setting to fix. The helpers here read the SDK's exceptions; the backend decides (client.py).
"""

from __future__ import annotations

import email.utils
import json
import re
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import openai

from mardonar.llm.base import LLMConfigError
from mardonar.netreason import REFUSED, UNKNOWN_HOST, os_reason
from mardonar.wording import one_line

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
class _Failure:
    """A failed attempt, sorted: `config` set = the caller's fault, never retried."""

    what: str
    retryable: bool = True
    delay: float | None = None
    config: LLMConfigError | None = None
    auth: bool = False
    """The server wants a (different) API key: nothing past the key could be checked."""


class EmptyStream(Exception):
    """A stream that ended without a single choice: llama-cpp-python's
    chatml-function-calling fails that way after its HTTP 200 when asked to stream a tool
    call ("Automatic streaming tool choice is not supported") or a forced choice."""


def _caught() -> tuple[type[BaseException], ...]:
    """What one attempt may fail with: the SDK's errors, plus raw transport errors (older
    SDKs let httpx errors raised while reading the stream through unwrapped)."""
    errors: list[type[BaseException]] = [
        openai.APIError,
        OSError,
        json.JSONDecodeError,
        EmptyStream,
    ]
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


def connection_problem(error: BaseException) -> str:
    """A connection failure in a few words: refused, unknown host, cut mid-answer… The OS
    reasons in `netreason`'s words (doctor's), then what httpx's messages tell."""
    reason = os_reason(error)
    if reason is not None:
        return reason
    chain = _chain(error)
    text = " ".join(str(cause) for cause in chain).lower()
    if "refused" in text or "all connection attempts failed" in text:
        return REFUSED
    if "name or service not known" in text or "nodename nor servname" in text:
        return UNKNOWN_HOST
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
    last = str(chain[-1]) or type(chain[-1]).__name__
    return f"connection failed ({one_line(last, 120, trim=True)})"


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


def _short_list(names: Sequence[str] | None, most: int = 12) -> str:
    names = list(names or [])
    shown = ", ".join(names[:most])
    return shown + (f", … ({len(names) - most} more)" if len(names) > most else "")


def server_message(error: openai.APIError, api_key: str | None) -> str:
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
    return redact(one_line(message, 200, trim=True), api_key)


def redact(text: str, api_key: str | None) -> str:
    """`text` with the key and anything shaped like a bearer token or key masked."""
    if api_key:
        text = text.replace(api_key, "***")
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text
