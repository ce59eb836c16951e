"""Transcripts: one JSON object a line (CONTRACT.md §8).

The writer is an event subscriber like any channel. Each line is appended and flushed as it
happens, so a killed process leaves a valid prefix; streaming deltas are not recorded (the
final narration is).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from mardonar.content.models import SLUG_PATTERN
from mardonar.engine.events import (
    Correction,
    Ended,
    EngineError,
    Event,
    ModelReplied,
    Narration,
    Notice,
    PlayerSaid,
    Resolved,
    Rolled,
    ToolResult,
)
from mardonar.errors import UsageError
from mardonar.llm.base import asked_digest

__all__ = [
    "FORMAT",
    "MAX_DEPTH",
    "MAX_LINE_BYTES",
    "TranscriptWriter",
    "asked_digest",
    "event_record",
    "parse_record",
    "read_transcript",
]

FORMAT = 1


def event_record(event: Event) -> dict[str, Any] | None:
    """The transcript line for an event, or None for events not recorded (deltas…)."""
    turn = event.turn
    if isinstance(event, PlayerSaid):
        return {"type": "player", "turn": turn, "player": event.player, "text": event.text}
    if isinstance(event, ModelReplied):
        record: dict[str, Any] = {
            "type": "llm",
            "turn": turn,
            "model": event.model,
            "content": event.content,
            "tool_calls": list(event.tool_calls),
            "latency_ms": event.latency_ms,
        }
        if event.asked is not None:
            record["asked"] = event.asked
        if event.prompt_tokens is not None:
            record["usage"] = {
                "prompt_tokens": event.prompt_tokens,
                "completion_tokens": event.completion_tokens,
            }
            if event.usage_estimated:  # only then, so transcripts with real usage keep their shape
                record["usage"]["estimated"] = True
        return record
    if isinstance(event, ToolResult):
        record = {"type": "tool", "turn": turn, "name": event.name, "args": event.args}
        record["ok"] = event.ok
        if event.ok:
            record["result"] = event.result
        else:
            record["error"] = event.error
        return record
    if isinstance(event, Narration):
        record = {"type": "narration", "turn": turn, "text": event.text}
        if event.fallback:
            record["fallback"] = True
        return record
    if isinstance(event, Correction):
        return {"type": "correction", "turn": turn, "reason": event.reason}
    if isinstance(event, Resolved):
        return {
            "type": "resolve",
            "turn": turn,
            "outcome": event.outcome,
            "result": event.result,
            "xp": event.xp,
            "skipped": event.skipped,
            "items": event.items,
            # Only with a relay, so transcripts without one keep their shape.
            **({"vtt": list(event.vtt)} if event.vtt else {}),
        }
    if isinstance(event, Ended):
        return {"type": "end", "turn": turn, "reason": event.reason}
    if isinstance(event, Rolled) and event.reason == "/roll":
        return {"type": "roll", "turn": turn, "who": event.who, "detail": event.detail}
    if isinstance(event, EngineError):
        record = {"type": "error", "turn": turn, "message": event.message}
        if event.source == "store":
            record["refused"] = True  # nothing of this attempt was applied
        return record
    if isinstance(event, Notice) and event.data.get("record"):
        return {"type": "notice", "turn": turn, "text": event.text}
    return None


class TranscriptWriter:
    """Appends events to a JSONL file, one flushed line each."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        _drop_torn_tail(path)
        self._file: IO[str] = open(path, "a", encoding="utf-8")  # noqa: SIM115 - kept open

    def write_record(self, record: dict[str, Any]) -> None:
        self._file.write(json.dumps(record, ensure_ascii=False, sort_keys=False) + "\n")
        self._file.flush()

    def header(self, **fields: Any) -> None:
        self.write_record({"type": "header", "format": FORMAT, **fields})

    def __call__(self, event: Event) -> None:
        record = event_record(event)
        if record is not None:
            self.write_record(record)

    def close(self) -> None:
        self._file.close()


def _drop_torn_tail(path: Path) -> None:
    """Mend a transcript whose writer was killed mid-line, before appending to it: the next
    record would otherwise share the torn line and the file would no longer be JSONL. A
    tail that is a whole record only lacks its newline; anything else is cut off (every
    complete line is kept)."""
    try:
        with open(path, "rb+") as file:
            data = file.read()
            if not data or data.endswith(b"\n"):
                return
            keep = data.rfind(b"\n") + 1
            try:
                whole = isinstance(json.loads(data[keep:]), dict)
            except ValueError:
                whole = False
            if whole:
                file.write(b"\n")
            else:
                file.truncate(keep)
    except FileNotFoundError:
        return


MAX_LINE_BYTES = 8 * 1024 * 1024
"""The longest transcript line read (8 MiB), checked before it is parsed: a line is one
event, and the largest is a model's reply or a tool result, which the model's context window
bounds (1M tokens, the largest offered today, are ~4 MiB of text), doubled for JSON escapes.
A longer line is refused having read no more than this, whatever the file holds."""

MAX_DEPTH = 32
"""The deepest nesting of objects and lists in a line. The engine writes at most ~5 levels
(a tool result inside an `asked` digest); Python's own recursion (about 1,000 frames) would
give out, comparing or printing a record, well before a parser's limit would."""


class _Record(BaseModel):
    """What every event line has. Fields the engine writes are typed (strictly: `"3"` is
    not a turn); fields it does not know are kept, so a newer writer's additions pass."""

    model_config = ConfigDict(extra="allow", strict=True)

    type: str
    turn: int = 0


class _Header(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)

    type: Literal["header"]
    format: int = FORMAT
    spec: Annotated[str, StringConstraints(pattern=SLUG_PATTERN, max_length=64)]
    seed: int | None = None  # replay refuses a header without one
    spec_sha256: str | None = None
    persona_sha256: str | None = None
    model: str | None = None


class _Player(_Record):
    player: str
    text: str


class _ToolCall(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)

    id: str
    name: str
    arguments: str


class _Usage(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)

    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    estimated: bool = False
    """The counts are Mardonar's estimate (the server reported no usage); absent before."""


class _Llm(_Record):
    model: str | None = None
    content: str | None = None
    tool_calls: list[_ToolCall] = Field(default_factory=list)
    latency_ms: float | None = None
    asked: dict[str, Any] | None = None
    usage: _Usage | None = None


class _Tool(_Record):
    name: str
    args: dict[str, Any]
    ok: bool
    result: dict[str, Any] | None = None
    error: str | None = None


class _Narration(_Record):
    text: str
    fallback: bool = False


class _Correction(_Record):
    reason: str


class _Resolve(_Record):
    outcome: str
    result: str | None = None
    xp: dict[str, int] = Field(default_factory=dict)
    skipped: dict[str, str] = Field(default_factory=dict)
    items: dict[str, list[str]] = Field(default_factory=dict)
    vtt: list[dict[str, Any]] = Field(default_factory=list)


class _End(_Record):
    reason: str


class _Roll(_Record):
    who: str
    detail: str


class _Error(_Record):
    message: str
    refused: bool = False


class _Notice(_Record):
    text: str


_EVENTS: dict[str, type[BaseModel]] = {
    "header": _Header,
    "player": _Player,
    "llm": _Llm,
    "tool": _Tool,
    "narration": _Narration,
    "correction": _Correction,
    "resolve": _Resolve,
    "end": _End,
    "roll": _Roll,
    "error": _Error,
    "notice": _Notice,
}
"""The schema of each line type (CONTRACT.md §8); other types need only `type` and `turn`."""


def _depth(value: Any) -> int:
    """How deeply `value` nests lists and objects (iteratively: no recursion to exhaust)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            item = list(item.values())
        if isinstance(item, list):
            deepest = max(deepest, level)
            if level > MAX_DEPTH:
                break
            stack.extend((child, level + 1) for child in item)
    return deepest


def _schema_problem(error: ValidationError, kind: str) -> str:
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"])
    if kind == "header" and where == "spec" and isinstance(first["input"], str):
        return (
            f"the header's spec {_shown(first['input'])} is not a spec id (lowercase letters, "
            "digits and hyphens)"
        )
    got = f" (got {_shown(first['input'])})" if first["type"] != "missing" else ""
    return f"the {kind!r} record: {where or 'the line'}: {first['msg'].lower()}{got}"


def _json_kind(value: Any) -> str:
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    return "number"


def _shown(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 40 else text[:37] + "..."


def parse_record(text: str) -> dict[str, Any]:
    """One transcript line as a record checked against its type's schema; ValueError with
    what is wrong (no file or line: the caller adds them)."""
    try:
        record = json.loads(text)
    except RecursionError:
        raise ValueError(f"nested more than {MAX_DEPTH} levels deep") from None
    except ValueError as error:
        raise ValueError(f"not a JSON line ({error}); a transcript is JSONL") from None
    if not isinstance(record, dict):
        raise ValueError(f"a JSON {_json_kind(record)}, not an object; a transcript is JSONL")
    if _depth(record) > MAX_DEPTH:
        raise ValueError(f"nested more than {MAX_DEPTH} levels deep")
    kind = record.get("type")
    model = _EVENTS.get(kind, _Record) if isinstance(kind, str) else _Record
    try:
        checked = model.model_validate(record)
    except ValidationError as error:
        raise ValueError(_schema_problem(error, str(kind))) from None
    if isinstance(checked, _Header) and checked.format > FORMAT:
        raise ValueError(
            f"format {checked.format} is newer than this Mardonar reads ({FORMAT}); upgrade it"
        )
    return record


def read_transcript(path: Path) -> Iterator[dict[str, Any]]:
    """The records of a transcript, each checked against its schema; a torn last line (a
    killed writer: no newline at its end) is ignored. Every problem is a UsageError (exit 2)
    `FILE:LINE: what is wrong`; no line longer than `MAX_LINE_BYTES` is read whole."""
    shown = _display(path)
    try:
        file = open(path, "rb")  # noqa: SIM115 - closed below, also when the caller stops early
    except OSError as error:
        raise UsageError(
            f"{shown}: cannot read transcript ({error.strerror})", exit_code=2
        ) from None
    with file:
        number = 0
        seen_header = False
        while True:
            number += 1
            try:
                raw = file.readline(MAX_LINE_BYTES + 1)
            except OSError as error:
                raise UsageError(
                    f"{shown}:{number}: cannot read transcript ({error.strerror})", exit_code=2
                ) from None
            if not raw:
                return
            whole = raw.endswith(b"\n")
            body = raw[:-1] if whole else raw
            if len(body) > MAX_LINE_BYTES:
                raise UsageError(
                    f"{shown}:{number}: a line longer than {MAX_LINE_BYTES // 2**20} MiB, the "
                    "most a transcript line may hold; this is not a transcript Mardonar wrote",
                    exit_code=2,
                )
            if not body.strip():
                continue
            try:
                record = parse_record(body.decode("utf-8"))
            except UnicodeDecodeError as error:
                if not whole:
                    return  # a writer killed mid-character
                raise UsageError(
                    f"{shown}:{number}: not UTF-8 text (byte {body[error.start]:#04x} at column "
                    f"{error.start + 1}); a transcript is UTF-8 JSONL",
                    exit_code=2,
                ) from None
            except ValueError as error:
                if not whole:
                    return  # the torn tail of a killed writer (a short line ends only at EOF)
                raise UsageError(f"{shown}:{number}: {error}", exit_code=2) from None
            if not seen_header and record.get("type") != "header":
                raise UsageError(
                    f"{shown}:{number}: a transcript starts with a header line", exit_code=2
                )
            seen_header = True
            yield record


def _display(path: Path) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:  # another drive on Windows
        return str(path)
