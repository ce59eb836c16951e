"""Turning pydantic validation errors into findings at the right YAML node."""

from __future__ import annotations

import difflib
import re
import types
import typing
from typing import Any

from pydantic import BaseModel, ValidationError

from mardonar.content.lint.findings import Finding, finding
from mardonar.content.models import SLUG_PATTERN
from mardonar.content.yamlpos import Located, Path

_EXPECTED = {
    "string_type": "text",
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "list_type": "a list",
    "tuple_type": "a list",
    "dict_type": "a mapping of keys to values",
    "model_type": "a mapping of keys to values",
    "model_attributes_type": "a mapping of keys to values",
}


def describe(path: Path, root: str) -> str:
    """`checks[2].dc` for ("checks", 2, "dc")."""
    text = root
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text.removeprefix(f"{root}.") if path and isinstance(path[0], str) else text


def _kind_of(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"{str(value).lower()}"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"'{shown}'"
    return repr(value)


def _unwrap(annotation: Any) -> list[Any]:
    """The candidate inner types of an annotation (through Optional, list, dict, Annotated)."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return [
            inner for arg in typing.get_args(annotation) if arg is not type(None) for inner in [arg]
        ]
    return [annotation]


def _model_at(model: type[BaseModel], path: Path) -> type[BaseModel] | None:
    """The model class that validates the mapping at `path`, if any."""
    current: Any = model
    for part in path:
        candidates = _unwrap(current)
        nxt: Any = None
        for candidate in candidates:
            origin = typing.get_origin(candidate)
            if isinstance(part, int) and origin in (list, tuple):
                nxt = typing.get_args(candidate)[0]
            elif isinstance(part, str) and origin is dict:
                nxt = typing.get_args(candidate)[1]
            elif (
                isinstance(part, str)
                and isinstance(candidate, type)
                and issubclass(candidate, BaseModel)
            ):
                for name, info in candidate.model_fields.items():
                    if part in (name, info.alias):
                        nxt = info.annotation
                        break
            if nxt is not None:
                break
        if nxt is None:
            return None
        current = nxt
    for candidate in _unwrap(current):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def allowed_keys(model: type[BaseModel], path: Path) -> list[str]:
    found = _model_at(model, path)
    if found is None:
        return []
    return [info.alias or name for name, info in found.model_fields.items()]


def suggest(word: str, choices: list[str]) -> str | None:
    matches = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return matches[0] if matches else None


def validation_findings(
    error: ValidationError,
    located: Located,
    model: type[BaseModel],
    file: str,
    root_name: str,
) -> list[Finding]:
    """One finding per pydantic error, placed at the node the error is about."""
    findings: list[Finding] = []
    for item in error.errors(include_url=False):
        loc: Path = tuple(part for part in item["loc"] if part != "[key]")
        kind = item["type"]
        value = item.get("input")
        where = describe(loc, root_name)
        if kind == "missing":
            parent = loc[:-1]
            mark = located.value_mark(parent)
            owner = describe(parent, root_name) if parent else root_name
            findings.append(
                finding(
                    file,
                    mark.line,
                    mark.col,
                    "M201",
                    f"{owner}: missing required field '{loc[-1]}'",
                )
            )
        elif kind == "extra_forbidden":
            mark = located.key_mark(loc)
            key = str(loc[-1])
            choices = allowed_keys(model, loc[:-1])
            owner = describe(loc[:-1], root_name) if loc[:-1] else root_name
            close = suggest(key, choices)
            hint = (
                f"; did you mean '{close}'?"
                if close
                else (f"; allowed keys: {', '.join(choices)}" if choices else "")
            )
            findings.append(
                finding(file, mark.line, mark.col, "M204", f"unknown key '{key}' in {owner}{hint}")
            )
        elif kind in _EXPECTED:
            mark = located.value_mark(loc)
            findings.append(
                finding(
                    file,
                    mark.line,
                    mark.col,
                    "M202",
                    f"{where}: expected {_EXPECTED[kind]}, got {_kind_of(value)}",
                )
            )
        else:
            mark = located.value_mark(loc)
            code = "M307" if kind == "invalid_regex" else "M203"
            findings.append(
                finding(file, mark.line, mark.col, code, f"{where}: {_value_message(item)}")
            )
    return findings


def _or(words: list[str]) -> str:
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} or {words[-1]}"


def _value_message(item: Any) -> str:
    kind = item["type"]
    ctx = item.get("ctx") or {}
    value = item.get("input")
    got = f", got {_kind_of(value)}"
    if kind == "string_pattern_mismatch":
        pattern = str(ctx.get("pattern", ""))
        choices = re.fullmatch(r"\^\(([\w|-]+)\)\$", pattern)
        if choices:  # e.g. ^(active|resolved|ended)$
            return f"must be one of {_or(choices.group(1).split('|'))}{got}"
        if pattern != SLUG_PATTERN:
            return f"must match the pattern {pattern}{got}"
        return (
            "must be a slug: lowercase letters, digits and single hyphens (e.g. 'grukk' or "
            f"'intimidate-grukk'){got}"
        )
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        bounds = {
            "greater_than_equal": f"at least {ctx.get('ge')}",
            "greater_than": f"more than {ctx.get('gt')}",
            "less_than_equal": f"at most {ctx.get('le')}",
            "less_than": f"less than {ctx.get('lt')}",
        }[kind]
        return f"must be {bounds}{got}"
    if kind == "enum":
        return f"must be one of {str(ctx.get('expected', '')).replace(chr(39), '')}{got}"
    if kind == "too_short":
        if ctx.get("min_length") == 1 and isinstance(value, str):
            return "must not be empty"
        least = ctx.get("min_length")
        return f"needs at least {least} entr{'y' if least == 1 else 'ies'}"
    if kind == "too_long":
        return f"is too long (at most {ctx.get('max_length')}){got}"
    if kind == "string_too_short":
        return "must not be empty"
    if kind == "string_too_long":
        return f"is too long (at most {ctx.get('max_length')} characters)"
    message = str(item.get("msg", "invalid value"))
    return message.removeprefix("Value error, ")
