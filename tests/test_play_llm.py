"""Playing with a real model backend over real HTTP (a scripted OpenAI-compatible server
on 127.0.0.1 standing in for LiteLLM and Ollama)."""

# ruff: noqa: F811
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mardonar.engine.events import EngineError, Narration, Notice, Resolved, ToolResult
from mardonar.llm.chain import FallbackChain
from mardonar.llm.openai_compat import OpenAICompatLLM
from tests.engine_helpers import copy_content, open_table, run
from tests.llm_server import (  # noqa: F401
    Reply,
    ScriptedServer,
    llm_server,
    play_goblin_bridge_over_http,
)

SECRET = "sk-test-secret-4242"


def of(events: list[Any], kind: type) -> list[Any]:
    return [e for e in events if isinstance(e, kind) and e.turn > 0]


def test_play_resolves_an_encounter_through_real_http(
    tmp_path: Path, llm_server: ScriptedServer, run_cli: Any
) -> None:
    llm_server.api_key = SECRET
    repo = copy_content(tmp_path / "repo")
    transcript = tmp_path / "t.jsonl"
    result = play_goblin_bridge_over_http(
        run_cli, llm_server, repo=repo, data=tmp_path / "data", transcript=transcript
    )
    assert result.returncode == 0, result.stderr
    first_line = result.stdout.splitlines()[0]
    assert f"litellm {llm_server.model} at {llm_server.base_url}" in first_line
    assert "Outcome: paid-toll" in result.stdout
    assert "🎲 Aria Swiftwind — intimidation" in result.stdout
    # Every request streamed, carried the key only in its Authorization header.
    chats = llm_server.chat_requests
    assert chats and all(r.body["stream"] is True for r in chats)
    assert all(r.headers.get("authorization") == f"Bearer {SECRET}" for r in chats)
    records = [json.loads(line) for line in transcript.read_text().splitlines()]
    assert records[0]["model"] == f"litellm:{llm_server.model}"
    llm_records = [r for r in records if r["type"] == "llm"]
    assert llm_records and all("usage" in r for r in llm_records)
    for text in (result.stdout, result.stderr, transcript.read_text()):
        assert SECRET not in text


def test_killing_the_primary_switches_to_the_fallback_and_back(
    tmp_path: Path, llm_server: ScriptedServer
) -> None:
    primary = llm_server
    fallback = ScriptedServer(models=("llama3",)).start()
    try:
        primary.default = "Grukk (primary) eyes you."
        fallback.default = "Grukk (fallback) eyes you."
        chain = FallbackChain(
            [
                OpenAICompatLLM(base_url=primary.base_url, model=primary.model, retry_backoff=0.01),
                OpenAICompatLLM(
                    base_url=fallback.base_url,
                    model="llama3",
                    label="ollama",
                    settings_prefix="OLLAMA",
                    retry_backoff=0.01,
                ),
            ],
            cooldown=0,
        )

        async def go() -> Any:
            table = await open_table(tmp_path, chain)
            try:
                await table.say("aria", "Hello, Grukk.")
                primary.stop()
                await table.say("aria", "Still there?")
                fallback.stop()
                await table.say("aria", "Anyone?")
                primary.start()
                await table.say("aria", "Hello again.")
                return table
            finally:
                await chain.aclose()
                await table.close()

        table = run(go())
    finally:
        fallback.stop()
    narrations = of(table.events, Narration)
    assert [n.text for n in narrations[:2]] == [
        "Grukk (primary) eyes you.",
        "Grukk (fallback) eyes you.",
    ]
    assert any("trying ollama:llama3" in n.text for n in of(table.events, Notice))
    assert narrations[2].fallback  # both down: the persona's line, in character
    assert "every model backend failed" in of(table.events, EngineError)[0].message
    assert narrations[3].text == "Grukk (primary) eyes you."  # the primary is back
    said = [e.text for e in table.session.history if e.role == "player"]
    assert said == ["Hello, Grukk.", "Still there?", "Anyone?", "Hello again."]


def test_a_model_bad_at_tools_still_reaches_a_valid_resolution(
    tmp_path: Path, llm_server: ScriptedServer
) -> None:
    llm_server.script(
        # Unusable arguments: returned to the model as a tool error.
        Reply(tool_calls=[("skill_check", '{"player": "bram", "check": "intimidate-grukk"')]),
        # The call leaked into the text as JSON: recovered as a real call.
        Reply(
            'Let me roll. {"name": "skill_check", "arguments": '
            '{"player": "bram", "check": "intimidate-grukk"}}'
        ),
        # A function-style call in the text: recovered too.
        Reply('resolve(outcome="paid-toll", summary="Bram pays; Grukk waves them on.")'),
        Reply("Grukk pockets the silver and waves you across."),
    )
    llm = OpenAICompatLLM(base_url=llm_server.base_url, model=llm_server.model, retry_backoff=0.01)

    async def go() -> Any:
        table = await open_table(tmp_path, llm)
        try:
            await table.say("bram", "I threaten Grukk, then we pay if we must.")
            return table
        finally:
            await llm.aclose()
            await table.close()

    table = run(go())
    results = of(table.events, ToolResult)
    assert [(r.name, r.ok) for r in results] == [
        ("skill_check", False),
        ("skill_check", True),
        ("resolve", True),
    ]
    resolved = of(table.events, Resolved)
    assert resolved and resolved[0].outcome == "paid-toll"
    assert table.session.status.value == "resolved"
    narration = of(table.events, Narration)[-1].text
    assert "resolve(" not in narration and "{" not in narration
