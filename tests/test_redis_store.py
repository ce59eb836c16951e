"""What only the Redis store can show, against a real redis-server (tests/redis_server.py).

The SessionStore contract itself runs against Redis in tests/test_store.py (tests/backends.py);
here: the sliding TTL, the `mardonar:` namespace in a shared database, the turn lock across
clients and processes, Redis going away and coming back mid-session, and the ingest stream.
"""

# Test functions take the imported fixtures as arguments, which ruff reads as redefinitions.
# ruff: noqa: F811

from __future__ import annotations

import asyncio
import json
import logging
import queue
import subprocess
import sys
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar, cast

import pytest
import redis.asyncio as aioredis

from mardonar.engine.events import EngineError, Event, Narration, Notice, PlayerSaid
from mardonar.engine.loop import Engine
from mardonar.engine.session import Session
from mardonar.llm.offline import OfflineNarrator
from mardonar.memory.sqlite import SqliteMemory
from mardonar.ops.ingest import IngestStream
from mardonar.store.base import StoreUnavailable, TurnBusy
from mardonar.store.redis import RedisStore
from mardonar.store.sqlite import SqliteStore
from mardonar.transcript import event_record
from tests.conftest import RunCli, cli_env
from tests.engine_helpers import bundle, copy_content
from tests.llm_server import ScriptedServer, llm_server, serve_llm  # noqa: F401
from tests.redis_server import RestartableRedis, redis_server, restartable_redis  # noqa: F401

SPEC = "goblin-toll-bridge"
T = TypeVar("T")


def run(coro: Awaitable[T]) -> T:
    async def main() -> T:
        return await coro

    return asyncio.run(main())


async def with_client(url: str, use: Callable[[aioredis.Redis], Awaitable[T]]) -> T:
    """A plain redis-py client, to look at the database the way redis-cli would."""
    client = aioredis.from_url(url, decode_responses=True)
    try:
        return await use(client)
    finally:
        await client.aclose()


async def stream(url: str, key: str = "raw.messages") -> list[dict[str, str]]:
    """The fields of every entry of a stream, oldest first (XRANGE)."""
    entries = await with_client(url, lambda r: r.xrange(key))
    return [cast("dict[str, str]", fields) for _id, fields in cast("list[Any]", entries)]


async def create(store: RedisStore, session_id: str, spec_id: str = SPEC) -> None:
    await store.save_session(
        session_id, spec_id=spec_id, status="active", turn=0, data="{}", expected_turn=None
    )


async def open_engine(url: str, data: Path, *, seed: int = 1) -> Engine:
    content = bundle(SPEC)
    return Engine(
        content,
        llm=OfflineNarrator(content, seed),
        store=RedisStore(url),
        memory=SqliteMemory(data / "mardonar.db"),
        data_dir=data,
    )


async def close_engine(engine: Engine) -> None:
    await engine.memory.close()
    await engine.store.close()


async def play(engine: Engine, session: Session, text: str) -> list[Event]:
    return [event async for event in engine.run_turn(session, [("aria", text)])]


def errors(events: list[Event]) -> list[str]:
    return [event.message for event in events if isinstance(event, EngineError)]


# ------------------------------------------------------------------------------ TTL


def test_writes_set_and_refresh_the_session_ttl(redis_server: str) -> None:
    async def scenario() -> None:
        store = RedisStore(redis_server, session_ttl=600)
        try:
            await create(store, "s1")
            pttl = await with_client(redis_server, lambda r: r.pttl("mardonar:session:s1"))
            assert 0 < pttl <= 600_000

            # As if most of the TTL had passed: the next write sets it back to the full 600 s.
            await with_client(redis_server, lambda r: r.pexpire("mardonar:session:s1", 1000))
            await store.save_session(
                "s1", spec_id=SPEC, status="active", turn=1, data="{}", expected_turn=0
            )
            pttl = await with_client(redis_server, lambda r: r.pttl("mardonar:session:s1"))
            assert 1000 < pttl <= 600_000

            # A refused write (stale turn) changes nothing, the TTL included.
            await with_client(redis_server, lambda r: r.pexpire("mardonar:session:s1", 5000))
            with pytest.raises(Exception, match="not at turn 0"):
                await store.save_session(
                    "s1", spec_id=SPEC, status="active", turn=1, data="x", expected_turn=0
                )
            assert await with_client(redis_server, lambda r: r.pttl("mardonar:session:s1")) <= 5000

            # The registry and the awards are kept for good.
            await store.set_character("aria", {"name": "Aria"})
            await store.record_award("enc-1", "aria", xp=10, items=[])
            for key in ("mardonar:characters", "mardonar:awards:enc-1", "mardonar:save_seq"):
                assert await with_client(redis_server, lambda r: r.pttl(key)) == -1  # noqa: B023
        finally:
            await store.close()

    run(scenario())


def test_an_expired_session_leaves_the_indexes(redis_server: str) -> None:
    async def scenario() -> None:
        store = RedisStore(redis_server)
        try:
            await create(store, "old")
            await create(store, "new")
            # Expiry, without waiting 12 hours: the hash goes, its index entries stay behind.
            await with_client(redis_server, lambda r: r.delete("mardonar:session:new"))
            latest = await store.latest_session(SPEC)
            assert latest is not None and latest.id == "old"
            assert [s.id for s in await store.list_sessions()] == ["old"]
            assert await store.load_session("new") is None
            for index in ("mardonar:sessions", f"mardonar:sessions:{SPEC}"):
                members = await with_client(redis_server, lambda r: r.zrange(index, 0, -1))  # noqa: B023
                assert members == ["old"]
        finally:
            await store.close()

    run(scenario())


# ------------------------------------------------------------------------------ sharing


def test_only_mardonar_keys_are_written_and_others_are_untouched(redis_server: str) -> None:
    foreign = {"session:1": "the other app's", "app:mardonar": "x", "mardonar": "not ours"}

    async def scenario() -> None:
        async def seed(r: aioredis.Redis) -> None:
            for key, value in foreign.items():
                await r.set(key, value)
            await r.hset("characters", mapping={"aria": "someone else's aria"})

        await with_client(redis_server, seed)
        store = RedisStore(redis_server)
        try:
            await create(store, "s1")
            await store.save_session(
                "s1", spec_id=SPEC, status="resolved", turn=1, data="{}", expected_turn=0
            )
            await store.set_character("aria", {"name": "Aria"})
            await store.record_award("enc-1", "aria", xp=10, items=["key"])
            async with store.turn_lock("s1"):
                await store.latest_session(SPEC, status=None)
            await store.list_sessions()
            await store.list_characters()
        finally:
            await store.close()

        async def look(r: aioredis.Redis) -> tuple[set[str], dict[str, Any]]:
            keys = {key async for key in r.scan_iter()}
            values: dict[str, Any] = {key: await r.get(key) for key in foreign}
            values["characters"] = await r.hgetall("characters")
            return keys, values

        keys, values = await with_client(redis_server, look)
        ours = {key for key in keys if key.startswith("mardonar:")}
        assert keys - ours == {*foreign, "characters"}
        assert ours == {
            "mardonar:session:s1",
            "mardonar:sessions",
            f"mardonar:sessions:{SPEC}",
            "mardonar:save_seq",
            "mardonar:characters",
            "mardonar:awards:enc-1",
        }  # the lock is gone once released
        assert values == {**foreign, "characters": {"aria": "someone else's aria"}}

    run(scenario())


# ------------------------------------------------------------------------------ the turn lock


def test_the_lock_serializes_two_turns(redis_server: str) -> None:
    """Two clients (as two processes would): the second turn waits for the first to end."""

    async def scenario() -> None:
        first, second = RedisStore(redis_server), RedisStore(redis_server, lock_wait=30)
        order: list[str] = []
        first_in, let_first_go = asyncio.Event(), asyncio.Event()

        async def turn(store: RedisStore, name: str, hold: asyncio.Event | None) -> None:
            async with store.turn_lock("s1"):
                order.append(f"{name} starts")
                if hold is not None:
                    first_in.set()
                    await hold.wait()
                order.append(f"{name} ends")

        try:
            one = asyncio.create_task(turn(first, "one", let_first_go))
            await first_in.wait()
            two = asyncio.create_task(turn(second, "two", None))
            await asyncio.sleep(0.5)  # time enough for "two" to get in, if the lock let it
            assert order == ["one starts"]
            let_first_go.set()
            await asyncio.gather(one, two)
            assert order == ["one starts", "one ends", "two starts", "two ends"]
        finally:
            await first.close()
            await second.close()

    run(scenario())


def test_a_turn_that_cannot_get_the_lock_is_busy(redis_server: str) -> None:
    async def scenario() -> None:
        holder, impatient = RedisStore(redis_server), RedisStore(redis_server, lock_wait=0.3)
        try:
            async with holder.turn_lock("s1"):
                with pytest.raises(TurnBusy, match="send your line again"):
                    async with impatient.turn_lock("s1"):
                        pytest.fail("two turns of one session at once")
                async with impatient.turn_lock("another-session"):
                    pass  # other sessions are not held up
        finally:
            await holder.close()
            await impatient.close()

    run(scenario())


def test_a_dead_holders_lock_expires_and_a_live_one_keeps_it(redis_server: str) -> None:
    async def scenario() -> None:
        # A process that took the lock and died: the key with its TTL, and nobody renewing it.
        async def crash(r: aioredis.Redis) -> None:
            await r.set("mardonar:lock:session:s1", "dead-token", px=1500)

        await with_client(redis_server, crash)
        impatient = RedisStore(redis_server, lock_wait=0.1)
        patient = RedisStore(redis_server, lock_wait=30)
        live = RedisStore(redis_server, lock_timeout=1.0)
        try:
            with pytest.raises(TurnBusy):
                async with impatient.turn_lock("s1"):
                    pass
            async with patient.turn_lock("s1"):  # gets it once the dead holder's lock expires
                token = await with_client(redis_server, lambda r: r.get("mardonar:lock:session:s1"))
                assert token not in (None, "dead-token")

            # A live holder keeps its 1-second lock through a 2.5-second turn.
            async with live.turn_lock("s2"):
                await asyncio.sleep(2.5)
                with pytest.raises(TurnBusy):
                    async with impatient.turn_lock("s2"):
                        pass
            async with impatient.turn_lock("s2"):  # released at the end of the turn
                pass
        finally:
            for store in (impatient, patient, live):
                await store.close()

    run(scenario())


# ------------------------------------------------------------------------------ two processes

TURN_WORKER = """
import asyncio, json, sys
from pathlib import Path

from mardonar.config import load_settings
from mardonar.content.bundle import load_bundle
from mardonar.engine.events import EngineError, Narration
from mardonar.engine.session import Session
from mardonar.runtime import open_runtime


async def main(session_id: str, line: str) -> None:
    runtime = open_runtime(
        load_bundle("goblin-toll-bridge", cwd=Path.cwd()), load_settings(), model="offline", seed=1
    )
    try:
        stored = await runtime.store.load_session(session_id)
        session = Session.model_validate_json(stored.data)
        print("ready", flush=True)
        sys.stdin.readline()  # both processes hold turn 0 before either plays
        events = [e async for e in runtime.engine.run_turn(session, [("aria", line)])]
        print(json.dumps({
            "turn": session.turn,
            "errors": [e.message for e in events if isinstance(e, EngineError)],
            "narrated": [e.text for e in events if isinstance(e, Narration)],
        }), flush=True)
    finally:
        await runtime.close()


asyncio.run(main(*sys.argv[1:]))
"""


def test_two_processes_sending_the_same_turn_apply_it_once(
    redis_server: str, tmp_path: Path
) -> None:
    repo = copy_content(tmp_path / "repo")
    data = tmp_path / "data"

    async def start() -> str:
        engine = await open_engine(redis_server, data)
        try:
            # The transcript in the test's folder: a `--resume` below appends to it.
            return (await engine.start(seed=1, transcript=tmp_path / "session.jsonl")).id
        finally:
            await close_engine(engine)

    session_id = run(start())
    env = cli_env({"REDIS_URL": redis_server, "DATA_DIR": str(data)})
    line = "I ask Grukk who built the bridge"
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", TURN_WORKER, session_id, line],
            cwd=repo,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    try:
        for worker in workers:
            assert worker.stdout is not None
            assert worker.stdout.readline().strip() == "ready", worker.stderr
        for worker in workers:  # "go" to both, as close together as two processes allow
            assert worker.stdin is not None
            worker.stdin.write("go\n")
            worker.stdin.flush()
        results = []
        for worker in workers:
            out, err = worker.communicate(timeout=60)
            assert worker.returncode == 0, err
            assert "Traceback" not in err
            results.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()

    applied = [r for r in results if not r["errors"]]
    refused = [r for r in results if r["errors"]]
    assert len(applied) == 1 and len(refused) == 1, results
    assert applied[0]["turn"] == 1 and applied[0]["narrated"]
    assert refused[0]["narrated"] == []
    (message,) = refused[0]["errors"]
    assert "another process already played turn 1" in message
    assert refused[0]["turn"] == 1  # it caught up with the stored session

    async def stored() -> Session:
        store = RedisStore(redis_server)
        try:
            found = await store.load_session(session_id)
            assert found is not None
            return Session.model_validate_json(found.data)
        finally:
            await store.close()

    session = run(stored())
    assert session.turn == 1
    assert [h.text for h in session.history if h.role == "player"] == [line]


# ------------------------------------------------------------------------------ Redis down


def test_redis_going_away_mid_session_costs_one_turn_and_nothing_else(
    restartable_redis: RestartableRedis, tmp_path: Path
) -> None:
    server = restartable_redis
    data = tmp_path / "data"
    password_url = server.url.replace("redis://", "redis://:hunter2@")

    async def scenario() -> None:
        # A password on the URL, to see it masked in the error.
        await with_client(server.url, lambda r: r.config_set("requirepass", "hunter2"))
        engine = await open_engine(password_url, data)
        try:
            session = await engine.start(seed=3)
            first = await play(engine, session, "I greet Grukk politely")
            assert errors(first) == [] and session.turn == 1

            server.stop()
            down = await play(engine, session, "I ask Grukk about the toll")
            (message,) = errors(down)
            assert "\n" not in message
            (refusal,) = [e for e in down if isinstance(e, EngineError)]
            # Marked as refused in the transcript: nothing of this attempt happened.
            assert event_record(refusal) == {
                "type": "error",
                "turn": 1,
                "message": message,
                "refused": True,
            }
            assert "Redis is unavailable" in message and "REDIS_URL=" in message
            assert f"redis://:***@127.0.0.1:{server.port}/0" in message
            assert "hunter2" not in message
            assert "start Redis or fix REDIS_URL" in message
            assert not [e for e in down if isinstance(e, PlayerSaid | Narration)]
            assert session.turn == 1  # nothing applied in memory either

            # Back (same port, same data): the same line plays as the next turn.
            server.start()
            await with_client(server.url, lambda r: r.config_set("requirepass", "hunter2"))
            again = await play(engine, session, "I ask Grukk about the toll")
            assert errors(again) == []
            assert session.turn == 2
        finally:
            await close_engine(engine)

        store = RedisStore(password_url)
        try:
            found = await store.load_session(session.id)
            assert found is not None and found.turn == 2
            kept = Session.model_validate_json(found.data)
            assert [h.text for h in kept.history if h.role == "player"] == [
                "I greet Grukk politely",
                "I ask Grukk about the toll",
            ]
        finally:
            await store.close()

    run(scenario())


def test_an_unreachable_redis_is_one_line_for_every_call(tmp_path: Path) -> None:
    from tests.redis_server import free_port

    url = f"redis://user:s3cret@127.0.0.1:{free_port()}/0"  # nobody listens there

    async def scenario() -> None:
        store = RedisStore(url)
        try:
            calls: list[Callable[[], Awaitable[Any]]] = [
                lambda: store.load_session("s1"),
                lambda: create(store, "s1"),
                lambda: store.latest_session(SPEC),
                lambda: store.list_characters(),
                lambda: store.record_award("e", "p", xp=1, items=[]),
            ]
            for call in calls:
                with pytest.raises(StoreUnavailable) as caught:
                    await call()
                text = str(caught.value)
                assert "\n" not in text and "s3cret" not in text
                assert "REDIS_URL=redis://user:***@127.0.0.1" in text
                assert text.endswith("start Redis or fix REDIS_URL; nothing was saved")
            with pytest.raises(StoreUnavailable):
                async with store.turn_lock("s1"):
                    pass
        finally:
            await store.close()
            await store.close()  # twice is harmless

    run(scenario())


# ------------------------------------------------------------------------------ ingest stream


def test_player_lines_reach_the_ingest_stream(redis_server: str, tmp_path: Path) -> None:
    async def scenario() -> None:
        engine = await open_engine(redis_server, tmp_path / "data")
        ingest = IngestStream(redis_server, "raw.messages", maxlen=1000, spec_id=SPEC)
        engine.subscribers.append(ingest)
        try:
            session = await engine.start(seed=1)
            await play(engine, session, "I wave at Grukk")
            await play(engine, session, "How much is the toll?")
            assert await ingest.flush()
        finally:
            await ingest.close()
            await close_engine(engine)

        fields = await stream(redis_server)
        assert [(f["turn"], f["player"], f["text"]) for f in fields] == [
            ("1", "aria", "I wave at Grukk"),
            ("2", "aria", "How much is the toll?"),
        ]
        assert all(f["session"] == session.id and f["spec"] == SPEC for f in fields)
        assert all(f["at"].endswith("+00:00") for f in fields)

    run(scenario())


def test_the_ingest_stream_is_capped(redis_server: str) -> None:
    async def scenario() -> None:
        ingest = IngestStream(redis_server, "raw.messages", maxlen=100, spec_id=SPEC)
        try:
            for n in range(500):
                ingest(PlayerSaid(turn=n, player="aria", character="Aria", text=f"line {n}"))
            assert await ingest.flush(timeout=30)
        finally:
            await ingest.close()
        length = await with_client(redis_server, lambda r: r.xlen("raw.messages"))
        assert 100 <= length < 500  # MAXLEN ~ trims whole nodes: about 100, never all 500

    run(scenario())


def test_ingest_never_breaks_a_turn_and_catches_up_when_redis_returns(
    restartable_redis: RestartableRedis, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    server = restartable_redis
    content = bundle(SPEC)
    data = tmp_path / "data"

    async def scenario() -> None:
        # Sessions in SQLite, so only the ingest stream depends on the Redis that goes away.
        engine = Engine(
            content,
            llm=OfflineNarrator(content, 1),
            store=SqliteStore(data / "mardonar.db"),
            memory=SqliteMemory(data / "mardonar.db"),
            data_dir=data,
        )
        ingest = IngestStream(server.url, "raw.messages", maxlen=1000, spec_id=SPEC)
        engine.subscribers.append(ingest)
        try:
            session = await engine.start(seed=1)
            server.stop()
            for text in ("first while down", "second while down"):
                events = await play(engine, session, text)
                assert errors(events) == [] and any(isinstance(e, Narration) for e in events)
            assert session.turn == 2
            assert not await ingest.flush(timeout=1.5)  # still waiting for Redis
            server.start()
            assert await ingest.flush(timeout=30)
        finally:
            await ingest.close()
            await close_engine(engine)

    with caplog.at_level(logging.WARNING, logger="mardonar.ops.ingest"):
        run(scenario())
    assert [fields["text"] for fields in run(stream(server.url))] == [
        "first while down",
        "second while down",
    ]
    failures = [r for r in caplog.records if "not reaching the stream" in r.getMessage()]
    assert len(failures) == 1  # once per outage, not once per attempt
    assert "start Redis or fix REDIS_URL" in failures[0].getMessage()
    assert any("reach the stream raw.messages again" in r.getMessage() for r in caplog.records)


# ------------------------------------------------------------------------------ the CLI


def test_play_plain_with_redis_resolves_and_keeps_the_session_in_redis(
    run_cli: RunCli, redis_server: str, tmp_path: Path
) -> None:
    repo = copy_content(tmp_path / "repo")
    data = tmp_path / "data"
    result = run_cli(
        "play",
        SPEC,
        "--plain",
        "--seed",
        "7",
        cwd=repo,
        env={"REDIS_URL": redis_server, "DATA_DIR": str(data)},
        input="I threaten Grukk with my axe\nFine. We pay the toll.\n",
    )
    assert result.returncode == 0, result.stderr
    assert "★ Outcome: paid-toll (partial)" in result.stdout
    assert "The encounter is resolved." in result.stdout

    async def look() -> None:
        store = RedisStore(redis_server)
        try:
            (stored,) = await store.list_sessions(SPEC)
            assert (stored.status, stored.turn) == ("resolved", 2)
            assert await store.awards(stored.id) == {"aria": {"xp": 40, "items": ["toll-receipt"]}}
        finally:
            await store.close()
        assert [f["text"] for f in await stream(redis_server)] == [
            "I threaten Grukk with my axe",
            "Fine. We pay the toll.",
        ]

    run(look())
    assert not (data / "mardonar.db").exists() or _no_sessions_in_sqlite(data / "mardonar.db")


def _no_sessions_in_sqlite(path: Path) -> bool:
    """The embedded file may hold the NPC memory, but never the sessions when Redis is set."""
    import sqlite3
    from contextlib import closing

    with closing(sqlite3.connect(path)) as conn:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
        return "sessions" not in tables


def test_play_with_redis_down_is_one_line(run_cli: RunCli, tmp_path: Path) -> None:
    from tests.redis_server import free_port

    repo = copy_content(tmp_path / "repo")
    url = f"redis://:pw@127.0.0.1:{free_port()}/0"
    result = run_cli("play", SPEC, "--plain", cwd=repo, env={"REDIS_URL": url}, input="hello\n")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert "REDIS_URL=redis://:***@127.0.0.1" in line and "start Redis" in line


def test_the_plain_repl_says_one_line_and_plays_on_while_redis_is_away(
    restartable_redis: RestartableRedis, tmp_path: Path
) -> None:
    """The REPL as `mardonar play --plain` runs it (runtime from the settings), with Redis
    stopped between two lines and started again before the player sends it once more."""
    import io

    from mardonar.channels.terminal.plain import PlainRepl
    from mardonar.config import Settings
    from mardonar.runtime import open_runtime

    server = restartable_redis
    content = bundle(SPEC)
    settings = Settings(_env_file=None, redis_url=server.url, data_dir=tmp_path / "data")

    async def lines() -> Any:
        yield "I greet Grukk politely"
        server.stop()
        yield "I ask Grukk about the toll"
        yield "/roll d20"
        yield "/end"
        server.start()
        yield "I ask Grukk about the toll"

    async def scenario() -> tuple[str, Session]:
        runtime = open_runtime(content, settings, model="offline", seed=2)
        out = io.StringIO()
        try:
            session = await runtime.engine.start(seed=2)
            repl = PlainRepl(runtime, content, session, speaker="aria", out=out)
            await repl.run(lines())
            return out.getvalue(), session
        finally:
            await runtime.close()

    shown, session = run(scenario())
    refusals = [line for line in shown.splitlines() if "Redis is unavailable" in line]
    assert len(refusals) == 3  # the line, the roll and /end: one line each
    assert all(line.startswith("  ! ") and "start Redis" in line for line in refusals)
    assert session.turn == 2 and session.status.value == "active"  # /end was refused too
    assert "continue with `mardonar play goblin-toll-bridge --resume`" in shown


# ------------------------------------------------------------------------------ a lock left behind

LOCK_HOLDER = """
import asyncio, sys

from mardonar.store.redis import RedisStore


async def main(url: str, session_id: str) -> None:
    store = RedisStore(url)
    try:
        async with store.turn_lock(session_id):
            print("held", flush=True)
            await asyncio.to_thread(sys.stdin.readline)  # a turn that runs until told
    finally:
        await store.close()


asyncio.run(main(*sys.argv[1:]))
"""


class Lines:
    """A subprocess's stdout read on a thread, so a test waits for a line with a bound."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.seen: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        assert process.stdout is not None
        stdout = process.stdout

        def pump() -> None:
            for line in stdout:
                self._queue.put(line)
            self._queue.put(None)

        threading.Thread(target=pump, daemon=True).start()

    def until(self, text: str, timeout: float = 60) -> str:
        """The first line containing `text`; fails on end of output or after `timeout` s."""
        while True:
            try:
                line = self._queue.get(timeout=timeout)
            except queue.Empty:
                pytest.fail(f"no line with {text!r} within {timeout:g} s: {self.seen}")
            if line is None:
                pytest.fail(f"the output ended without {text!r}: {self.seen}")
            self.seen.append(line)
            if text in line:
                return line

    def rest(self, timeout: float = 60) -> str:
        while True:
            line = self._queue.get(timeout=timeout)
            if line is None:
                return "".join(self.seen)
            self.seen.append(line)


def _lock_key(session_id: str) -> str:
    return f"mardonar:lock:session:{session_id}"


def test_a_lock_back_from_the_append_only_file_is_taken_over_once_its_holder_is_gone(
    restartable_redis: RestartableRedis, llm_server: ScriptedServer, tmp_path: Path
) -> None:
    """The interrupted turn: `play` is mid-turn (the model has not answered) when Redis
    crashes and the process is killed; Redis comes back with its append-only file, and with
    it the turn lock. `--resume` says so and takes the lock over at once, though the wait it
    is configured for (and the lock's remaining life) is an hour."""
    server = restartable_redis
    repo = copy_content(tmp_path / "repo")
    data = tmp_path / "data"
    llm_server.hang(seconds=600)  # the first turn's model call never answers
    llm_server.default = serve_llm(OfflineNarrator(bundle(SPEC), 1))
    env = cli_env(
        {
            "REDIS_URL": server.url,
            "DATA_DIR": str(data),
            "MARDONAR_TURN_LOCK_TIMEOUT": "3600",
            **llm_server.env(),
        }
    )
    command = [sys.executable, "-m", "mardonar", "play", SPEC, "--plain", "--seed", "1"]
    first = subprocess.Popen(
        command,
        cwd=repo,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert first.stdin is not None
        first.stdin.write("I ask Grukk who built the bridge\n")
        first.stdin.flush()
        assert len(llm_server.wait_for_requests(1, timeout=60)) == 1  # mid-turn, lock held
        assert server.process is not None
        server.process.kill()  # Redis crashes (SIGKILL: nothing but the fsynced AOF survives)
        server.process.wait()
        first.kill()  # and the interrupted process is gone too
        first.wait()
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    server.start()

    async def look() -> tuple[str | None, str]:
        async def lock(r: aioredis.Redis) -> tuple[str | None, str]:
            (key,) = [k async for k in r.scan_iter(match="mardonar:lock:session:*")]
            # Whatever lease it had, it would now last an hour: only its holder being gone
            # can let the resume in.
            await r.pexpire(key, 3_600_000)
            return await r.get(key), key

        return await with_client(server.url, lock)

    value, key = run(look())
    assert value is not None and f'"pid":{first.pid}' in value  # back from the AOF
    session_id = key.removeprefix("mardonar:lock:session:")

    resumed = subprocess.run(
        [*command[:5], "--resume"],
        cwd=repo,
        env=env,
        input="/quit\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert resumed.returncode == 0, resumed.stderr
    notices = [line for line in resumed.stdout.splitlines() if "turn lock" in line]
    assert len(notices) == 1, resumed.stdout
    assert notices[0].startswith(f"  · the turn lock of session {session_id} was left by ")
    assert f"process {first.pid} on " in notices[0]
    assert notices[0].endswith("which no longer runs; taken over")
    # The interrupted turn was played this time, and the lock released at its end.

    async def after() -> tuple[int, str | None]:
        store = RedisStore(server.url)
        try:
            stored = await store.load_session(session_id)
            assert stored is not None
        finally:
            await store.close()
        return stored.turn, await with_client(server.url, lambda r: r.get(key))

    assert run(after()) == (1, None)


def test_a_waiting_turn_says_why_and_for_how_long(
    redis_server: str, run_cli: RunCli, tmp_path: Path
) -> None:
    """A live holder (another process, mid-turn) keeps the lock: `--resume` says it waits,
    for whom and for how long, and plays as soon as that turn ends."""
    repo = copy_content(tmp_path / "repo")
    data = tmp_path / "data"

    async def start() -> str:
        engine = await open_engine(redis_server, data)
        try:
            # The transcript in the test's folder: a `--resume` below appends to it.
            return (await engine.start(seed=1, transcript=tmp_path / "session.jsonl")).id
        finally:
            await close_engine(engine)

    session_id = run(start())
    env = cli_env({"REDIS_URL": redis_server, "DATA_DIR": str(data)})
    holder = subprocess.Popen(
        [sys.executable, "-c", LOCK_HOLDER, redis_server, session_id],
        cwd=repo,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    resumed: subprocess.Popen[str] | None = None
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        resumed = subprocess.Popen(
            [sys.executable, "-m", "mardonar", "play", SPEC, "--plain", "--resume"],
            cwd=repo,
            env={**env, "MARDONAR_TURN_LOCK_TIMEOUT": "900"},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert resumed.stdin is not None
        resumed.stdin.write("I greet Grukk politely\n")
        resumed.stdin.close()
        out = Lines(resumed)
        waiting = out.until("waiting up to")
        assert waiting.startswith("  · waiting up to 900 s for the turn lock of session ")
        assert f"process {holder.pid} on " in waiting  # who holds it
        assert "a turn in progress there" in waiting  # why
        assert holder.poll() is None  # it really is still holding it
        assert holder.stdin is not None
        holder.stdin.write("done\n")  # that turn ends
        holder.stdin.flush()
        assert holder.wait(timeout=60) == 0
        shown = out.rest()
        assert resumed.wait(timeout=60) == 0
        assert "Grukk" in shown.split(waiting, 1)[1]  # then the turn was played
        assert shown.count("waiting up to") == 1  # said once, not once per poll
    finally:
        for process in (holder, resumed):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait()


def test_the_engine_shows_the_wait_before_the_turn(redis_server: str, tmp_path: Path) -> None:
    """Every front end shows what `run_turn` yields: the waiting line comes first, as the
    wait begins (not once the turn is over)."""

    async def scenario() -> None:
        engine = await open_engine(redis_server, tmp_path / "data")
        holder = RedisStore(redis_server)
        try:
            session = await engine.start(seed=1)
            seen: list[Event] = []
            async with holder.turn_lock(session.id):
                turn = engine.run_turn(session, [("aria", "I greet Grukk politely")])
                seen.append(await anext(turn))  # arrives while the lock is still held
            seen += [event async for event in turn]
            assert isinstance(seen[0], Notice) and "waiting up to 180 s" in seen[0].text
            assert [e for e in seen if isinstance(e, PlayerSaid)]
            assert errors(seen) == []
        finally:
            await holder.close()
            await close_engine(engine)

    run(scenario())


def test_a_live_holders_lock_is_never_taken_over(redis_server: str) -> None:
    """A lock whose holder runs (this process, another task) is waited for, even with a
    lease long gone by the clock of a restarted Redis: only a provably dead holder loses it."""

    async def scenario() -> None:
        holder, waiter = RedisStore(redis_server), RedisStore(redis_server, lock_wait=0.5)
        heard: list[str] = []
        try:
            async with holder.turn_lock("s1"):
                with pytest.raises(TurnBusy):
                    async with waiter.turn_lock("s1", on_wait=heard.append):
                        pytest.fail("took a live holder's lock")
            (line,) = heard
            assert line.startswith("waiting up to 0 s for the turn lock of session s1: process ")

            # A holder that names a process of this machine that has exited: taken over.
            gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                                  capture_output=True, text=True, check=True)  # fmt: skip
            from dataclasses import replace

            from mardonar.store.redis_lock import Holder

            dead = replace(Holder.here(), pid=int(gone.stdout), started="1")
            await with_client(
                redis_server, lambda r: r.set(_lock_key("s2"), dead.encode(), px=3_600_000)
            )
            heard.clear()
            async with waiter.turn_lock("s2", on_wait=heard.append):
                pass
            assert heard == [
                f"the turn lock of session s2 was left by {dead.describe()}, "
                "which no longer runs; taken over"
            ]
        finally:
            await holder.close()
            await waiter.close()

    run(scenario())
