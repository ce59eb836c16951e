"""The turn loop: reply checks and the correction round, failures, context budget, limits."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from mardonar.engine.events import (
    Correction,
    Ended,
    EngineError,
    Narration,
    NarrationDelta,
    NarrationReplaced,
    PlayerSaid,
    Rolled,
    ToolResult,
)
from mardonar.llm.base import LLMRequest
from mardonar.llm.offline import OfflineNarrator
from mardonar.llm.scripted import FailingLLM, ScriptedLLM, ScriptedReply
from tests.engine_helpers import bundle, open_table, run


def play(tmp_path: Path, llm: Any, lines: list[tuple[str, str]], **kwargs: Any) -> Any:
    async def go() -> Any:
        table = await open_table(tmp_path, llm, **kwargs)
        try:
            for player, text in lines:
                await table.say(player, text)
            return table
        finally:
            await table.close()

    return run(go())


def of(events: list[Any], kind: type) -> list[Any]:
    return [e for e in events if isinstance(e, kind)]


# ---------------------------------------------------------------- reply checks


def test_a_banned_phrase_gets_one_correction_round(tmp_path: Path) -> None:
    llm = ScriptedLLM(["As an AI, I cannot say.", "Grukk shrugs and says nothing."])
    table = play(tmp_path, llm, [("aria", "Hello there.")])
    corrections = of(table.events, Correction)
    assert len(corrections) == 1 and "banned" in corrections[0].reason
    assert "[correction]" in llm.requests[1].messages[-1].content
    assert of(table.events, Narration)[-1].text == "Grukk shrugs and says nothing."


def test_a_reply_still_bad_after_the_correction_is_cut_to_the_rules(tmp_path: Path) -> None:
    long = "The wind howls. " * 150
    llm = ScriptedLLM([long, long])
    table = play(tmp_path, llm, [("aria", "Hello there.")])
    narration = of(table.events, Narration)[-1].text
    assert len(of(table.events, Correction)) == 1  # one round only, never a loop
    limit = table.engine.bundle.persona.filters.max_words
    assert 0 < len(narration.split()) <= limit


def test_the_missed_skill_check_heuristic_asks_for_the_roll(tmp_path: Path) -> None:
    llm = ScriptedLLM(
        [
            "Grukk is terrified and runs away; you cross.",
            ScriptedReply(
                tool_calls=[("skill_check", {"player": "bram", "check": "intimidate-grukk"})]
            ),
            "Grukk reacts to the roll.",
        ]
    )
    table = play(tmp_path, llm, [("bram", "I threaten Grukk with my axe.")])
    correction = of(table.events, Correction)[0]
    assert "intimidate-grukk" in correction.reason
    assert of(table.events, Rolled)[0].check == "intimidate-grukk"
    # The streamed draft that skipped the roll was withdrawn, not shown twice.
    assert of(table.events, NarrationReplaced)


def test_tool_syntax_leaked_into_text_is_recovered_as_a_call(tmp_path: Path) -> None:
    leaked = (
        'Let me check. {"name": "skill_check", '
        '"arguments": {"player": "bram", "check": "intimidate-grukk"}}'
    )
    llm = ScriptedLLM([leaked, "Grukk flinches."])
    table = play(tmp_path, llm, [("bram", "I threaten Grukk.")])
    results = of(table.events, ToolResult)
    assert results and results[0].name == "skill_check" and results[0].ok
    assert "{" not in of(table.events, Narration)[-1].text


def test_unparseable_tool_syntax_is_stripped_from_the_narration(tmp_path: Path) -> None:
    llm = ScriptedLLM(["The bridge creaks. <tool_call>{broken json</tool_call>", "unused"])
    table = play(tmp_path, llm, [("aria", "We wait.")])
    text = of(table.events, Narration)[-1].text
    assert "tool_call" not in text and "The bridge creaks." in text


def test_narration_streams_as_deltas_before_the_final_text(tmp_path: Path) -> None:
    # Long enough to outrun what the echo guard holds back (engine/echo.py: 7 words).
    llm = ScriptedLLM(
        [
            "First sentence of the reply, said slowly. Second sentence of the reply, a "
            "little longer. Third sentence, the last of them all."
        ]
    )
    table = play(tmp_path, llm, [("aria", "Hello.")])
    deltas = of(table.events, NarrationDelta)
    assert len(deltas) >= 2
    assert "".join(d.text for d in deltas).strip() == of(table.events, Narration)[-1].text


# ---------------------------------------------------------------- failures


def test_a_failing_model_gives_the_persona_fallback_line_and_keeps_the_message(
    tmp_path: Path,
) -> None:
    table = play(tmp_path, FailingLLM("connection refused"), [("aria", "Hello, Grukk!")])
    narration = of(table.events, Narration)[-1]
    assert narration.fallback
    assert narration.text in table.engine.bundle.persona.fallback_lines
    assert "connection refused" in of(table.events, EngineError)[0].message
    said = [e.text for e in table.session.history if e.role == "player"]
    assert said == ["Hello, Grukk!"]
    assert table.session.turn == 1 and table.session.pending == []


def test_the_next_turn_after_a_failure_retries_normally(tmp_path: Path) -> None:
    async def go() -> Any:
        table = await open_table(tmp_path, FailingLLM())
        try:
            await table.say("aria", "Hello?")
            table.engine.llm = ScriptedLLM(["Grukk finally answers."])
            await table.say("aria", "Hello again?")
            return table
        finally:
            await table.close()

    table = run(go())
    assert of(table.events, Narration)[-1].text == "Grukk finally answers."


# ---------------------------------------------------------------- limits


def test_max_turns_ends_the_encounter_unresolved_with_a_summary(tmp_path: Path) -> None:
    spec = bundle().spec
    short = dataclasses.replace(
        bundle(),
        spec=spec.model_copy(update={"limits": spec.limits.model_copy(update={"max_turns": 2})}),
    )
    llm = ScriptedLLM(["Nothing happens."], repeat_last=True)
    table = play(tmp_path, llm, [("aria", "We wait."), ("aria", "We wait more.")], content=short)
    ended = of(table.events, Ended)
    assert [e.reason for e in ended] == ["max_turns"]
    assert table.session.status.value == "ended"
    assert table.session.xp_awarded == {}
    assert ended[0].summary_path and Path(ended[0].summary_path).read_text().count("unresolved")
    # The GM was told to wrap up before the end, in the turn's context.
    assert "Wrap up" in llm.requests[-1].messages[-1].content


def test_several_players_in_one_turn_all_take_part(tmp_path: Path) -> None:
    async def go() -> Any:
        table = await open_table(tmp_path, ScriptedLLM(["They all wait."]))
        try:
            events = [
                e
                async for e in table.engine.run_turn(
                    table.session, [("aria", "I wait."), ("bram", "Me too.")]
                )
            ]
            return table, events
        finally:
            await table.close()

    table, events = run(go())
    assert [e.player for e in of(events, PlayerSaid)] == ["aria", "bram"]
    assert table.session.participants == ["aria", "bram"]
    assert table.session.turn == 1


# ---------------------------------------------------------------- context


def _prompt_tokens(request: LLMRequest) -> int:
    return sum(len(m.content) for m in request.messages) // 4


def test_the_prompt_for_turn_200_is_not_much_bigger_than_for_turn_10(tmp_path: Path) -> None:
    spec = bundle().spec
    long_game = dataclasses.replace(
        bundle(),
        spec=spec.model_copy(update={"limits": spec.limits.model_copy(update={"max_turns": 500})}),
    )
    llm = ScriptedLLM(
        ["Grukk taps his spear against the railing and squints at you, saying nothing much."],
        repeat_last=True,
    )
    lines = [
        ("aria", f"I ask Grukk about the weather on day {n} and hum a tune.") for n in range(200)
    ]
    play(tmp_path, llm, lines, content=long_game)
    at_10, at_200 = _prompt_tokens(llm.requests[9]), _prompt_tokens(llm.requests[199])
    assert at_200 <= 1.25 * at_10, (at_10, at_200)
    # Older turns are summarised, not dropped: turn 1 is still mentioned at turn 200.
    summary = llm.requests[199].messages[1].content
    assert "T1 " in summary or "earlier turns omitted" in summary


def test_lore_enters_the_context_when_its_keywords_are_mentioned(tmp_path: Path) -> None:
    content = bundle()
    harbour = next(doc for doc in content.lore if doc.id == "port-varrow")
    assert harbour.id not in content.spec.lore
    spec_lore = [doc for doc in content.lore if doc.id in content.spec.lore]
    llm = ScriptedLLM(["Hm."], repeat_last=True)
    play(tmp_path, llm, [("aria", "We wait."), ("aria", f"Ever been to {harbour.keywords[0]}?")])
    quiet, mentioned = llm.requests
    heading = f"### {harbour.title}"
    assert heading not in " ".join(m.content for m in quiet.messages)
    # In the turn's own message, with the players' line: not in the head, which stays the
    # same every turn and holds the spec's own lore.
    assert heading in mentioned.messages[-1].content
    assert heading not in mentioned.messages[0].content
    assert quiet.messages[0] == mentioned.messages[0]
    assert all(f"### {doc.title}" in mentioned.messages[0].content for doc in spec_lore)


def test_secrets_are_revealed_only_after_a_successful_check(tmp_path: Path) -> None:
    narrator_seed = 3
    content = bundle()
    grukk = content.spec.npc("grukk")
    assert grukk is not None and grukk.secrets
    llm = OfflineNarrator(content, narrator_seed)
    table = play(
        tmp_path,
        llm,
        [("aria", "Hello Grukk, nice helmet."), ("aria", "Tell me your secrets.")],
        seed=narrator_seed,
    )
    shown = " ".join(e.text for e in of(table.events, Narration))
    assert not any(secret in shown for secret in grukk.secrets)
    assert table.session.revealed_secrets == {}


def test_npc_views_show_memories_and_revealed_secrets_as_they_happen(tmp_path: Path) -> None:
    llm = ScriptedLLM(
        [
            ScriptedReply(
                tool_calls=[("remember", {"npc": "grukk", "fact": "Aria complimented my helmet."})]
            ),
            "Grukk preens.",
        ]
    )

    async def go() -> Any:
        table = await open_table(tmp_path, llm)
        try:
            before = await table.engine.npc_views(table.session)
            await table.say("aria", "Nice helmet, Grukk.")
            after = await table.engine.npc_views(table.session)
            return before, after
        finally:
            await table.close()

    before, after = run(go())
    grukk_before = next(v for v in before if v.id == "grukk")
    grukk_after = next(v for v in after if v.id == "grukk")
    assert "Aria complimented my helmet." not in grukk_before.memories
    assert "Aria complimented my helmet." in grukk_after.memories
    assert grukk_after.revealed == () and grukk_after.secrets >= 1
    knuckle = next(v for v in after if v.id != "grukk")
    assert "Aria complimented my helmet." not in knuckle.memories
