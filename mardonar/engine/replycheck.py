"""Checks on every GM reply before players see it.

Banned patterns and length come from the persona; tool syntax leaked into the text is
recovered as a real call when it parses as one (small local models do this a lot) and
stripped otherwise; the missed-skill-check heuristic catches a model that narrates the
result of an action a spec check covers without rolling for it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mardonar.engine.context import mentions
from mardonar.llm.base import ToolCall

if TYPE_CHECKING:
    from mardonar.content.bundle import Bundle
    from mardonar.engine.session import Session

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
        try:
            args = json.loads(args)
        except json.JSONDecodeError:
            return None
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


def word_count(text: str) -> int:
    return len(text.split())


def banned_match(bundle: Bundle, text: str) -> str | None:
    for pattern in bundle.persona.filters.banned:
        if re.search(pattern, text):
            return pattern
    return None


def missed_checks(
    bundle: Bundle, session: Session, lines: list[tuple[str, str]]
) -> list[tuple[str, str]]:
    """(player, check id) pairs the players' words call for that nobody rolled."""
    missed: list[tuple[str, str]] = []
    for player, text in lines:
        for check in bundle.spec.checks:
            if not any(mentions(text, keyword) for keyword in check.keywords):
                continue
            if not check.repeatable and session.rolled(check.id, player):
                continue
            missed.append((player, check.id))
            break
    return missed


def problems_with(
    bundle: Bundle,
    session: Session,
    text: str,
    lines: list[tuple[str, str]],
    *,
    checks_called: bool,
) -> list[str]:
    """Why a final reply must be corrected (empty: it is fine)."""
    problems: list[str] = []
    pattern = banned_match(bundle, text)
    if pattern:
        problems.append(f"the reply matches the banned pattern `{pattern}`; say it in character")
    limit = bundle.persona.filters.max_words
    words = word_count(text)
    if words > limit:
        problems.append(f"the reply is {words} words; keep it under {limit}")
    if not checks_called and session.status.value == "active":
        for player, check_id in missed_checks(bundle, session, lines):
            check = bundle.spec.check(check_id)
            trigger = check.trigger if check else ""
            problems.append(
                f"the player's action matches check '{check_id}' ({trigger}): call skill_check "
                f'with {{"player": "{player}", "check": "{check_id}"}} before narrating the result'
            )
    return problems


def enforce_limits(bundle: Bundle, text: str) -> str:
    """Last resort after the correction round: drop banned sentences, cut to length."""
    sentences = re.split(r"(?<=[.!?…])\s+", text)
    kept = [s for s in sentences if banned_match(bundle, s) is None]
    limit = bundle.persona.filters.max_words
    out: list[str] = []
    count = 0
    for sentence in kept:
        words = word_count(sentence)
        if count + words > limit:
            break
        out.append(sentence)
        count += words
    if not out and kept:
        out = [" ".join(kept[0].split()[:limit])]
    return " ".join(out).strip()
