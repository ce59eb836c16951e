"""The whole production stack at once, as an operator would run it before go-live.

`mardonar doctor` and `mardonar play --plain` with every service of CONTRACT §9 configured and
real on 127.0.0.1: the LLM (an OpenAI-compatible server answering as the offline narrator
would), Redis (sessions, registry, awards, the ingest stream), GraphMCP (NPC memory and
lore, an MCP server built with the `mcp` SDK) and the Foundry relay (items and XP). Each
service has its own detailed suite; this one shows they work together in one process.
"""

# ruff: noqa: F811  (fixtures imported by name are arguments of the tests)

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from mardonar.store.redis import RedisStore
from tests.conftest import RunCli
from tests.engine_helpers import copy_content
from tests.llm_server import Reply, ScriptedServer, llm_server, play_goblin_bridge_over_http  # noqa: F401
from tests.mcp_graph_server import GraphServer, graph_server  # noqa: F401
from tests.redis_server import redis_server  # noqa: F401
from tests.vtt_relay import API_KEY as RELAY_KEY
from tests.vtt_relay import Actor, RelayServer, World

SPEC = "goblin-toll-bridge"
RECEIPT_UUID = "Compendium.world.items.Item.Tz5Rw8YkJb1Gf6Ua"  # the spec's toll-receipt uuid


def test_doctor_then_play_with_every_service_configured(
    run_cli: RunCli,
    tmp_path: Path,
    llm_server: ScriptedServer,
    redis_server: str,
    graph_server: GraphServer,
) -> None:
    repo = copy_content(tmp_path / "repo")
    data = tmp_path / "data"
    llm_server.api_key = "sk-stack-secret"
    llm_server.default = Reply(tool_calls=[("ping", {})])  # doctor's tool-call probe
    world = World(
        actors={"Actor.aria": Actor("Aria Swiftwind")},
        items={RECEIPT_UUID: "Grukk's Toll Receipt"},
    )
    with RelayServer(world) as relay:
        services = {
            "REDIS_URL": redis_server,
            "GRAPHMCP_URL": graph_server.url,
            "VTT_RELAY_URL": relay.url,
        }
        env = {**llm_server.env(), "DATA_DIR": str(data), **services}
        doctor = run_cli("doctor", "--format", "json", "--strict", cwd=repo, env=env)
        played = play_goblin_bridge_over_http(
            run_cli,
            llm_server,
            repo=repo,
            data=data,
            transcript=tmp_path / "t.jsonl",
            env=services,
        )

        rows = json.loads(doctor.stdout)
    assert doctor.returncode == 0, json.dumps(rows, indent=1)
    # ✓ everywhere; only the parts this test leaves unset (Ollama, Discord) are skipped
    assert [r for r in rows if r["status"] not in ("ok", "skip")] == []
    parts = {r["part"] for r in rows}
    assert {r["part"] for r in rows if r["status"] == "skip"} <= {
        "LLM fallback (Ollama)",
        "Discord",
    }
    shown_rows = {
        part: " | ".join(r["detail"] for r in rows if r["part"] == part) for part in parts
    }
    assert "Redis" in shown_rows["Storage"]
    assert "MCP server with 5 tools" in shown_rows["Memory"]
    assert "Foundry world 'Mossback Test World' connected" in shown_rows["Foundry relay"]

    # play: resolved through the LLM over HTTP
    assert played.returncode == 0, played.stderr
    assert "★ Outcome: paid-toll (partial)" in played.stdout
    assert len(llm_server.chat_requests) >= 2

    # Redis: the session, the award ledger and the ingest stream
    async def redis_state() -> tuple[str, int, dict[str, object], list[str]]:
        import redis.asyncio as aioredis

        store = RedisStore(redis_server)
        client = aioredis.from_url(redis_server, decode_responses=True)
        try:
            (stored,) = await store.list_sessions(SPEC)
            awards = await store.awards(stored.id)
            entries = await client.xrange("raw.messages")
            return stored.status, stored.turn, awards, [fields["text"] for _, fields in entries]
        finally:
            await store.close()
            await client.aclose()

    status, turn, awards, ingested = asyncio.run(redis_state())
    assert (status, turn) == ("resolved", 2)
    assert awards == {"aria": {"xp": 40, "items": ["toll-receipt"]}}
    assert ingested == ["I threaten Grukk with my axe", "Fine. We pay the toll."]
    assert not (data / "mardonar.db").exists() or "sessions" not in _tables(data / "mardonar.db")

    # GraphMCP: the lore was pushed, and each NPC carries an encounter log of this outcome
    logs = [
        node
        for node in graph_server.graph.nodes.values()
        if node["type"] == "memory" and node["kind"] == "encounter-log"
    ]
    assert {node["npc"] for node in logs} == {"grukk", "old-knuckle"}
    assert all("paid-toll" in node["fact"] for node in logs)
    assert "index_lore" in graph_server.calls

    # Foundry: the item and the XP reached Aria's actor
    assert world.actor("Aria Swiftwind").items == ["Grukk's Toll Receipt"]
    assert world.actor("Aria Swiftwind").xp == 40

    # No secret anywhere an operator would look
    shown = doctor.stdout + doctor.stderr + played.stdout + played.stderr
    for secret in ("sk-stack-secret", RELAY_KEY):
        assert secret not in shown
    assert secret not in (tmp_path / "t.jsonl").read_text(encoding="utf-8")


def _tables(path: Path) -> set[str]:
    import sqlite3
    from contextlib import closing

    with closing(sqlite3.connect(path)) as conn:
        return {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
