"""Transcripts: one JSON object a line (CONTRACT.md §8).

The writer is an event subscriber like any channel. Each line is appended and flushed as it
happens, so a killed process leaves a valid prefix; streaming deltas are not recorded (the
final narration is).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

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

if TYPE_CHECKING:
    from mardonar.llm.base import Message

FORMAT = 1

ASKED_TEXT = 200
"""Characters of the last message kept in an `llm` record's `asked` digest."""
ASKED_RESULT = 160
"""Characters of each tool result kept in it."""


def _cut(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 3] + "..."


def asked_digest(messages: Sequence[Message]) -> dict[str, Any]:
    """What the model was asked, in a few hundred bytes: the role and start of the last
    message that is not a tool result (the player's words, a correction, the model's own
    tool calls) and the tool results fed back after it. The whole prompt is not recorded:
    it repeats the spec and the persona every time, and tells a reader less than this."""
    end = len(messages)
    while end and messages[end - 1].role == "tool":
        end -= 1
    digest: dict[str, Any] = {}
    if end:
        last = messages[end - 1]
        digest["role"] = last.role
        if last.content:
            digest["text"] = _cut(last.content, ASKED_TEXT)
        if last.tool_calls:
            digest["calls"] = [call.name for call in last.tool_calls]
    results = [f"{m.name}: {_cut(m.content, ASKED_RESULT)}" for m in messages[end:]]
    if results:
        digest["tool_results"] = results
    return digest


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
        return {"type": "error", "turn": turn, "message": event.message}
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


def read_transcript(path: Path) -> Iterator[dict[str, Any]]:
    """The records of a transcript; a torn last line (a killed writer) is ignored."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as error:
        raise UsageError(
            f"{path}: cannot read transcript ({error.strerror})", exit_code=2
        ) from None
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            if number == len(lines):
                return
            raise UsageError(
                f"{path}:{number}: not a JSON line; a transcript is JSONL", exit_code=2
            ) from None
        if number == 1 and record.get("type") != "header":
            raise UsageError(f"{path}:1: a transcript starts with a header line", exit_code=2)
        yield record
