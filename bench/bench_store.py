"""Session store speed, SQLite vs Redis: operations per second, and the engine's turn overhead.

Store operations, one at a time as the engine issues them (each awaited before the next):

* `save`: a compare-and-set write advancing the turn, with a session JSON of realistic size
  (`--size`, default 8 KB: a mid-encounter session). SQLite: one `synchronous=FULL` commit;
  Redis: one Lua script (check, write, TTL, indexes).
* `load`: one session by id.
* `latest`: the most recent active session of a spec, among `--sessions` stored ones
  (what `--resume` asks).

Then the engine: the 200-turn offline-narrator session of bench_engine.py, with each store
behind it. With Redis a turn also takes and releases the turn lock and re-reads the session
(the cross-process check), which is where its extra round trips go.

Redis is a real `redis-server` on 127.0.0.1 started in a temp folder (tests/redis_server.py,
persistence off, like a cache-only production Redis; with AOF `appendfsync everysec` the
numbers barely move, `always` adds an fsync per write like SQLite's).

    python bench/bench_store.py [--ops 2000] [--turns 200] [--repeat 3] [--size 8192]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench_engine import LINES  # noqa: E402

from mardonar.content.bundle import Bundle, load_bundle  # noqa: E402
from mardonar.engine.loop import Engine  # noqa: E402
from mardonar.llm.offline import OfflineNarrator  # noqa: E402
from mardonar.memory.sqlite import SqliteMemory  # noqa: E402
from mardonar.store.base import SessionStore  # noqa: E402
from mardonar.store.redis import RedisStore  # noqa: E402
from mardonar.store.sqlite import SqliteStore  # noqa: E402
from tests.redis_server import running_redis  # noqa: E402

SPEC = "goblin-toll-bridge"
StoreFactory = Callable[[], SessionStore]


async def store_ops(make: StoreFactory, ops: int, size: int, sessions: int) -> dict[str, float]:
    """Operations per second of save, load and latest on one fresh store."""
    store = make()
    data = json.dumps({"history": "x" * size})
    try:
        for n in range(sessions):
            await store.save_session(
                f"s{n}", spec_id=SPEC, status="active", turn=0, data=data, expected_turn=None
            )
        rates: dict[str, float] = {}
        started = time.perf_counter()
        for turn in range(ops):
            await store.save_session(
                "s0", spec_id=SPEC, status="active", turn=turn + 1, data=data, expected_turn=turn
            )
        rates["save"] = ops / (time.perf_counter() - started)
        started = time.perf_counter()
        for _ in range(ops):
            await store.load_session("s1")
        rates["load"] = ops / (time.perf_counter() - started)
        started = time.perf_counter()
        for _ in range(ops):
            await store.latest_session(SPEC)
        rates["latest"] = ops / (time.perf_counter() - started)
        return rates
    finally:
        await store.close()


def endless(content: Bundle, turns: int) -> Bundle:
    """The spec of bench_engine.py: never resolved, never at its turn limit."""
    spec = content.spec
    return dataclasses.replace(
        content,
        spec=spec.model_copy(
            update={
                "limits": spec.limits.model_copy(update={"max_turns": turns + 10}),
                "checks": [
                    c.model_copy(update={"leads_to": None, "failure_leads_to": None})
                    for c in spec.checks
                ],
            }
        ),
    )


async def turn_times(make: StoreFactory, turns: int, data: Path) -> list[float]:
    content = endless(load_bundle(SPEC, cwd=REPO), turns)
    engine = Engine(
        content,
        llm=OfflineNarrator(content, 7),
        store=make(),
        memory=SqliteMemory(data / "memory.db"),
        data_dir=data,
    )
    try:
        session = await engine.start(seed=7, transcript=data / "t.jsonl")
        times: list[float] = []
        for turn in range(1, turns + 1):
            player, text = LINES[(turn - 1) % len(LINES)]
            started = time.perf_counter()
            async for _ in engine.run_turn(session, [(player, f"{text} ({turn})")]):
                pass
            times.append((time.perf_counter() - started) * 1000)
        return times
    finally:
        await engine.memory.close()
        await engine.store.close()


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ops", type=int, default=2000)
    parser.add_argument("--turns", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--size", type=int, default=8192, help="bytes of session JSON")
    parser.add_argument("--sessions", type=int, default=100, help="sessions stored")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder, running_redis(Path(folder)) as url:
        root = Path(folder)
        runs = 0

        def fresh() -> Path:
            nonlocal runs
            runs += 1
            path = root / f"run{runs}"
            path.mkdir()
            return path

        async def flush_redis() -> None:
            import redis.asyncio as aioredis

            client = aioredis.from_url(url)  # the bench owns this server: every run starts empty
            await client.flushdb()
            await client.aclose()

        def backends() -> dict[str, StoreFactory]:
            sqlite = fresh() / "mardonar.db"
            asyncio.run(flush_redis())
            return {"sqlite": lambda: SqliteStore(sqlite), "redis": lambda: RedisStore(url)}

        rates: dict[str, dict[str, list[float]]] = {}
        for _ in range(args.repeat):
            for name, make in backends().items():
                got = asyncio.run(store_ops(make, args.ops, args.size, args.sessions))
                for op, rate in got.items():
                    rates.setdefault(name, {}).setdefault(op, []).append(rate)

        turns: dict[str, dict[str, list[float]]] = {}
        for _ in range(args.repeat):
            for name, make in backends().items():
                times = asyncio.run(turn_times(make, args.turns, fresh()))
                turns.setdefault(name, {}).setdefault("median", []).append(statistics.median(times))
                turns[name].setdefault("p99", []).append(p99(times))

    print(
        f"store operations per second ({args.ops} each, {args.size}-byte sessions, "
        f"{args.sessions} stored; median of {args.repeat} runs)"
    )
    print("| operation | SQLite | Redis |")
    print("|---|---:|---:|")
    for op in ("save", "load", "latest"):
        cells = [f"{statistics.median(rates[b][op]):,.0f}" for b in ("sqlite", "redis")]
        print(f"| {op} | {' | '.join(cells)} |")
    print()
    print(f"engine turn overhead ({args.turns}-turn session, offline narrator; ms)")
    print("| measure | SQLite | Redis |")
    print("|---|---:|---:|")
    for measure in ("median", "p99"):
        cells = []
        for backend in ("sqlite", "redis"):
            values = turns[backend][measure]
            runs_text = ", ".join(f"{v:.2f}" for v in values)
            cells.append(f"{statistics.median(values):.2f} (runs {runs_text})")
        print(f"| per-turn {measure} | {' | '.join(cells)} |")


if __name__ == "__main__":
    main()
