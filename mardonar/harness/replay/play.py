"""Recorded actions (player turns, `/roll`s, `/end`) played on a headless engine."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mardonar.content.bundle import Bundle
    from mardonar.engine.events import Event
    from mardonar.engine.limits import TurnLimits
    from mardonar.harness.replay.reading import ReplayRun
    from mardonar.llm.base import LLM

__all__ = ["play_actions"]


def _roll_expression(detail: str) -> str:
    """The expression behind a recorded `/roll` detail (`d20 [15] + 2 = 17` → `d20 + 2`)."""
    shown = detail.rsplit(" = ", 1)[0]
    return re.sub(r" \[[^\]]*\]", "", shown).strip()


async def play_actions(
    run: ReplayRun,
    bundle: Bundle,
    *,
    seed: int,
    actions: Sequence[tuple[str, int, Any]],
    llm: LLM,
    listen: Callable[[Event], None],
    notes: list[str],
    before_turn: Callable[[int], None] | None = None,
    limits: TurnLimits | None = None,
) -> None:
    """Play recorded actions (player turns, `/roll`s, `/end`) on a fresh engine in the
    run's folder, with `llm` as the model; every event goes to `listen`."""
    async with run.scratch.engine(bundle, llm=llm, subscribers=[listen]) as (engine, data):
        if limits is not None:  # otherwise the engine's defaults, as when recorded
            engine.limits = limits
        session = await engine.start(seed=seed, transcript=data / "replayed.jsonl")
        engine.opening(session)
        for kind, turn, payload in actions:
            if session.status.value != "active":
                break
            if kind == "turn":
                if before_turn is not None:
                    before_turn(session.turn + 1)
                async for _ in engine.run_turn(session, payload):
                    pass
            elif kind == "roll":
                character = bundle.party.find(str(payload.get("who")))
                expression = _roll_expression(str(payload.get("detail", "")))
                if character is None or not expression:
                    notes.append(f"turn {turn}: a /roll could not be replayed")
                    continue
                try:
                    await engine.player_roll(session, character.player, expression)
                except Exception:  # reported as a note, not fatal
                    notes.append(f"turn {turn}: /roll {expression} could not be replayed")
            else:
                await engine.end(session, payload)
