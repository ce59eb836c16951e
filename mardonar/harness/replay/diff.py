"""The recording against the replay: compared records by turn, what differs in a turn (one
line per field, a check's DC, total and verdict on one line) and at the end (outcome,
status, XP, items)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from mardonar.wording import clip

__all__ = ["COMPARED", "by_turn", "end_diff", "end_state", "turn_diff"]

COMPARED = ("tool", "narration", "correction", "resolve", "end")
"""The record types compared between the recording and the replay."""


def by_turn(records: Sequence[dict[str, Any]]) -> dict[int, list[dict[str, Any]]]:
    turns: dict[int, list[dict[str, Any]]] = {}
    for record in records:
        if record.get("type") in COMPARED:
            turns.setdefault(int(record.get("turn", 0)), []).append(record)
    return turns


def _short(value: Any, width: int = 60) -> str:
    """Strings quoted, other values as JSON, cut to `width`."""
    if isinstance(value, str):
        return repr(clip(value.replace("\n", " "), width, ellipsis="..."))
    return clip(json.dumps(value, ensure_ascii=False), width, ellipsis="...")


def _check_diff(old: dict[str, Any], new: dict[str, Any]) -> str | None:
    """`check intimidate-grukk: dc 13 → 15, total 14: success → failure`."""
    args = old.get("args") or {}
    label = args.get("check") or args.get("skill") or "(improvised)"
    if old.get("ok") and not new.get("ok"):
        was = "success" if (old.get("result") or {}).get("success") else "failure"
        return f"check {label}: {was} → refused: {new.get('error')}"
    if not old.get("ok") and new.get("ok"):
        return f"check {label}: refused ({old.get('error')}) → rolled"
    a, b = old.get("result"), new.get("result")
    if not (isinstance(a, dict) and isinstance(b, dict)):
        return None
    parts: list[str] = []
    for key in ("dc", "total"):
        if key in a or key in b:
            if a.get(key) == b.get(key):
                parts.append(f"{key} {a.get(key)}")
            else:
                parts.append(f"{key} {a.get(key)} → {b.get(key)}")
    line = f"check {label}: " + ", ".join(parts)

    def verdict(result: dict[str, Any]) -> str:
        return "success" if result.get("success") else "failure"

    if a.get("success") != b.get("success"):
        line += f": {verdict(a)} → {verdict(b)}"
    others = sorted(k for k in set(a) | set(b) if k not in ("dc", "total", "success"))
    extra = [f"{k} {_short(a.get(k))} → {_short(b.get(k))}" for k in others if a.get(k) != b.get(k)]
    if extra:
        line += "; " + ", ".join(extra)
    return line


def _dict_diff(prefix: str, a: Any, b: Any) -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        lines: list[str] = []
        for key in sorted(set(a) | set(b), key=str):
            if a.get(key) != b.get(key):
                lines += _dict_diff(
                    f"{prefix}.{key}" if prefix else str(key), a.get(key), b.get(key)
                )
        return lines
    return [f"{prefix}: {_short(a)} → {_short(b)}"]


def _record_diff(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    kind = old.get("type")
    if kind != new.get("type"):
        return [f"{kind} {_describe(old)} → {new.get('type')} {_describe(new)}"]
    if kind == "tool":
        if old.get("name") == new.get("name") == "skill_check":
            line = _check_diff(old, new)
            if line:
                return [line]
        name = old.get("name")
        if old.get("name") != new.get("name") or old.get("args") != new.get("args"):
            return [f"tool {_describe(old)} → {_describe(new)}"]
        strip = {k: v for k, v in old.items() if k not in ("type", "turn", "name", "args")}
        fresh = {k: v for k, v in new.items() if k not in ("type", "turn", "name", "args")}
        return _dict_diff(f"tool {name}", strip, fresh)
    if kind == "narration":
        return [f"narration: {_short(old.get('text'))} → {_short(new.get('text'))}"]
    if kind == "resolve":
        strip = {k: v for k, v in old.items() if k not in ("type", "turn")}
        fresh = {k: v for k, v in new.items() if k not in ("type", "turn")}
        return _dict_diff("resolve", strip, fresh)
    return _dict_diff(str(kind), old, new)


def _describe(record: dict[str, Any]) -> str:
    kind = record.get("type")
    if kind == "tool":
        args = json.dumps(record.get("args"), ensure_ascii=False, sort_keys=True)
        state = "ok" if record.get("ok") else f"refused: {record.get('error')}"
        return f"{record.get('name')}({args}) {state}"
    if kind == "narration":
        return _short(record.get("text"))
    if kind == "correction":
        return _short(record.get("reason"))
    if kind == "resolve":
        return f"outcome {record.get('outcome')}"
    if kind == "end":
        return f"reason {record.get('reason')}"
    return _short(record)


def turn_diff(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> list[str]:
    lines: list[str] = []
    for a, b in zip(old, new, strict=False):
        if a != b:
            lines += _record_diff(a, b)
    for a in old[len(new) :]:
        lines.append(f"missing {a.get('type')}: {_describe(a)} (recorded, not produced)")
    for b in new[len(old) :]:
        lines.append(f"extra {b.get('type')}: {_describe(b)} (produced, not recorded)")
    return lines


def end_state(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    state: dict[str, Any] = {"outcome": None, "status": "active", "xp": {}, "items": {}}
    for record in records:
        if record.get("type") == "resolve":
            state["outcome"] = record.get("outcome")
            state["xp"] = dict(record.get("xp") or {})
            granted = record.get("items") or {}
            state["items"] = {str(p): sorted(map(str, v)) for p, v in granted.items() if v}
        elif record.get("type") == "end":
            state["status"] = record.get("reason")
    return state


def end_diff(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    for key in ("outcome", "status"):
        if old[key] != new[key]:
            lines.append(f"{key}: {old[key] or '(none)'} → {new[key] or '(none)'}")
    for player in sorted(set(old["xp"]) | set(new["xp"])):
        a, b = old["xp"].get(player, 0), new["xp"].get(player, 0)
        if a != b:
            lines.append(f"xp {player}: {a} → {b}")
    for player in sorted(set(old["items"]) | set(new["items"])):
        a, b = old["items"].get(player, []), new["items"].get(player, [])
        if a != b:
            lines.append(f"items {player}: [{', '.join(a)}] → [{', '.join(b)}]")
    return lines
