"""Every store and memory backend behind the same two fixtures, `store` and `memory`.

tests/test_store.py and tests/test_memory.py run unchanged against each backend listed in
`STORE_BACKENDS` / `MEMORY_BACKENDS`. To add one (Redis, GraphMCP …), write a builder like
`_sqlite_store` below — it may start a server through `request.getfixturevalue(...)` — and
add ONE line to the dict; the fixture's params follow the dict.

The fixtures return a *factory*, not an open backend: each call opens a new client on the
same data, so a test can close and reopen (persistence) or open two clients at once
(conflicts), and each test opens its clients inside its own `asyncio.run`. That matters for
`redis.asyncio`, whose connections belong to the event loop that made them. Use:

    def test_something(store: StoreFactory) -> None:
        async def scenario() -> None:
            async with opened(store) as s:
                ...
        asyncio.run(scenario())

Test modules import the fixtures by name (`from tests.backends import store  # noqa: F401`,
plus a file-level `# ruff: noqa: F811`, as fixture arguments shadow the import). That needs
no conftest.py, and unlike `pytest_plugins` it imports this file only once (no
"cannot be rewritten" warning). There is no pytest-asyncio: each test drives its coroutine
with `asyncio.run`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import ExitStack, asynccontextmanager
from pathlib import Path
from typing import Protocol, TypeVar

import pytest

from mardonar.memory.base import Memory
from mardonar.store.base import SessionStore

StoreFactory = Callable[[], SessionStore]
MemoryFactory = Callable[[], Memory]


def _sqlite_store(request: pytest.FixtureRequest, tmp_path: Path) -> StoreFactory:
    from mardonar.store.sqlite import SqliteStore

    path = tmp_path / "data" / "mardonar.db"  # a folder that does not exist yet, on purpose
    return lambda: SqliteStore(path)


def _redis_store(request: pytest.FixtureRequest, tmp_path: Path) -> StoreFactory:
    """A fresh redis-server per test (tests/redis_server.py), so every test starts empty."""
    from mardonar.store.redis import RedisStore
    from tests.redis_server import RedisServerError, running_redis

    folder = tmp_path / "redis"
    folder.mkdir()
    server = ExitStack()
    request.addfinalizer(server.close)
    try:
        url = server.enter_context(running_redis(folder))
    except RedisServerError as error:
        pytest.fail(str(error), pytrace=False)
    return lambda: RedisStore(url)


def _sqlite_memory(request: pytest.FixtureRequest, tmp_path: Path) -> MemoryFactory:
    from mardonar.memory.sqlite import SqliteMemory

    path = tmp_path / "data" / "mardonar.db"
    return lambda: SqliteMemory(path)


def _graphmcp_memory(request: pytest.FixtureRequest, tmp_path: Path) -> MemoryFactory:
    """GraphMcpMemory over real MCP, against `mardonar serve mcp`'s server (the embedded
    SqliteMemory behind it), started per test on a free loopback port."""
    from mardonar.channels.mcp.server import build_app
    from mardonar.config import Settings
    from mardonar.memory.graphmcp import GraphMcpMemory
    from mardonar.memory.sqlite import SqliteMemory
    from tests.mcp_graph_server import serve_in_thread

    served = SqliteMemory(tmp_path / "served" / "mardonar.db")
    request.addfinalizer(lambda: asyncio.run(served.close()))  # runs after server.stop
    # Writable: the memory contract stores memories and indexes lore through the server.
    url, server = serve_in_thread(build_app(served, host="127.0.0.1", writable=True))
    request.addfinalizer(server.stop)
    # The default threshold: the server's keyword ranks must be exempt from it.
    threshold = Settings.model_fields["graphmcp_score_threshold"].default
    return lambda: GraphMcpMemory(url, score_threshold=threshold)


STORE_BACKENDS: dict[str, Callable[[pytest.FixtureRequest, Path], StoreFactory]] = {
    "sqlite": _sqlite_store,
    "redis": _redis_store,
}
"""Backend name (the test id) → builder of a factory for that backend."""

MEMORY_BACKENDS: dict[str, Callable[[pytest.FixtureRequest, Path], MemoryFactory]] = {
    "sqlite": _sqlite_memory,
    "graphmcp": _graphmcp_memory,
}
"""Backend name (the test id) → builder of a factory for that backend."""


@pytest.fixture(params=list(STORE_BACKENDS))
def store(request: pytest.FixtureRequest, tmp_path: Path) -> StoreFactory:
    """A factory of clients of one store backend, on data private to this test."""
    return STORE_BACKENDS[request.param](request, tmp_path)


@pytest.fixture(params=list(MEMORY_BACKENDS))
def memory(request: pytest.FixtureRequest, tmp_path: Path) -> MemoryFactory:
    """A factory of clients of one memory backend, on data private to this test."""
    return MEMORY_BACKENDS[request.param](request, tmp_path)


class _Closable(Protocol):
    async def close(self) -> None: ...


C = TypeVar("C", bound=_Closable)


@asynccontextmanager
async def opened(factory: Callable[[], C]) -> AsyncIterator[C]:
    """Open a client from `factory` and close it however the block ends."""
    client = factory()
    try:
        yield client
    finally:
        await client.close()
