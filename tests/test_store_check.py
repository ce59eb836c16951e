"""`SessionStore.check()`: what `/readyz` asks the store, on the real backends (a real
redis-server that goes away and comes back; a SQLite file), and the connection reason the
operator reads when a server refuses."""

# Test functions take the imported fixtures as arguments, which ruff reads as redefinitions.
# ruff: noqa: F811
from __future__ import annotations

import asyncio
import errno
import socket
from pathlib import Path

import httpx
import openai
import pytest
import redis

from mardonar.llm.openai_compat.errors import connection_problem
from mardonar.netreason import REFUSED, UNKNOWN_HOST, UNREACHABLE, connect_reason
from mardonar.store.base import StoreUnavailable
from mardonar.store.redis import RedisStore, redis_unavailable
from mardonar.store.sqlite import SqliteStore
from tests.redis_server import RestartableRedis, restartable_redis  # noqa: F401


def test_redis_check_follows_the_server_down_and_back(restartable_redis: RestartableRedis) -> None:
    server = restartable_redis

    async def scenario() -> None:
        store = RedisStore(server.url)
        try:
            assert (await store.check()).startswith("Redis ")
            server.stop()
            with pytest.raises(StoreUnavailable) as down:
                await store.check()
            assert "REDIS_URL" in str(down.value) and "connection refused" in str(down.value)
            server.start()
            assert f"127.0.0.1:{server.port}" in await store.check()
            # A check is not a session: nothing is listed afterwards.
            assert await store.list_sessions() == []
        finally:
            await store.close()

    asyncio.run(scenario())


def test_sqlite_check_answers_until_the_store_is_closed(tmp_path: Path) -> None:
    path = tmp_path / "mardonar.db"

    async def scenario() -> None:
        store = SqliteStore(path)
        assert str(path) in await store.check()
        assert await store.list_sessions() == []
        await store.close()
        with pytest.raises(StoreUnavailable, match="DATA_DIR"):
            await store.check()

    asyncio.run(scenario())


def test_a_refused_connection_is_named_under_the_wrapper() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as bound:
        bound.bind(("127.0.0.1", 0))  # bound, not listening: a connect is refused at once
        port = bound.getsockname()[1]
        try:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=5)
            except OSError as error:
                raise RuntimeError("Error 111 connecting to 127.0.0.1") from error
        except RuntimeError as wrapped:
            assert connect_reason(wrapped) == "connection refused"
    assert connect_reason(RuntimeError("the  server\nsaid no")) == "the server said no"


def _wrapped(cause: OSError, wrapper: BaseException) -> BaseException:
    try:
        try:
            raise cause
        except OSError as error:
            raise wrapper from error
    except BaseException as raised:
        return raised


@pytest.mark.parametrize(
    ("cause", "words"),
    [
        (socket.gaierror(socket.EAI_NONAME, "Name or service not known"), UNKNOWN_HOST),
        (OSError(errno.EHOSTUNREACH, "No route to host"), UNREACHABLE),
        (ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused"), REFUSED),
    ],
)
def test_doctor_the_model_backend_and_redis_name_a_connection_failure_alike(
    cause: OSError, words: str
) -> None:
    request = httpx.Request("POST", "http://llm.example:4000/v1/chat/completions")
    model_error = _wrapped(cause, openai.APIConnectionError(request=request))
    redis_error = _wrapped(cause, redis.ConnectionError("Error connecting to redis.example:6379."))
    assert connect_reason(model_error) == words
    assert connection_problem(model_error) == words
    line = redis_unavailable("redis://redis.example:6379/0", redis_error)
    assert f"redis.example:6379/0: {words});" in line
