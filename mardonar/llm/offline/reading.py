"""Reading a request back: which turn it is, the players' lines, this turn's tool results.

The turn starts at the LAST user message that is not the loop's correction: the turn's
context (the state of play, with the checks rolled so far), then the players' lines;
everything after it (assistant tool calls and the tool results answering them) is this
turn's work so far. The text conventions themselves are llm/turnformat.py's.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from mardonar.llm import turnformat
from mardonar.llm.base import Message, ToolCall
from mardonar.llm.turnformat import PlayerLine, parse_player_lines, rolled_checks


@dataclass(frozen=True, slots=True)
class TurnResult:
    """A tool message of this turn, joined with the call it answers."""

    name: str
    ok: bool
    result: dict[str, Any]
    error: str
    args: dict[str, Any]


@dataclass(frozen=True, slots=True)
class TurnView:
    """What the narrator needs from a request: the players' lines and this turn's work."""

    key: str
    """The players' lines of the turn's user message (its context left out): with the seed
    and round, the input of every choice."""
    lines: tuple[PlayerLine, ...]
    round: int
    results: tuple[TurnResult, ...]
    attempted_checks: tuple[tuple[str, str], ...]
    """(check id, player id) pairs called this turn, refused or not, in call order."""
    attempted_outcomes: frozenset[str]
    correction: str | None
    earlier: tuple[Message, ...]
    """History before the turn (system message excluded), oldest first."""
    rolled_before: tuple[str, ...]
    """Check ids the turn message's state section lists as rolled in earlier turns."""


def _loads(text: str) -> Any:
    try:
        return json.loads(text)
    except (json.JSONDecodeError, TypeError):
        return None


def is_correction(message: Message) -> bool:
    return message.role == "user" and turnformat.is_correction(message.content)


def read_turn(messages: Sequence[Message], player_id: Callable[[str], str]) -> TurnView:
    """Find this turn, its player lines, the tool results so far and any correction."""
    start = next(
        (
            i
            for i in range(len(messages) - 1, -1, -1)
            if messages[i].role == "user" and not is_correction(messages[i])
        ),
        None,
    )
    context, key = (
        turnformat.split_turn_message(messages[start].content) if start is not None else ("", "")
    )
    after = messages[start + 1 :] if start is not None else messages
    earlier = tuple(m for m in messages[: start or 0] if m.role != "system")
    calls: dict[str, ToolCall] = {}
    attempted_checks: list[tuple[str, str]] = []
    attempted_outcomes: set[str] = set()
    for message in after:
        for call in message.tool_calls:
            calls[call.id] = call
            args = call.parsed_arguments
            if not isinstance(args, dict):
                continue
            if call.name == "skill_check" and isinstance(args.get("check"), str):
                who = player_id(str(args.get("player") or ""))
                attempted_checks.append((args["check"], who))
            elif call.name == "resolve" and isinstance(args.get("outcome"), str):
                attempted_outcomes.add(args["outcome"])
    results: list[TurnResult] = []
    for message in after:
        if message.role != "tool":
            continue
        answered = calls.get(message.tool_call_id or "")
        name = message.name or (answered.name if answered else "")
        payload = _loads(message.content)
        if isinstance(payload, dict) and "ok" in payload:
            ok = payload.get("ok") is True
            body = payload.get("result")
            result = body if isinstance(body, dict) else {}
            error = str(payload.get("error") or "")
        else:
            ok, result, error = False, {}, message.content
        args = answered.parsed_arguments if answered else {}
        results.append(TurnResult(name, ok, result, error, args if isinstance(args, dict) else {}))
    last = messages[-1] if messages else None
    correction = last.content if last is not None and is_correction(last) else None
    return TurnView(
        key=key,
        lines=tuple(parse_player_lines(key)),
        round=sum(1 for m in after if m.role == "assistant"),
        results=tuple(results),
        attempted_checks=tuple(attempted_checks),
        attempted_outcomes=frozenset(attempted_outcomes),
        correction=correction,
        earlier=earlier,
        rolled_before=rolled_checks(context),
    )
