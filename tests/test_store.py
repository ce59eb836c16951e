"""The SessionStore contract, run against every backend in tests/backends.py.

The tests at the end (marked "SQLite only") check what only the embedded file can show:
the file on disk, its schema version, and the errors a damaged file gives.
"""

# Test functions take the imported `store` fixture as an argument, which ruff reads as a
# redefinition.
# ruff: noqa: F811

from __future__ import annotations

import asyncio
import sqlite3
from contextlib import closing
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from mardonar.errors import ConfigError
from mardonar.store.base import SessionStore, StoredSession, TurnConflict
from tests.backends import StoreFactory, opened, store  # noqa: F401  (the fixture)


async def _create(s: SessionStore, session_id: str, spec_id: str = "goblin-toll-bridge") -> None:
    await s.save_session(
        session_id, spec_id=spec_id, status="active", turn=0, data="{}", expected_turn=None
    )


async def _save(
    s: SessionStore,
    session_id: str,
    *,
    turn: int,
    expected_turn: int | None,
    status: str = "active",
    data: str = "{}",
) -> None:
    await s.save_session(
        session_id,
        spec_id="goblin-toll-bridge",
        status=status,
        turn=turn,
        data=data,
        expected_turn=expected_turn,
    )


def test_create_then_load(store: StoreFactory) -> None:
    async def scenario() -> None:
        async with opened(store) as s:
            assert isinstance(s, SessionStore)
            assert await s.load_session("s1") is None
            await s.save_session(
                "s1",
                spec_id="goblin-toll-bridge",
                status="active",
                turn=0,
                data='{"messages": ["héllo"]}',
                expected_turn=None,
            )
            loaded = await s.load_session("s1")
            assert loaded is not None
            assert (loaded.id, loaded.spec_id, loaded.status, loaded.turn) == (
                "s1",
                "goblin-toll-bridge",
                "active",
                0,
            )
            assert loaded.data == '{"messages": ["héllo"]}'
            updated = datetime.fromisoformat(loaded.updated_at)
            assert updated.utcoffset() == timedelta(0)

    asyncio.run(scenario())


def test_create_twice_conflicts_and_keeps_the_first(store: StoreFactory) -> None:
    async def scenario() -> None:
        async with opened(store) as s:
            await _create(s, "s1")
            before = await s.load_session("s1")
            with pytest.raises(TurnConflict):
                await s.save_session(
                    "s1", spec_id="other", status="ended", turn=9, data="x", expected_turn=None
                )
            assert await s.load_session("s1") == before

    asyncio.run(scenario())


def test_save_with_the_expected_turn_advances(store: StoreFactory) -> None:
    async def scenario() -> None:
        async with opened(store) as s:
            await _create(s, "s1")
            for turn in range(1, 4):
                await s.save_session(
                    "s1",
                    spec_id="goblin-toll-bridge",
                    status="active",
                    turn=turn,
                    data=f'{{"turn": {turn}}}',
                    expected_turn=turn - 1,
                )
            loaded = await s.load_session("s1")
            assert loaded is not None
            assert (loaded.turn, loaded.data) == (3, '{"turn": 3}')
            await s.save_session(
                "s1",
                spec_id="goblin-toll-bridge",
                status="resolved",
                turn=4,
                data="{}",
                expected_turn=3,
            )
            loaded = await s.load_session("s1")
            assert loaded is not None
            assert loaded.status == "resolved"

    asyncio.run(scenario())


def test_stale_turn_conflicts_and_changes_nothing(store: StoreFactory) -> None:
    async def scenario() -> None:
        async with opened(store) as s:
            await _create(s, "s1")
            await s.save_session(
                "s1",
                spec_id="goblin-toll-bridge",
                status="active",
                turn=1,
                data="first",
                expected_turn=0,
            )
            before = await s.load_session("s1")
            for stale in (0, 2, 7):
                with pytest.raises(TurnConflict):
                    await s.save_session(
                        "s1",
                        spec_id="goblin-toll-bridge",
                        status="ended",
                        turn=stale + 1,
                        data="second",
                        expected_turn=stale,
                    )
            assert await s.load_session("s1") == before  # data, status and updated_at

    asyncio.run(scenario())


def test_saving_a_missing_session_with_a_turn_conflicts(store: StoreFactory) -> None:
    async def scenario() -> None:
        async with opened(store) as s:
            with pytest.raises(TurnConflict):
                await s.save_session(
                    "ghost", spec_id="x", status="active", turn=1, data="{}", expected_turn=0
                )
            assert await s.load_session("ghost") is None

    asyncio.run(scenario())


def test_two_clients_racing_for_the_same_turn(store: StoreFactory) -> None:
    """Two processes (a TUI and a Discord worker, say) both loaded turn 1: one wins."""

    async def scenario() -> None:
        async with opened(store) as first, opened(store) as second:
            await _create(first, "s1")
            await _save(first, "s1", turn=2, expected_turn=0, data="A")
            with pytest.raises(TurnConflict):
                await _save(second, "s1", turn=2, expected_turn=0, data="B")
            loaded = await second.load_session("s1")
            assert loaded is not None
            assert loaded.data == "A"

    asyncio.run(scenario())


def test_latest_session_follows_the_saves_and_the_status(store: StoreFactory) -> None:
    async def scenario() -> None:
        async with opened(store) as s:
            assert await s.latest_session("goblin-toll-bridge") is None
            await _create(s, "a")
            await _create(s, "b")
            await _create(s, "other-spec", spec_id="haunted-mill")
            assert await _latest_id(s, "goblin-toll-bridge") == "b"

            await _save(s, "a", turn=1, expected_turn=0)
            assert await _latest_id(s, "goblin-toll-bridge") == "a"

            await _save(s, "a", turn=2, expected_turn=1, status="resolved")
            assert await _latest_id(s, "goblin-toll-bridge") == "b"  # only active, by default
            assert await _latest_id(s, "goblin-toll-bridge", status=None) == "a"
            assert await _latest_id(s, "goblin-toll-bridge", status="resolved") == "a"
            assert await _latest_id(s, "goblin-toll-bridge", status="ended") is None
            assert await _latest_id(s, "haunted-mill") == "other-spec"
            assert await _latest_id(s, "no-such-spec") is None

    asyncio.run(scenario())


async def _latest_id(s: SessionStore, spec_id: str, **kwargs: str | None) -> str | None:
    found = await s.latest_session(spec_id, **kwargs)
    return found.id if found else None


def test_list_sessions_newest_first_and_by_spec(store: StoreFactory) -> None:
    async def scenario() -> None:
        async with opened(store) as s:
            assert await s.list_sessions() == []
            for session_id in ("a", "b", "c"):
                await _create(s, session_id)
            await _create(s, "m", spec_id="haunted-mill")
            await _save(s, "a", turn=1, expected_turn=0, status="ended")
            assert [x.id for x in await s.list_sessions("goblin-toll-bridge")] == ["a", "c", "b"]
            assert [x.id for x in await s.list_sessions()] == ["a", "m", "c", "b"]
            assert await s.list_sessions("no-such-spec") == []
            assert all(isinstance(x, StoredSession) for x in await s.list_sessions())

    asyncio.run(scenario())


def test_everything_persists_across_close_and_reopen(store: StoreFactory) -> None:
    async def write() -> None:
        async with opened(store) as s:
            await _create(s, "s1")
            await s.set_character("aria", {"name": "Aria Swiftwind", "level": 3})
            assert await s.record_award("enc-1", "aria", xp=100, items=["brass-key"])

    async def read() -> None:
        async with opened(store) as s:
            loaded = await s.load_session("s1")
            assert loaded is not None
            assert loaded.turn == 0
            assert await s.get_character("aria") == {"name": "Aria Swiftwind", "level": 3}
            assert not await s.record_award("enc-1", "aria", xp=100, items=["brass-key"])
            assert await s.awards("enc-1") == {"aria": {"xp": 100, "items": ["brass-key"]}}

    asyncio.run(write())
    asyncio.run(read())


def test_character_registry_round_trip(store: StoreFactory) -> None:
    aria = {
        "name": "Aria Swiftwind",
        "class": "rogue",
        "level": 3,
        "skills": {"stealth": 7, "persuasion": 4},
        "inventory": ["brass-key"],
        "xp": 250,
        "note": "naïve — ünïcödé ✓",
    }

    async def scenario() -> None:
        async with opened(store) as s:
            assert await s.get_character("aria") is None
            assert await s.list_characters() == {}
            await s.set_character("aria", aria)
            got = await s.get_character("aria")
            assert got == aria
            assert got is not None
            got["level"] = 99  # a returned dict is a copy
            assert await s.get_character("aria") == aria

            await s.set_character("aria", {**aria, "level": 4})
            await s.set_character("123456789012345678", {"name": "Bram"})  # a Discord id
            assert await s.list_characters() == {
                "aria": {**aria, "level": 4},
                "123456789012345678": {"name": "Bram"},
            }

    asyncio.run(scenario())


def test_record_award_is_idempotent(store: StoreFactory) -> None:
    async def scenario() -> None:
        async with opened(store) as s:
            assert await s.awards("enc-1") == {}
            assert await s.record_award("enc-1", "aria", xp=100, items=["brass-key"]) is True
            assert await s.record_award("enc-1", "aria", xp=500, items=["sword"]) is False
            assert await s.record_award("enc-1", "bram", xp=100, items=[]) is True
            assert await s.record_award("enc-2", "aria", xp=50, items=[]) is True
            assert await s.awards("enc-1") == {
                "aria": {"xp": 100, "items": ["brass-key"]},
                "bram": {"xp": 100, "items": []},
            }
            assert await s.awards("enc-2") == {"aria": {"xp": 50, "items": []}}
            assert await s.awards("enc-3") == {}

    asyncio.run(scenario())


def test_close_twice_is_harmless(store: StoreFactory) -> None:
    async def scenario() -> None:
        s = store()
        await s.close()
        await s.close()

    asyncio.run(scenario())


# ------------------------------------------------------------------------------ SQLite only


def test_sqlite_creates_the_folder_and_a_wal_database(tmp_path: Path) -> None:
    from mardonar.store.sqlite import SqliteStore

    path = tmp_path / "deep" / "data" / "mardonar.db"

    async def scenario() -> None:
        async with opened(lambda: SqliteStore(path)) as s:
            await _create(s, "s1")

    asyncio.run(scenario())
    assert path.is_file()
    with closing(sqlite3.connect(path)) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        versions = dict(conn.execute("SELECT component, version FROM mardonar_schema"))
    assert versions == {"store": 1}


def test_sqlite_refuses_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    from mardonar.store.sqlite import SqliteStore

    path = tmp_path / "mardonar.db"
    path.write_bytes(b"this is not a database, it is a shopping list" * 100)
    with pytest.raises(ConfigError, match=r"mardonar\.db"):
        SqliteStore(path)


def test_sqlite_refuses_a_newer_schema(tmp_path: Path) -> None:
    from mardonar.store.sqlite import SqliteStore

    path = tmp_path / "mardonar.db"
    asyncio.run(SqliteStore(path).close())
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.execute("UPDATE mardonar_schema SET version = 99 WHERE component = 'store'")
    with pytest.raises(ConfigError, match="newer Mardonar"):
        SqliteStore(path)


def test_sqlite_a_failed_write_leaves_nothing_behind(tmp_path: Path) -> None:
    from mardonar.store.sqlite import SqliteStore

    async def scenario() -> None:
        async with opened(lambda: SqliteStore(tmp_path / "mardonar.db")) as s:
            with pytest.raises(TypeError):  # not JSON: refused before anything is written
                await s.set_character("aria", {"sword": object()})
            assert await s.list_characters() == {}
            with pytest.raises(ValueError):
                await s.record_award("enc-1", "aria", xp=-5, items=[])
            assert await s.awards("enc-1") == {}

    asyncio.run(scenario())


def test_sqlite_write_transaction_rolls_back_on_error(tmp_path: Path) -> None:
    from mardonar.store.sqlite import connect, write_transaction

    conn = connect(tmp_path / "t.db")
    conn.execute("CREATE TABLE t (x INTEGER)")
    with pytest.raises(RuntimeError), write_transaction(conn):
        conn.execute("INSERT INTO t VALUES (1)")
        raise RuntimeError("crash between two statements")
    with write_transaction(conn):  # the connection is usable again
        conn.execute("INSERT INTO t VALUES (2)")
    assert conn.execute("SELECT x FROM t").fetchall() == [(2,)]
    conn.close()


def test_sqlite_store_may_be_used_from_another_thread(tmp_path: Path) -> None:
    from mardonar.store.sqlite import SqliteStore

    async def scenario() -> None:
        async with opened(lambda: SqliteStore(tmp_path / "mardonar.db")) as s:
            await asyncio.to_thread(asyncio.run, _create(s, "s1"))
            assert await s.load_session("s1") is not None

    asyncio.run(scenario())


def test_sqlite_closed_store_says_so(tmp_path: Path) -> None:
    from mardonar.store.sqlite import SqliteStore

    s = SqliteStore(tmp_path / "mardonar.db")
    asyncio.run(s.close())
    with pytest.raises(RuntimeError, match="closed"):
        asyncio.run(s.load_session("s1"))


def test_a_full_disk_is_named_and_the_database_kept(tmp_path: Path) -> None:
    """SQLite's own "database or disk is full", for real: the file may not grow past the
    pages it has (`max_page_count`), as on a disk with no space left."""
    from mardonar.store.sqlite import SqliteStore, connect, migrate

    path = tmp_path / "mardonar.db"
    conn = connect(path)
    try:
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        conn.execute(f"PRAGMA max_page_count = {max(pages, 1)}")
        with pytest.raises(ConfigError) as caught:
            migrate(conn, SqliteStore.component, SqliteStore.migrations, path)
    finally:
        conn.close()
    message = str(caught.value)
    assert message.startswith(f"{path}: the disk is full (database or disk is full)")
    assert f"free some space on the disk holding {tmp_path}" in message
    assert "keep it" in message and "move it aside" not in message
