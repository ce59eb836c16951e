"""Structured logs: one JSON object a line, secrets masked, context attached.

Every line has `time` (UTC, ISO 8601), `level`, `logger` and `msg`, plus whichever of
`guild`, `thread`, `encounter`, `turn`, `latency_ms` and `error` are known: from
`log_context(...)` (a context variable, so each turn's task carries its own) or from
`extra={...}` on the call, which wins (the thread as `discord_thread`, since logging
keeps `thread` for the OS thread). A logged exception becomes `error` (`Type: message`);
its traceback is added as `traceback` only at LOG_LEVEL=debug, as everywhere in Mardonar.

Secrets are masked on the way out, in every field, tracebacks included: the configured
secret values (`Settings.secrets()`) and the password of any URL in the text. This is the
last line of defence; code should not log secrets in the first place.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, TextIO
from urllib.parse import quote, unquote

if TYPE_CHECKING:
    from mardonar.config import Settings

CONTEXT_FIELDS = ("guild", "thread", "encounter", "turn", "latency_ms", "error")
"""Fields a line carries when they are known, in this order after time, level, logger, msg."""

MASK = "***"

_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "warn": logging.WARNING,
    "error": logging.ERROR,
}

# `scheme://user:password@host`: the password goes even when it is not a configured secret
# (a URL a library built, or one the operator typed into a message).
_URL_PASSWORD = re.compile(r"(?i)(\b[a-z][a-z0-9+.\-]*://[^/\s:@]*:)([^@\s/]+)(@)")

# `thread` is taken on a LogRecord (the OS thread id): pass `extra={"discord_thread": ...}`.
_EXTRA_NAMES = {"thread": "discord_thread"}
_ID_FIELDS = frozenset({"guild", "thread"})
_CHATTY = ("httpx", "httpcore", "discord.client")
"""Loggers kept at WARNING unless LOG_LEVEL=debug: httpx says a line per request to the
model, and discord.client's only INFO line ("logging in using static token") came before
the one line saying why start-up failed, making it two."""

_context: ContextVar[Mapping[str, Any]] = ContextVar(
    "mardonar_log_context", default=MappingProxyType({})
)


@contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    """`with log_context(guild=..., thread=..., encounter=..., turn=...):` — every line
    logged inside (in this task, and tasks it starts) carries these fields."""
    merged = {**_context.get(), **{k: v for k, v in fields.items() if v is not None}}
    token = _context.set(merged)
    try:
        yield
    finally:
        _context.reset(token)


def bind_log_context(**fields: Any) -> None:
    """Add fields for the rest of the current task (e.g. the turn number once it is known)."""
    _context.set({**_context.get(), **{k: v for k, v in fields.items() if v is not None}})


class Redactor:
    """Masks secret values and URL passwords in text."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        variants: set[str] = set()
        for secret in secrets:
            if not secret or not secret.strip():
                continue
            # A URL password is configured percent-encoded; a library may log it decoded.
            variants.update({secret, unquote(secret), quote(secret, safe="")})
        # longest first, so a secret containing another is masked whole
        self.secrets = sorted((v for v in variants if len(v) >= 3), key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        return _URL_PASSWORD.sub(rf"\1{MASK}\3", text)


class JsonFormatter(logging.Formatter):
    """A log record as one line of JSON, secrets masked."""

    def __init__(self, redact: Redactor | None = None, *, tracebacks: bool = False) -> None:
        super().__init__()
        self.redact = redact or Redactor()
        self.tracebacks = tracebacks

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        context = _context.get()
        for name in CONTEXT_FIELDS:
            value = getattr(record, _EXTRA_NAMES.get(name, name), context.get(name))
            if value is not None:
                # Discord ids exceed 2**53: as JSON numbers, JavaScript-based log tools
                # would round them to a different channel.
                line[name] = str(value) if name in _ID_FIELDS else value
        if record.exc_info and record.exc_info[1] is not None:
            error = record.exc_info[1]
            line.setdefault("error", f"{type(error).__name__}: {error}")
            if self.tracebacks:
                line["traceback"] = self.formatException(record.exc_info)
        elif record.exc_text and self.tracebacks:
            line["traceback"] = record.exc_text
        if record.stack_info and self.tracebacks:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(self._masked(line), ensure_ascii=False, default=str)

    def _masked(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.redact(value)
        if isinstance(value, dict):
            return {key: self._masked(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [self._masked(item) for item in value]
        if isinstance(value, int | float | bool) or value is None:
            return value
        return self.redact(str(value))


class _OurHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Marks the handler configure_logging installed, so a second call replaces it."""


def level_of(name: str) -> int:
    """`info` → logging.INFO; LOG_LEVEL's values (debug, info, warning/warn, error)."""
    try:
        return _LEVELS[name.strip().lower()]
    except KeyError:
        raise ValueError(f"unknown log level {name!r}: use debug, info, warning or error") from None


def configure_logging(
    level: str = "info", *, secrets: Iterable[str] = (), stream: TextIO | None = None
) -> logging.Handler:
    """Send every log record (Mardonar's, discord.py's, aiohttp's...) to `stream` (stderr) as
    JSON lines at `level`, masking `secrets`. Calling it again replaces the first set-up."""
    numeric = level_of(level)
    handler = _OurHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter(Redactor(secrets), tracebacks=numeric <= logging.DEBUG))
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _OurHandler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(numeric)
    for name in _CHATTY:
        logging.getLogger(name).setLevel(
            logging.NOTSET if numeric <= logging.DEBUG else logging.WARNING
        )
    return handler


def configure_logging_from(settings: Settings, *, stream: TextIO | None = None) -> logging.Handler:
    """`configure_logging` with LOG_LEVEL and the secrets of the settings."""
    return configure_logging(settings.log_level, secrets=settings.secrets(), stream=stream)
