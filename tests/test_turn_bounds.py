"""Bounds within one turn: tool calls per reply, the size of a player line, of echoed
arguments and of tool results, and of every request a turn sends.

The attacks of issue #12: one reply with 200 (and 1,000) tool calls; a 5 MB player line; a
refused 1 MB `remember` argument that went back to the model in every later round. The
size tests run over real HTTP (tests/llm_server.py records each request body as sent).
"""

# ruff: noqa: F811
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mardonar.config import load_settings
from mardonar.content.render import estimate_tokens
from mardonar.engine.bounds import MAX_PLAYER_LINE_CHARS
from mardonar.engine.events import Notice, PlayerSaid, Rolled, ToolCalled, ToolResult
from mardonar.errors import ConfigError
from mardonar.llm.openai_compat import OpenAICompatLLM
from mardonar.llm.scripted import ScriptedLLM, ScriptedReply
from mardonar.runtime import open_runtime
from tests.engine_helpers import bundle, open_table, run
from tests.llm_server import Reply, ScriptedServer, llm_server  # noqa: F401

CAP = 8  # MARDONAR_MAX_TOOL_CALLS' default


def flood(count: int) -> ScriptedReply:
    """One reply of `count` calls: improvised checks, remembers and rolls in turn."""
    kinds: list[tuple[str, dict[str, Any]]] = [
        ("skill_check", {"player": "aria", "skill": "perception", "difficulty": "easy"}),
        ("remember", {"npc": "grukk", "fact": "Aria looked around again."}),
        ("roll", {"expression": "d6", "reason": "again"}),
    ]
    return ScriptedReply(tool_calls=[kinds[i % 3] for i in range(count)])


def play_flood(tmp_path: Path, count: int) -> dict[str, Any]:
    llm = ScriptedLLM([flood(count), "Grukk blinks at the commotion."])

    async def go() -> dict[str, Any]:
        table = await open_table(tmp_path, llm, transcript=True)
        try:
            await table.say("aria", "I look around. Very thoroughly.")
            return {
                "events": list(table.events),
                "session": table.session,
                "requests": llm.requests,
                "transcript": Path(table.session.transcript or "").read_text().splitlines(),
            }
        finally:
            await table.close()

    return run(go())


def test_a_reply_of_200_calls_runs_eight_and_tells_the_model_why_not_the_rest(
    tmp_path: Path,
) -> None:
    played = play_flood(tmp_path, 200)
    results = [e for e in played["events"] if isinstance(e, ToolResult)]
    assert [r.ok for r in results] == [True] * CAP + [False]
    assert results[-1].error is not None
    assert "at most 8 tool calls are run per reply" in results[-1].error
    # Eight calls ran (check, remember, roll, check, …): three checks and two rolls.
    assert played["session"].rolls == 5
    assert len([e for e in played["events"] if isinstance(e, Rolled)]) == 5
    assert len(played["session"].checks_rolled) == 3
    # The model's next request carries the nine calls and an answer to each (a valid
    # conversation), the refusal among them.
    after = played["requests"][1].messages
    echoed = next(m for m in after if m.tool_calls)
    assert len(echoed.tool_calls) == CAP + 1
    answers = [m for m in after if m.role == "tool"]
    assert [m.tool_call_id for m in answers] == [c.id for c in echoed.tool_calls]
    assert "at most 8 tool calls" in answers[-1].content


def test_a_reply_of_1000_calls_costs_what_one_of_200_does(tmp_path: Path) -> None:
    small = play_flood(tmp_path / "200", 200)
    large = play_flood(tmp_path / "1000", 1000)
    assert large["session"].rolls == small["session"].rolls == 5
    called = [e for e in large["events"] if isinstance(e, ToolCalled)]
    assert len(called) == CAP + 1
    # The transcript records the same number of lines, each of bounded size.
    assert len(large["transcript"]) == len(small["transcript"])
    assert max(len(line) for line in large["transcript"]) < 8_000
    request = large["requests"][1]
    assert sum(len(m.tool_calls) for m in request.messages) == CAP + 1


# ---------------------------------------------------------------- sizes over real HTTP


def request_tokens(body: dict[str, Any]) -> int:
    """The context-budget estimate of what a chat request sends (contents and calls)."""
    total = 0
    for message in body["messages"]:
        total += estimate_tokens(message.get("content") or "")
        for call in message.get("tool_calls") or []:
            total += estimate_tokens(call["function"]["arguments"])
            total += estimate_tokens(call["function"]["name"])
    return total


BUDGET = 6000  # the engine's (and MARDONAR_CONTEXT_BUDGET's) default


def test_a_5_mb_player_line_is_cut_with_a_note_and_never_sent_whole(
    tmp_path: Path, llm_server: ScriptedServer
) -> None:
    llm_server.script("Grukk covers his ears.")
    huge = "I shout " + "very " * 1_000_000  # 5 MB

    async def go() -> dict[str, Any]:
        llm = OpenAICompatLLM(base_url=llm_server.base_url, model=llm_server.model)
        table = await open_table(tmp_path, llm, transcript=True)
        try:
            await table.say("aria", huge)
            return {
                "events": list(table.events),
                "session": table.session,
                "transcript": Path(table.session.transcript or "").read_text().splitlines(),
            }
        finally:
            await llm.aclose()
            await table.close()

    played = run(go())
    (request,) = llm_server.chat_requests
    assert len(request.raw) < 64_000
    assert request_tokens(request.body) <= BUDGET
    (notice,) = [e for e in played["events"] if isinstance(e, Notice) and e.data.get("cut")]
    assert notice.text == (
        "Aria Swiftwind's line was cut to 2,000 of its 5,000,008 characters; "
        "the rest was not sent to the GM"
    )
    (said,) = [e for e in played["events"] if isinstance(e, PlayerSaid)]
    assert said.text.startswith("I shout very") and len(said.text) <= MAX_PLAYER_LINE_CHARS + 1
    stored = [e.text for e in played["session"].history if e.role == "player"]
    assert [len(text) for text in stored] == [len(said.text)]
    assert max(len(line) for line in played["transcript"]) < 8_000


def test_a_refused_1_mb_argument_is_not_sent_back_in_every_round(
    tmp_path: Path, llm_server: ScriptedServer
) -> None:
    fact = "Grukk " * 175_000  # ~1 MB
    llm_server.script(
        Reply(tool_calls=[("remember", {"npc": "grukk", "fact": fact})]),
        Reply(tool_calls=[("roll", {"expression": "d6", "reason": "nerves"})]),
        Reply(tool_calls=[("roll", {"expression": "d6", "reason": "more nerves"})]),
        "Grukk forgets what you said.",
    )

    async def go() -> dict[str, Any]:
        llm = OpenAICompatLLM(base_url=llm_server.base_url, model=llm_server.model)
        table = await open_table(tmp_path, llm, transcript=True)
        try:
            await table.say("aria", "Remember this, Grukk.")
            return {
                "events": list(table.events),
                "transcript": Path(table.session.transcript or "").read_text().splitlines(),
            }
        finally:
            await llm.aclose()
            await table.close()

    played = run(go())
    refused = next(e for e in played["events"] if isinstance(e, ToolResult))
    assert not refused.ok and refused.error is not None
    assert "fact: String should have at most 300 characters" in refused.error
    requests = llm_server.chat_requests
    assert len(requests) == 4
    for request in requests:
        assert len(request.raw) < 64_000, request.number
        assert request_tokens(request.body) <= BUDGET, request.number
    # The model still hears what it sent and why it was refused.
    last = requests[-1].body["messages"]
    echoed = next(m for m in last if m.get("tool_calls"))
    assert json.loads(echoed["tool_calls"][0]["function"]["arguments"])["npc"] == "grukk"
    assert any("at most 300 characters" in (m.get("content") or "") for m in last)
    assert max(len(line) for line in played["transcript"]) < 8_000


def test_rounds_of_oversized_calls_keep_every_request_within_the_budget(
    tmp_path: Path, llm_server: ScriptedServer
) -> None:
    """Four rounds of nine well-formed calls as large as a call may be (refused: the outcome
    does not exist), about 10,000 tokens in all: older rounds are cut so each request fits,
    the latest round always goes whole."""
    big = ("resolve", {"outcome": "everyone-wins", "summary": "Hooray. " * 125})
    llm_server.script(*[Reply(tool_calls=[big] * 9)] * 4, "Grukk shrugs.")

    async def go() -> None:
        llm = OpenAICompatLLM(base_url=llm_server.base_url, model=llm_server.model)
        table = await open_table(tmp_path, llm)
        try:
            await table.say("aria", "Remember all of this.")
        finally:
            await llm.aclose()
            await table.close()

    run(go())
    requests = llm_server.chat_requests
    assert len(requests) == 5
    for request in requests:
        assert request_tokens(request.body) <= BUDGET, request.number
    # The last round's results reach the model whole.
    last = requests[-1].body["messages"]
    contents = [m.get("content") or "" for m in last]
    assert sum("unknown outcome" in content for content in contents) >= 9
    assert any("cut to fit the context budget" in content for content in contents)


# ---------------------------------------------------------------- the setting


def test_max_tool_calls_is_a_setting_that_reaches_the_engine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env of the checkout
    monkeypatch.setenv("MARDONAR_MAX_TOOL_CALLS", "3")
    settings = load_settings()
    runtime = open_runtime(bundle(), settings, model="offline", seed=1, data_dir=tmp_path)
    try:
        assert runtime.engine.max_tool_calls == 3
    finally:
        run(runtime.close())

    monkeypatch.setenv("MARDONAR_MAX_TOOL_CALLS", "0")
    with pytest.raises(ConfigError) as raised:
        load_settings()
    message = str(raised.value)
    assert message.startswith("MARDONAR_MAX_TOOL_CALLS='0' is below 1")
    assert "set it to a whole number between 1 and 50" in message
