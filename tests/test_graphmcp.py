"""GraphMcpMemory against a real MCP server on 127.0.0.1 (tests/mcp_graph_server.py).

The memory contract itself runs in tests/test_memory.py (the `graphmcp` backend, against
`mardonar serve mcp`'s server). Here: what only GraphMCP has — the similarity threshold,
renamed tools, every way the server can fail (the turn goes on, one warning per outage),
and a whole engine session whose NPC remembers and later recalls through MCP.
"""

# ruff: noqa: F811
from __future__ import annotations

import asyncio
import logging
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from mardonar.config import Settings
from mardonar.content.models import Lore
from mardonar.engine.events import Narration, ToolResult
from mardonar.llm.scripted import ScriptedLLM, ScriptedReply
from mardonar.memory.graphmcp import GraphMcpMemory
from mardonar.runtime import open_memory, open_runtime
from tests.engine_helpers import bundle, copy_content
from tests.mcp_graph_server import GraphServer, graph_server  # noqa: F401

SCOPE = "goblin-toll-bridge"
LOGGER = "mardonar.memory.graphmcp"


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == LOGGER and r.levelno >= 30]


async def recall(m: GraphMcpMemory, query: str = "", npc: str = "grukk") -> list[str]:
    return [hit.fact for hit in await m.recall(scope=SCOPE, session_id="s1", npc=npc, query=query)]


async def remember(m: GraphMcpMemory, fact: str, npc: str = "grukk") -> None:
    await m.remember(scope=SCOPE, session_id="s1", npc=npc, fact=fact)


# ---------------------------------------------------------------------- threshold


def test_memories_scored_under_the_threshold_are_dropped(graph_server: GraphServer) -> None:
    for fact, score in (("Aria paid", 0.91), ("Bram growled", 0.7), ("It rained", 0.4)):
        graph_server.graph.add_memory(
            scope=SCOPE, session_id="s1", npc="grukk", fact=fact, score=score
        )

    async def scenario() -> tuple[list[str], list[str], list[str], list[float]]:
        strict = GraphMcpMemory(graph_server.url, score_threshold=0.68)
        lenient = GraphMcpMemory(graph_server.url, score_threshold=0.0)
        try:
            scores = [
                hit.score
                for hit in await strict.recall(
                    scope=SCOPE, session_id="s1", npc="grukk", query="what happened"
                )
            ]
            return (
                await recall(strict, "what happened"),
                await recall(lenient, "what happened"),
                await recall(strict),  # no query: nothing is scored, nothing dropped
                scores,
            )
        finally:
            await strict.close()
            await lenient.close()

    kept, everything, unscored, scores = asyncio.run(scenario())
    assert kept == ["Aria paid", "Bram growled"]
    assert scores == [0.91, 0.7]
    assert everything == ["Aria paid", "Bram growled", "It rained"]
    assert sorted(unscored) == ["Aria paid", "Bram growled", "It rained"]


def test_lore_scored_under_the_threshold_is_dropped(graph_server: GraphServer) -> None:
    lore = [
        Lore(id="trolls", title="Trolls", keywords=("troll",), body="Trolls fear fire."),
        Lore(id="rivers", title="Rivers", keywords=("ford",), body="Trolls lived by a ford."),
    ]

    async def scenario() -> tuple[list[str], list[str]]:
        strict = GraphMcpMemory(graph_server.url, score_threshold=0.68)
        lenient = GraphMcpMemory(graph_server.url, score_threshold=0.3)
        try:
            await strict.index_lore(lore)
            # "trolls fear fire": the trolls file holds all three words (similarity 1.0),
            # the rivers file one of three (0.33).
            strong = [hit.lore_id for hit in await strict.search_lore("trolls fear fire")]
            weak = [hit.lore_id for hit in await lenient.search_lore("trolls fear fire")]
            return strong, weak
        finally:
            await strict.close()
            await lenient.close()

    strong, weak = asyncio.run(scenario())
    assert strong == ["trolls"]
    assert weak == ["trolls", "rivers"]


# ---------------------------------------------------------------------- renamed tools


def test_tools_renamed_through_the_setting(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    renamed = {
        "recall": "memory_search",
        "remember": "memory_add",
        "log": "episode_add",
        "lore": "docs_search",
        "index": "docs_load",
    }
    server = GraphServer(renamed)
    server.start()
    try:
        monkeypatch.setenv("GRAPHMCP_URL", server.url)
        monkeypatch.setenv(
            "MARDONAR_GRAPHMCP_TOOLS", ",".join(f"{role}={tool}" for role, tool in renamed.items())
        )
        memory = open_memory(Settings(), tmp_path)
        assert isinstance(memory, GraphMcpMemory)

        async def scenario() -> tuple[list[str], list[str]]:
            try:
                await remember(memory, "The toll is three silver")
                await memory.remember(
                    scope=SCOPE,
                    session_id="s0",
                    npc="grukk",
                    fact="Aria paid",
                    kind="encounter-log",
                )
                await memory.index_lore(
                    [Lore(id="goblins", title="Goblins", keywords=(), body="Greedy.")]
                )
                lore = [hit.lore_id for hit in await memory.search_lore("goblins")]
                return await recall(memory, "toll"), lore
            finally:
                await memory.close()

        facts, lore = asyncio.run(scenario())
    finally:
        server.stop()
    assert facts == ["The toll is three silver"]
    assert lore == ["goblins"]
    assert set(server.calls) == set(renamed.values())


def test_default_names_against_a_renaming_server_warn_with_the_fix(
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = GraphServer({"recall": "memory_search"})
    server.start()
    try:

        async def scenario() -> list[list[str]]:
            m = GraphMcpMemory(server.url)
            try:
                return [await recall(m, "toll") for _ in range(3)]
            finally:
                await m.close()

        with caplog.at_level(logging.INFO, logger=LOGGER):
            results = asyncio.run(scenario())
    finally:
        server.stop()
    assert results == [[], [], []]
    (warning,) = warnings_of(caplog)
    assert "recall_memories" in warning and "MARDONAR_GRAPHMCP_TOOLS=recall=" in warning


# ---------------------------------------------------------------------- failure paths


def test_server_down_at_start_means_no_memories_one_warning_no_secret(
    closed_port: int, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"http://mardonar:s3cret@127.0.0.1:{closed_port}/mcp"

    async def scenario() -> tuple[list[str], list[str]]:
        m = GraphMcpMemory(url, retry_after=0)
        try:
            await remember(m, "Nobody will know")
            await m.index_lore([Lore(id="goblins", title="Goblins", keywords=(), body="Greedy.")])
            facts = await recall(m, "know")
            lore = [hit.lore_id for hit in await m.search_lore("goblins")]
            return facts, lore
        finally:
            await m.close()
            await m.close()

    with caplog.at_level(logging.DEBUG, logger=LOGGER):
        assert asyncio.run(scenario()) == ([], [])
    (warning,) = warnings_of(caplog)
    assert f"127.0.0.1:{closed_port}/mcp is unreachable" in warning
    assert "s3cret" not in caplog.text and "mardonar:" not in caplog.text


def test_server_dying_mid_session_then_coming_back(
    graph_server: GraphServer, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario() -> tuple[list[str], list[list[str]], list[str]]:
        m = GraphMcpMemory(graph_server.url, retry_after=0)
        try:
            await remember(m, "Aria paid the toll")
            before = await recall(m, "toll")
            graph_server.stop()
            during = [await recall(m, "toll") for _ in range(3)]
            await remember(m, "Lost while the server is down")
            graph_server.start()
            after = await recall(m, "toll")
            return before, during, after
        finally:
            await m.close()

    with caplog.at_level(logging.INFO, logger=LOGGER):
        before, during, after = asyncio.run(scenario())
    assert before == ["Aria paid the toll"]
    assert during == [[], [], []]
    assert after == ["Aria paid the toll"]
    assert len(warnings_of(caplog)) == 1
    assert any("answers again" in r.getMessage() for r in caplog.records)


def test_a_failing_tool_warns_once_and_the_others_keep_working(
    graph_server: GraphServer, caplog: pytest.LogCaptureFixture
) -> None:
    graph_server.failing = {"recall"}

    async def scenario() -> tuple[list[list[str]], list[str]]:
        m = GraphMcpMemory(graph_server.url)
        try:
            await remember(m, "Aria paid the toll")
            failed = [await recall(m, "toll") for _ in range(3)]
            graph_server.failing = set()
            return failed, await recall(m, "toll")
        finally:
            await m.close()

    with caplog.at_level(logging.INFO, logger=LOGGER):
        failed, healed = asyncio.run(scenario())
    assert failed == [[], [], []]
    assert healed == ["Aria paid the toll"]  # remember went through while recall failed
    (warning,) = warnings_of(caplog)
    assert "graph database offline" in warning and "recalling NPC memories" in warning


def test_results_of_the_wrong_shape_are_skipped_with_one_warning(
    graph_server: GraphServer, caplog: pytest.LogCaptureFixture
) -> None:
    graph_server.garbled = {"recall", "lore"}

    async def scenario() -> list[list[str]]:
        m = GraphMcpMemory(graph_server.url)
        try:
            results = [await recall(m, "toll") for _ in range(2)]
            results += [[h.lore_id for h in await m.search_lore("toll")] for _ in range(2)]
            return results
        finally:
            await m.close()

    with caplog.at_level(logging.INFO, logger=LOGGER):
        assert asyncio.run(scenario()) == [[], [], [], []]
    recall_warning, lore_warning = warnings_of(caplog)  # one per tool, not one per call
    assert "tool 'recall_memories' returned no 'memories' list" in recall_warning
    assert "tool 'search_lore' returned no 'lore' list" in lore_warning


def test_http_errors_count_as_an_outage(
    graph_server: GraphServer, caplog: pytest.LogCaptureFixture
) -> None:
    graph_server.broken = True

    async def scenario() -> list[list[str]]:
        m = GraphMcpMemory(graph_server.url, retry_after=0)
        try:
            return [await recall(m, "toll") for _ in range(3)]
        finally:
            await m.close()

    with caplog.at_level(logging.INFO, logger=LOGGER):
        assert asyncio.run(scenario()) == [[], [], []]
    assert len(warnings_of(caplog)) == 1


def test_a_missing_tool_is_skipped_with_one_warning(caplog: pytest.LogCaptureFixture) -> None:
    server = GraphServer(without={"lore"})
    server.start()
    try:

        async def scenario() -> tuple[list[list[str]], list[str]]:
            m = GraphMcpMemory(server.url)
            try:
                await remember(m, "Aria paid the toll")
                lore = [[h.lore_id for h in await m.search_lore("goblins")] for _ in range(2)]
                return lore, await recall(m, "toll")
            finally:
                await m.close()

        with caplog.at_level(logging.INFO, logger=LOGGER):
            lore, facts = asyncio.run(scenario())
    finally:
        server.stop()
    assert lore == [[], []]
    assert facts == ["Aria paid the toll"]
    (warning,) = warnings_of(caplog)
    assert "no tool 'search_lore'" in warning and "MARDONAR_GRAPHMCP_TOOLS=lore=" in warning


def test_a_server_without_lore_indexing_keeps_its_own_lore_quietly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = GraphServer(without={"index"})
    server.start()
    server.graph.nodes["lore:goblins"] = {
        "type": "lore",
        "lore_id": "goblins",
        "title": "Goblins",
        "keywords": ["goblin"],
        "body": "GraphMCP's own goblin lore.",
    }
    try:

        async def scenario() -> list[str]:
            m = GraphMcpMemory(server.url)
            try:
                await m.index_lore([Lore(id="trolls", title="Trolls", keywords=(), body="Big.")])
                await m.index_lore([Lore(id="trolls", title="Trolls", keywords=(), body="Big.")])
                return [hit.lore_id for hit in await m.search_lore("goblins")]
            finally:
                await m.close()

        with caplog.at_level(logging.INFO, logger=LOGGER):
            assert asyncio.run(scenario()) == ["goblins"]
    finally:
        server.stop()
    assert warnings_of(caplog) == []
    assert sum("index_lore" in r.getMessage() for r in caplog.records) == 1


def test_a_silent_server_costs_one_timeout_then_calls_are_skipped(
    graph_server: GraphServer, caplog: pytest.LogCaptureFixture
) -> None:
    graph_server.hang = 5.0

    async def scenario() -> list[list[str]]:
        m = GraphMcpMemory(graph_server.url, timeout=0.5, retry_after=600)
        try:
            return [await recall(m, "toll") for _ in range(4)]
        finally:
            await m.close()

    with caplog.at_level(logging.INFO, logger=LOGGER):
        assert asyncio.run(scenario()) == [[], [], [], []]
    graph_server.hang = 0
    assert graph_server.calls == ["recall_memories"]  # the other three never left the client
    (warning,) = warnings_of(caplog)
    assert "no answer within 0.5 s" in warning


def test_invalid_memories_are_still_refused(graph_server: GraphServer) -> None:
    async def scenario() -> None:
        m = GraphMcpMemory(graph_server.url)
        try:
            with pytest.raises(ValueError):
                await m.remember(scope=SCOPE, session_id="s1", npc="grukk", fact="  ")
            with pytest.raises(ValueError):
                await m.remember(
                    scope=SCOPE, session_id="s1", npc="grukk", fact="ok", kind="gossip"
                )
        finally:
            await m.close()

    asyncio.run(scenario())
    assert graph_server.calls == []


# ---------------------------------------------------------------------- a whole session


def _runtime_settings(url: str, tmp_path: Path) -> Settings:
    return Settings(graphmcp_url=url, data_dir=tmp_path / "data")


def test_an_npc_remembers_a_fact_and_recalls_it_turns_later(
    graph_server: GraphServer, tmp_path: Path
) -> None:
    fact = "Aria promised Grukk a shiny button"
    script = ScriptedLLM(
        [
            ScriptedReply(tool_calls=[("remember", {"npc": "grukk", "fact": fact})]),
            "Grukk squints and files that away.",
            "Grukk waits.",
            ScriptedReply(tool_calls=[("recall", {"npc": "grukk", "query": "shiny button"})]),
            "Grukk reminds Aria of her promise.",
        ]
    )

    async def scenario() -> tuple[list[ToolResult], list[str], list[str]]:
        runtime = open_runtime(
            bundle(), _runtime_settings(graph_server.url, tmp_path), model="offline", seed=3
        )
        assert isinstance(runtime.memory, GraphMcpMemory)
        await runtime.replace_llm(script)
        events: list[object] = []
        runtime.engine.subscribers.append(events.append)
        try:
            session = await runtime.engine.start(seed=3, transcript=tmp_path / "t.jsonl")
            for text in ("I promise you a button.", "Nice weather.", "Remember me?"):
                async for _ in runtime.engine.run_turn(session, [("aria", text)]):
                    pass
            prompt = " ".join(str(m) for m in script.requests[-1].messages)
            narration = [e.text for e in events if isinstance(e, Narration)]
            return [e for e in events if isinstance(e, ToolResult)], narration, [prompt]
        finally:
            await runtime.close()

    results, narration, (prompt,) = asyncio.run(scenario())
    remembered, recalled = results
    assert remembered.name == "remember" and remembered.ok
    assert recalled.name == "recall" and recalled.ok and recalled.result is not None
    assert fact in recalled.result["memories"]
    assert fact in prompt  # the model saw it
    assert narration[-1] == "Grukk reminds Aria of her promise."
    assert "recall_memories" in graph_server.calls and "remember_fact" in graph_server.calls


def test_a_session_goes_on_when_graphmcp_is_down(
    closed_port: int, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    script = ScriptedLLM(
        [
            ScriptedReply(tool_calls=[("recall", {"npc": "grukk", "query": "toll"})]),
            "Grukk remembers nothing at all.",
        ]
    )

    async def scenario() -> tuple[list[ToolResult], list[str]]:
        url = f"http://127.0.0.1:{closed_port}/mcp"
        runtime = open_runtime(bundle(), _runtime_settings(url, tmp_path), model="offline", seed=3)
        await runtime.replace_llm(script)
        events: list[object] = []
        runtime.engine.subscribers.append(events.append)
        try:
            session = await runtime.engine.start(seed=3)
            async for _ in runtime.engine.run_turn(session, [("aria", "Do you recall me?")]):
                pass
            narration = [e.text for e in events if isinstance(e, Narration)]
            return [e for e in events if isinstance(e, ToolResult)], narration
        finally:
            await runtime.close()

    with caplog.at_level(logging.INFO, logger=LOGGER):
        (result,), narration = asyncio.run(scenario())
    assert result.ok and result.result is not None and result.result["memories"] == []
    assert narration[-1] == "Grukk remembers nothing at all."
    assert len(warnings_of(caplog)) == 1


def test_play_plain_with_graphmcp_writes_the_encounter_log_there(
    run_cli: Callable[..., subprocess.CompletedProcess[str]],
    tmp_path: Path,
    graph_server: GraphServer,
) -> None:
    repo = copy_content(tmp_path / "repo")
    said = "I threaten Grukk with my axe\nFine. We pay the toll.\n"
    env = {"GRAPHMCP_URL": graph_server.url, "DATA_DIR": str(tmp_path / "data")}
    result = run_cli(
        "play", "goblin-toll-bridge", "--plain", "--seed", "7", cwd=repo, env=env, input=said
    )

    assert result.returncode == 0, result.stderr
    assert "★ Outcome: paid-toll" in result.stdout
    logs = [
        node
        for node in graph_server.graph.nodes.values()
        if node["type"] == "memory" and node["kind"] == "encounter-log"
    ]
    assert {node["npc"] for node in logs} == {"grukk", "old-knuckle"}  # one per NPC
    assert "paid-toll" in logs[0]["fact"]
    assert {"index_lore", "remember_fact", "log_encounter"} <= set(graph_server.calls)
