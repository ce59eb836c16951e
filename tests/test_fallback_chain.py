"""The fallback chain through the real turn loop: primary, fallback, fallback line.

The end-to-end version over real HTTP (a loopback OpenAI-compatible server killed mid-
session) lives in tests/test_play_llm.py; these pin down the chain's rules with in-process
models.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from mardonar.engine.events import EngineError, Narration, NarrationReplaced, Notice, ToolResult
from mardonar.llm.base import (
    Chunk,
    Finish,
    LLMConfigError,
    LLMRequest,
    LLMUnavailable,
    TextDelta,
)
from mardonar.llm.chain import FallbackChain
from mardonar.llm.scripted import FailingLLM, ScriptedLLM, ScriptedReply
from tests.engine_helpers import open_table, run


class BreaksMidAnswer:
    """A backend that streams a little and then loses its connection."""

    name = "flaky"

    def __init__(self) -> None:
        self.calls = 0

    async def stream(self, request: LLMRequest) -> AsyncIterator[Chunk]:
        self.calls += 1
        # More words than the echo guard holds back (engine/echo.py), so some are shown.
        yield TextDelta("Grukk opens his mouth, shuts it, opens it again and takes a breath to")
        raise LLMUnavailable("flaky: connection dropped", partial=True)
        yield Finish()  # pragma: no cover - unreachable, keeps this an async generator

    async def aclose(self) -> None:
        pass


def play(tmp_path: Path, llm: Any, lines: list[str]) -> Any:
    async def go() -> Any:
        table = await open_table(tmp_path, llm)
        try:
            for line in lines:
                await table.say("aria", line)
            return table
        finally:
            await table.close()

    return run(go())


def of(events: list[Any], kind: type) -> list[Any]:
    """Events of one kind from the turns played (the opening, turn 0, left out)."""
    return [e for e in events if isinstance(e, kind) and e.turn > 0]


def test_a_down_primary_hands_the_turn_to_the_fallback(tmp_path: Path) -> None:
    fallback = ScriptedLLM(["Grukk shrugs."])
    chain = FallbackChain([FailingLLM("primary: connection refused"), fallback], cooldown=0)
    table = play(tmp_path, chain, ["Hello Grukk."])
    assert of(table.events, Narration)[-1].text == "Grukk shrugs."
    notes = [e.text for e in of(table.events, Notice)]
    assert any("connection refused" in n and "trying scripted" in n for n in notes)
    assert chain.name == "scripted"


def test_with_every_backend_down_the_fallback_line_plays_and_the_next_turn_recovers(
    tmp_path: Path,
) -> None:
    primary = ScriptedLLM([LLMUnavailable("primary down"), "The mists clear; Grukk waits."])
    fallback = FailingLLM("fallback down")
    chain = FallbackChain([primary, fallback], cooldown=0)
    table = play(tmp_path, chain, ["Hello?", "Hello again?"])
    narrations = of(table.events, Narration)
    assert narrations[0].fallback
    assert narrations[0].text in table.engine.bundle.persona.fallback_lines
    assert "every model backend failed" in of(table.events, EngineError)[0].message
    assert narrations[1].text == "The mists clear; Grukk waits." and not narrations[1].fallback
    said = [e.text for e in table.session.history if e.role == "player"]
    assert said == ["Hello?", "Hello again?"]  # nothing the player said was lost


def test_a_misconfigured_backend_is_reported_once_and_set_aside(tmp_path: Path) -> None:
    bad = ScriptedLLM(
        [LLMConfigError("litellm rejected the API key: set LITELLM_API_KEY", setting="x")],
        repeat_last=True,
    )
    fallback = ScriptedLLM(["One.", "Two."])
    chain = FallbackChain([bad, fallback], cooldown=0)
    table = play(tmp_path, chain, ["First.", "Second."])
    errors = [e.message for e in of(table.events, EngineError)]
    assert len(errors) == 1 and "LITELLM_API_KEY" in errors[0]
    assert bad.calls == 1  # not asked again on the second turn
    assert [n.text for n in of(table.events, Narration)] == ["One.", "Two."]


def test_a_backend_failing_mid_answer_withdraws_its_draft(tmp_path: Path) -> None:
    flaky = BreaksMidAnswer()
    chain = FallbackChain([flaky, ScriptedLLM(["Grukk speaks at last."])], cooldown=0)
    table = play(tmp_path, chain, ["Speak!"])
    assert of(table.events, NarrationReplaced)
    final = of(table.events, Narration)[-1].text
    assert final == "Grukk speaks at last." and "opens his mouth" not in final


def test_a_failed_primary_is_skipped_during_its_cooldown(tmp_path: Path) -> None:
    primary = ScriptedLLM([LLMUnavailable("down"), "Back."])
    fallback = ScriptedLLM(["Fallback one.", "Fallback two."])
    chain = FallbackChain([primary, fallback], cooldown=3600)
    table = play(tmp_path, chain, ["One.", "Two."])
    assert primary.calls == 1  # the second turn went straight to the fallback
    assert [n.text for n in of(table.events, Narration)] == ["Fallback one.", "Fallback two."]


def test_unusable_arguments_get_one_retry_then_the_turn_narrates(tmp_path: Path) -> None:
    garbage = ScriptedReply(tool_calls=[("skill_check", '{"player": "aria", "check": ')])
    llm = ScriptedLLM([garbage, garbage, garbage, "Grukk squints at you."])
    table = play(tmp_path, llm, ["I threaten Grukk."])
    results = of(table.events, ToolResult)
    assert len(results) == 2 and not any(r.ok for r in results)
    assert llm.requests[2].tools == ()  # after the retry, no more tools this turn
    assert of(table.events, Narration)[-1].text.strip()
