"""Sizes within a turn: what a player line, a tool call and a tool result may weigh.

The context builder keeps each turn's prompt within the budget, but a turn then grows: the
player's line, and every round of tool calls echoed back with their results. Unbounded, a
5 MB player line was sent and stored whole, and a refused 1 MB argument went back to the
model in every later round of the turn. Here each piece is bounded where it enters, so
everything downstream (the calls run, the events, the transcript, the next request) sees
the bounded form, and a replay of the transcript sees exactly what the live turn saw.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from mardonar.content.render import estimate_tokens
from mardonar.llm.base import Message, ToolCall

MAX_PLAYER_LINE_CHARS = 2000
"""Discord's own message limit (2,000 characters); a player's move is a few sentences, and
the terminal gets the same bound so every front end plays by one rule."""

MAX_ARGUMENT_CHARS = 2000
"""A tool call's arguments (JSON text). The longest legitimate call — `resolve` with its
1,000-character summary — is about 1,100 characters."""

MAX_STRING_ARGUMENT = 1000
"""A string argument longer than every tool's own limit (the summary's 1,000 is the
largest) is cut to just over it: the call is still refused, with the same reason."""

MAX_ARGUMENT_KEYS = 16
"""Tools take at most four arguments; more keys are refused anyway (unknown keys)."""

MAX_RESULT_CHARS = 4000
"""A tool result or refusal as the model is sent it (JSON text)."""

CUT = "…"


def bound_player_line(text: str) -> tuple[str, int]:
    """The line cut to `MAX_PLAYER_LINE_CHARS`, and its length before (0: not cut)."""
    if len(text) <= MAX_PLAYER_LINE_CHARS:
        return text, 0
    return text[:MAX_PLAYER_LINE_CHARS].rstrip() + CUT, len(text)


def bound_call(call: ToolCall) -> ToolCall:
    """The call with arguments of at most `MAX_ARGUMENT_CHARS`: parsed and written again
    with long strings cut and surplus keys dropped (a refused call stays refused, for the
    same reason); arguments that are not a JSON object are cut as text (they were refused
    as invalid JSON and still are)."""
    raw = call.arguments
    if len(raw) <= MAX_ARGUMENT_CHARS:
        return call
    value = call.parsed_arguments
    if isinstance(value, dict):
        kept = {
            str(key)[:MAX_STRING_ARGUMENT]: _cut_value(item)
            for key, item in list(value.items())[:MAX_ARGUMENT_KEYS]
        }
        text = json.dumps(kept, sort_keys=True, ensure_ascii=False)
        if len(text) <= MAX_ARGUMENT_CHARS:
            return replace(call, arguments=text)
    return replace(call, arguments=raw[:MAX_ARGUMENT_CHARS] + CUT)


def _cut_value(value: Any) -> Any:
    if isinstance(value, str) and len(value) > MAX_STRING_ARGUMENT:
        return value[:MAX_STRING_ARGUMENT] + CUT
    if isinstance(value, (dict, list)):
        text = json.dumps(value, ensure_ascii=False)
        if len(text) > MAX_STRING_ARGUMENT:
            # Nested data no tool takes: a string in its place keeps the call refused.
            return text[:MAX_STRING_ARGUMENT] + CUT
    return value


def bound_text(text: str | None) -> str | None:
    """A refusal, or a reply's text echoed back to the model, cut to half a result."""
    if text is None or len(text) <= MAX_RESULT_CHARS // 2:
        return text
    return text[: MAX_RESULT_CHARS // 2] + CUT


def result_message(payload: dict[str, Any]) -> str:
    """A tool result as the model reads it: the JSON, or, when that is longer than
    `MAX_RESULT_CHARS`, its start under a `truncated` key (still JSON, still saying ok)."""
    text = json.dumps(payload, sort_keys=True)
    if len(text) <= MAX_RESULT_CHARS:
        return text
    cut = {"ok": payload.get("ok"), "truncated": text[:MAX_RESULT_CHARS] + CUT}
    return json.dumps(cut, sort_keys=True)


def message_tokens(message: Message) -> int:
    return estimate_tokens(message.content) + sum(
        estimate_tokens(call.arguments) + estimate_tokens(call.name) for call in message.tool_calls
    )


STUB_RESULT = json.dumps({"ok": True, "truncated": "cut to fit the context budget"})


def fit_turn(messages: list[Message], start: int, budget: int) -> None:
    """Keep the request within `budget` tokens as a turn's tool rounds pile up: the
    results and arguments of this turn's older rounds (from `messages[start]`) are cut,
    oldest first, until it fits; the latest round is always sent whole."""
    total = sum(message_tokens(message) for message in messages)
    if total <= budget:
        return
    last_assistant = max(
        (i for i in range(start, len(messages)) if messages[i].role == "assistant"),
        default=len(messages),
    )
    for index in range(start, last_assistant):
        message = messages[index]
        before = message_tokens(message)
        if message.role == "tool":
            messages[index] = replace(message, content=STUB_RESULT)
        elif message.tool_calls:
            calls = tuple(replace(call, arguments="{}") for call in message.tool_calls)
            messages[index] = replace(message, content="", tool_calls=calls)
        total -= before - message_tokens(messages[index])
        if total <= budget:
            return
