"""Tool calls a model wrote as text instead of calling them (small local models do this a lot).

`recover_tool_calls` finds them (JSON objects, `name(arg=...)` calls, stray tool tags) and
returns the text without them plus the calls that parse; the OpenAI-compatible backend uses
it in json tool mode and its doctor probe, the engine's reply checker on every reply.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from mardonar.llm.base import ToolCall, parse_arguments

TOOL_NAMES = (
    "skill_check",
    "roll",
    "recall",
    "remember",
    "lore_search",
    "award_xp",
    "grant_item",
    "resolve",
)
_TAGS = re.compile(r"</?(tool_call|function_call|tool|function)[^>]*>", re.IGNORECASE)
_FUNC_STYLE = re.compile(
    r"\b(?P<name>" + "|".join(TOOL_NAMES) + r")\s*\((?P<args>[^()]*)\)", re.IGNORECASE
)
_KWARG = re.compile(r"(\w+)\s*[=:]\s*(\"[^\"]*\"|'[^']*'|-?\d+)")


@dataclass(frozen=True)
class Recovered:
    text: str
    calls: tuple[ToolCall, ...]
    leaked: bool


def _json_objects(text: str) -> list[tuple[int, int]]:
    """Spans of balanced {...} blocks (outermost only)."""
    spans: list[tuple[int, int]] = []
    first = text.find("{")
    if first < 0:  # nearly every reply: no need to walk it character by character
        return spans
    depth, start, in_string, escaped = 0, -1, False, False
    for index, char in enumerate(text[first:], first):
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
            continue
        if char == '"' and depth:
            in_string = True
        elif char == "{":
            if depth == 0:
                start = index
            depth += 1
        elif char == "}" and depth:
            depth -= 1
            if depth == 0:
                spans.append((start, index + 1))
    return spans


def _as_call(value: object, number: int) -> ToolCall | None:
    if not isinstance(value, dict):
        return None
    if isinstance(value.get("function"), dict):  # OpenAI-shaped {"function": {...}}
        value = value["function"]
        assert isinstance(value, dict)
    name = value.get("name") or value.get("tool")
    args = value.get("arguments", value.get("args", value.get("parameters", {})))
    if not isinstance(name, str) or name.lower() not in TOOL_NAMES:
        return None
    if isinstance(args, str):
        # A leaked call whose arguments are a blank string is not recovered (it never
        # was), unlike a real tool call, whose blank arguments mean `{}`.
        args = parse_arguments(args) if args.strip() else None
    if not isinstance(args, dict):
        return None
    return ToolCall(f"recovered_{number}", name.lower(), json.dumps(args, sort_keys=True))


def recover_tool_calls(text: str) -> Recovered:
    """Find tool calls written as text; return the text without them and the calls."""
    calls: list[ToolCall] = []
    leaked = False
    cleaned = text
    for start, end in reversed(_json_objects(text)):
        block = text[start:end]
        try:
            value = json.loads(block)
        except json.JSONDecodeError:
            if any(name in block for name in TOOL_NAMES):
                leaked = True
                cleaned = cleaned[:start] + cleaned[end:]
            continue
        call = _as_call(value, len(calls))
        if call is not None or (isinstance(value, dict) and ("name" in value or "tool" in value)):
            leaked = True
            cleaned = cleaned[:start] + cleaned[end:]
            if call is not None:
                calls.insert(0, call)
    for match in list(_FUNC_STYLE.finditer(cleaned))[::-1]:
        args: dict[str, object] = {}
        for key, raw in _KWARG.findall(match.group("args")):
            args[key] = int(raw) if raw.lstrip("-").isdigit() else raw[1:-1]
        leaked = True
        if args:
            calls.append(
                ToolCall(
                    f"recovered_{len(calls)}",
                    match.group("name").lower(),
                    json.dumps(args, sort_keys=True),
                )
            )
        cleaned = cleaned[: match.start()] + cleaned[match.end() :]
    if _TAGS.search(cleaned):
        leaked = True
        cleaned = _TAGS.sub("", cleaned)
    cleaned = re.sub(r"```(?:json)?\s*```", "", cleaned)
    cleaned = re.sub(r"[ \t]+\n", "\n", cleaned)
    cleaned = re.sub(r"\n{3,}", "\n\n", cleaned).strip()
    return Recovered(cleaned, tuple(calls), leaked)
