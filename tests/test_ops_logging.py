"""JSON log lines: their fields, their level, and secrets that never reach them."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from mardonar.config import load_settings
from mardonar.ops.logging import (
    Redactor,
    bind_log_context,
    configure_logging,
    configure_logging_from,
    log_context,
)

TOKEN = "MTIzNDU2Nzg5MDEyMzQ1Njc4.GAbCdE.abcdefghijklmnopqrstuvwxyz0123456789AB"
API_KEY = "sk-live-0123456789abcdef"
REDIS_PASSWORD = "p%40ss-w0rd!"  # percent-encoded in the URL; `p@ss-w0rd!` decoded


@pytest.fixture
def logs() -> Iterator[io.StringIO]:
    """The root logger's state is restored after each test, whatever it configured."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    chatty = {name: logging.getLogger(name).level for name in ("httpx", "httpcore")}
    stream = io.StringIO()
    yield stream
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, was in chatty.items():
        logging.getLogger(name).setLevel(was)


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_every_line_is_a_json_object_with_the_known_fields(logs: io.StringIO) -> None:
    configure_logging("info", stream=logs)
    log = logging.getLogger("mardonar.discord")
    log.info("bot ready in %d guild(s)", 3)
    with log_context(
        guild=234567890123456789, thread="222", encounter="goblin-toll-bridge-20261127"
    ):
        bind_log_context(turn=4)
        log.info("turn played", extra={"latency_ms": 812.5})
    log.warning("outside any encounter")

    first, turn, outside = lines(logs)
    assert first["msg"] == "bot ready in 3 guild(s)"
    assert first["level"] == "info" and first["logger"] == "mardonar.discord"
    assert first["time"].endswith("Z") and "T" in first["time"]
    assert {k: turn[k] for k in ("guild", "thread", "encounter", "turn", "latency_ms")} == {
        "guild": "234567890123456789",  # a snowflake as a string: exact in any JSON reader
        "thread": "222",
        "encounter": "goblin-toll-bridge-20261127",
        "turn": 4,
        "latency_ms": 812.5,
    }
    assert outside["level"] == "warning"
    assert not {"guild", "thread", "encounter", "turn"} & outside.keys()


def test_context_of_one_task_does_not_leak_into_another(logs: io.StringIO) -> None:
    import asyncio

    configure_logging("info", stream=logs)
    log = logging.getLogger("mardonar.discord")

    async def turn(thread: str, pause: float) -> None:
        with log_context(thread=thread):
            await asyncio.sleep(pause)
            log.info("turn")

    async def both() -> None:
        await asyncio.gather(turn("a", 0.05), turn("b", 0))

    asyncio.run(both())
    assert [line["thread"] for line in lines(logs)] == ["b", "a"]


def test_the_level_comes_from_log_level_and_tracebacks_only_at_debug(
    logs: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = logging.getLogger("mardonar.engine")
    monkeypatch.setenv("LOG_LEVEL", "warning")
    configure_logging_from(load_settings(env_file=None), stream=logs)
    log.info("hidden at warning")
    try:
        raise ValueError("the store refused the write")
    except ValueError:
        log.exception("turn failed")
    (failed,) = lines(logs)
    assert failed["error"] == "ValueError: the store refused the write"
    assert "traceback" not in failed

    logs.truncate(0)
    logs.seek(0)
    monkeypatch.setenv("LOG_LEVEL", "DEBUG")
    configure_logging_from(load_settings(env_file=None), stream=logs)
    log.debug("shown at debug")
    try:
        raise ValueError("again")
    except ValueError:
        log.exception("turn failed")
    shown, failed_again = lines(logs)
    assert shown["msg"] == "shown at debug" and shown["level"] == "debug"
    assert "Traceback (most recent call last)" in failed_again["traceback"]
    assert len(logging.getLogger().handlers) == len(set(logging.getLogger().handlers))


def test_secrets_from_the_environment_never_reach_a_log_line(
    logs: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DISCORD_TOKEN", TOKEN)
    monkeypatch.setenv("LITELLM_BASE_URL", "http://litellm:4000/v1")
    monkeypatch.setenv("LITELLM_MODEL", "gpt-4o-mini")
    monkeypatch.setenv("LITELLM_API_KEY", API_KEY)
    monkeypatch.setenv("REDIS_URL", f"redis://:{REDIS_PASSWORD}@redis:6379/0")
    monkeypatch.setenv("LOG_LEVEL", "debug")  # tracebacks included: the hardest case
    configure_logging_from(load_settings(env_file=None), stream=logs)
    log = logging.getLogger("mardonar.discord")

    def login() -> None:
        try:
            raise ConnectionError(f"redis://:{REDIS_PASSWORD}@redis:6379/0 refused AUTH")
        except ConnectionError as error:
            raise RuntimeError(f"login with {TOKEN} failed; key {API_KEY}") from error

    try:
        login()
    except RuntimeError:
        log.exception("could not start with token %s", TOKEN)
    log.error("decoded password p@ss-w0rd! leaked", extra={"error": f"Bearer {API_KEY}"})
    log.info("another URL", extra={"encounter": "postgres://admin:hunter22@db/x"})

    output = logs.getvalue()
    for secret in (TOKEN, API_KEY, REDIS_PASSWORD, "p@ss-w0rd!", "hunter22"):
        assert secret not in output
    failed, leaked, other = lines(logs)
    assert failed["msg"] == "could not start with token ***"
    assert failed["error"] == "RuntimeError: login with *** failed; key ***"
    assert "redis://:***@redis:6379/0 refused AUTH" in failed["traceback"]
    assert leaked["msg"] == "decoded password *** leaked"
    assert leaked["error"] == "Bearer ***"
    assert other["encounter"] == "postgres://admin:***@db/x"


def test_the_redactor_masks_a_secret_containing_another_whole() -> None:
    redact = Redactor(["abc", "abcdef", ""])
    assert redact("x abcdef y abc") == "x *** y ***"
    assert Redactor([])("nothing secret here") == "nothing secret here"


def test_one_line_per_model_request_only_at_debug(logs: io.StringIO) -> None:
    request_log = logging.getLogger("httpx")
    configure_logging("info", stream=logs)
    request_log.info("HTTP Request: POST http://litellm:4000/v1/chat/completions")
    request_log.warning("connection pool is full")
    configure_logging("debug", stream=logs)
    request_log.info("HTTP Request: POST http://litellm:4000/v1/chat/completions (debug)")
    assert [line["msg"] for line in lines(logs)] == [
        "connection pool is full",
        "HTTP Request: POST http://litellm:4000/v1/chat/completions (debug)",
    ]
