"""The storage rows: Redis (PING and version) when REDIS_URL is set, and DATA_DIR with the
SQLite it needs (writable, FTS5)."""

from __future__ import annotations

import os
import sqlite3
import tempfile
import time
from collections.abc import Awaitable
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from mardonar.netreason import connect_reason, error_phrase
from mardonar.ops.doctor.rows import Row, guarded, ready
from mardonar.store.redis import redis_client, redis_version
from mardonar.urls import shown_url

if TYPE_CHECKING:
    import redis.asyncio as aioredis

    from mardonar.config import Settings


def storage_section(settings: Settings, timeout: float) -> Awaitable[list[Row]]:
    """Redis when REDIS_URL is set (plus DATA_DIR, which still holds tally and summaries);
    otherwise the embedded SQLite database under DATA_DIR."""
    need_fts5 = not settings.memory.graphmcp_configured  # embedded memory search uses FTS5
    store = settings.store
    if store.redis_url is None:
        return ready([data_dir_row(store.data_dir, "embedded SQLite", need_fts5, embedded=True)])
    data = data_dir_row(store.data_dir, "DATA_DIR", need_fts5)
    try:
        client = redis_client(store.redis_url, timeout=timeout, retries=0)
    except ValueError as error:  # the scheme was checked when loading; the rest was not
        bad = Row(
            "Storage",
            "Redis PING",
            "fail",
            f"REDIS_URL is not a usable Redis URL: {error_phrase(error)}",
            "set REDIS_URL to a URL such as redis://localhost:6379/0",
        )
        return ready([bad, data])
    shown = shown_url(store.redis_url)
    has_password = bool(urlsplit(store.redis_url).password)

    async def both() -> list[Row]:
        redis_rows = await guarded(
            redis_check(client, shown, timeout, has_password=has_password),
            part="Storage",
            name="Redis PING",
            timeout=timeout,
            limit=timeout + 1,
            fix=_REDIS_FIX,
        )
        return [*redis_rows, data]

    return both()


_REDIS_FIX = (
    "start Redis at that address or fix REDIS_URL (leave it empty to use the embedded SQLite store)"
)


async def redis_check(
    client: aioredis.Redis, shown: str, timeout: float, *, has_password: bool
) -> list[Row]:
    """PING, then the server's version; every failure a ✗ naming REDIS_URL."""
    from redis.exceptions import AuthenticationError, RedisError, ResponseError
    from redis.exceptions import TimeoutError as RedisTimeout

    def fail(detail: str, fix: str = _REDIS_FIX) -> list[Row]:
        return [Row("Storage", "Redis PING", "fail", detail, fix)]

    password_fix = "put the password in REDIS_URL (redis://:PASSWORD@host:6379/0)"
    started = time.perf_counter()
    try:
        await client.ping()
        elapsed = time.perf_counter() - started
        version = await redis_version(client)
    except (AuthenticationError, ResponseError) as error:
        # NOAUTH (or, from redis-py's HELLO, an AuthenticationError) when no password was
        # sent; WRONGPASS when the wrong one was
        if not has_password and (isinstance(error, AuthenticationError) or "NOAUTH" in str(error)):
            return fail(f"{shown} wants a password and REDIS_URL has none", password_fix)
        if isinstance(error, AuthenticationError):
            return fail(
                f"{shown} refused the password: {error_phrase(error, most=80)}",
                "fix the user or password in REDIS_URL (redis://:PASSWORD@host:6379/0)",
            )
        return fail(
            f"{shown} answered with an error: {error_phrase(error)}", "check the server's logs"
        )
    except (RedisTimeout, TimeoutError):
        return fail(f"{shown}: no answer within {timeout:g} s")
    except (RedisError, OSError) as error:
        return fail(f"cannot reach {shown}: {connect_reason(error)}")
    finally:
        await client.aclose()
    return [
        Row(
            "Storage",
            "Redis PING",
            "ok",
            f"Redis {version} at {shown} answered in {elapsed * 1000:.0f} ms",
        )
    ]


def data_dir_row(data_dir: Path, check: str, need_fts5: bool, *, embedded: bool = False) -> Row:
    """DATA_DIR exists (created if need be) and takes a file; SQLite has FTS5 if needed."""
    where = str(data_dir)
    fix = "set DATA_DIR to a directory this user can write, or fix its permissions"
    if data_dir.exists() and not data_dir.is_dir():
        return Row("Storage", check, "fail", f"DATA_DIR {where} is a file, not a directory", fix)
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(prefix=".doctor-", dir=data_dir)
        try:
            os.write(handle, b"ok")
        finally:
            os.close(handle)
            os.unlink(name)
    except OSError as error:
        return Row(
            "Storage",
            check,
            "fail",
            f"DATA_DIR {where} is not writable: {error.strerror or error}",
            fix,
        )
    found = [f"DATA_DIR={where} is writable"]
    if need_fts5:
        problem = fts5_problem()
        if problem is not None:
            return Row(
                "Storage",
                check,
                "fail",
                f"SQLite {sqlite3.sqlite_version} has no FTS5 ({problem}): the embedded "
                "memory and lore search need it",
                "run Mardonar on a Python whose sqlite3 has FTS5 (python.org and most "
                "distributions' builds do), or set GRAPHMCP_URL",
            )
        found.append(f"SQLite {sqlite3.sqlite_version} with FTS5")
    if embedded:
        found.insert(0, f"sessions in {data_dir / 'mardonar.db'} (REDIS_URL unset)")
    else:
        found.append("tally.json and summaries/ go here")
    return Row("Storage", check, "ok", "; ".join(found))


def fts5_problem() -> str | None:
    """None when this Python's sqlite3 can create an FTS5 table, else SQLite's complaint."""
    db = sqlite3.connect(":memory:")
    try:
        db.execute("CREATE VIRTUAL TABLE doctor_probe USING fts5(body)")
    except sqlite3.Error as error:
        return str(error)
    finally:
        db.close()
    return None
