"""Transcripts: one JSON object a line (CONTRACT.md §8).

The writer is an event subscriber like any channel. Each line is appended and flushed as it
happens, so a killed process leaves a valid prefix; streaming deltas are not recorded (the
final narration is).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

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

__all__ = ["FORMAT", "TranscriptWriter", "asked_digest", "event_record", "read_transcript"]

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
