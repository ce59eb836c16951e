"""The replay cassette: an `LLM` that answers with the `llm` events of a transcript.

Strict replay (`mardonar replay`, mardonar/harness/replay/) feeds the recorded player lines
to a fresh engine; every time the engine asks the model, the cassette plays the next recorded
answer of the current turn — its text as one `TextDelta`, its tool calls with the recorded
ids, names and raw arguments, then `Finish`. When the engine asks more often in a turn than
the transcript answered (the conversation went elsewhere), the cassette raises
`CassetteExhausted`, an `LLMError`, so the engine falls back as it would with a failed
backend, and the miss is kept in `misses` for the replayer to report at that turn, with
what was asked and the nearest recorded request: the recorded ask (the `asked` digest of
newer transcripts) most like this one (the same turn wins a tie). Older transcripts without
`asked` show the last recorded answer of the turn instead.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import Any

from mardonar.llm.base import Chunk, Finish, LLMError, LLMRequest, TextDelta, ToolCall, asked_digest
from mardonar.wording import clip


class CassetteExhausted(LLMError):
    """The engine asked the model more often in a turn than the transcript recorded."""

    def __init__(self, turn: int, asked: int, recorded: int, nearest: dict[str, Any] | None):
        self.turn = turn
        self.asked = asked
        self.recorded = recorded
        self.nearest = nearest
        super().__init__(
            f"turn {turn}: the engine asked the model {asked} times; the transcript answered "
            f"{recorded} times (the conversation went elsewhere)"
        )


@dataclass(frozen=True)
class Miss:
    turn: int
    asked: int
    recorded: int
    nearest: dict[str, Any] | None
    """The recorded `llm` record whose request is most like this one (or, in a transcript
    without `asked` digests, the last recorded answer of that turn), if any."""
    request: dict[str, Any] | None = None
    """The digest of what the engine asked this time."""

    def describe(self) -> str:
        line = (
            f"turn {self.turn}: the engine asked the model {self.asked} times, the transcript "
            f"has {self.recorded} answers"
        )
        if self.request is not None:
            line += f"; asked now: {describe_asked(self.request)}"
        if self.nearest is not None and self.nearest.get("asked") is not None:
            where = f"turn {self.nearest.get('turn')}"
            return (
                f"{line}; nearest recorded request ({where}): "
                f"{describe_asked(self.nearest['asked'])}, answered {describe_answer(self.nearest)}"
            )
        return f"{line}; nearest recorded: {describe_answer(self.nearest)}"


def describe_asked(digest: dict[str, Any]) -> str:
    """A one-line view of an `asked` digest: the tool results fed back, else the last
    message."""
    results = digest.get("tool_results") or []
    if results:
        return "tool results " + "; ".join(clip(str(r), 100, ellipsis="...") for r in results)
    text = clip(str(digest.get("text") or ""), 100, ellipsis="...")
    calls = digest.get("calls") or []
    said = repr(text) if text else f"tool calls {', '.join(map(str, calls))}" if calls else "''"
    return f"{digest.get('role', '?')} {said}"


def describe_answer(record: dict[str, Any] | None) -> str:
    """A one-line view of a recorded `llm` answer."""
    if record is None:
        return "(no recorded answer in this turn)"
    calls = [f"{c.get('name')}({c.get('arguments')})" for c in record.get("tool_calls") or []]
    text = clip(str(record.get("content") or "").strip().replace("\n", " "), 80, ellipsis="...")
    parts = ([f"tool calls {', '.join(calls)}"] if calls else []) + ([repr(text)] if text else [])
    return "; ".join(parts) or "(an empty answer)"


def nearest_request(
    digest: dict[str, Any], turn: int, records: Iterable[dict[str, Any]]
) -> dict[str, Any] | None:
    """The recorded `llm` record whose `asked` digest is most like `digest`; a record of
    the same turn wins a tie."""
    import difflib  # only on a miss

    wanted = json.dumps(digest, sort_keys=True)
    best: tuple[float, bool] | None = None
    found: dict[str, Any] | None = None
    for record in records:
        if record.get("asked") is None:
            continue
        matcher = difflib.SequenceMatcher(None, wanted, json.dumps(record["asked"], sort_keys=True))
        score = (round(matcher.ratio(), 6), int(record.get("turn", 0)) == turn)
        if best is None or score > best:
            best, found = score, record
    return found


class CassetteLLM:
    """Plays recorded `llm` records, turn by turn. Call `begin_turn` before each turn."""

    def __init__(self, records: Iterable[dict[str, Any]], *, name: str = "cassette") -> None:
        self._name = name
        self._answers: dict[int, list[dict[str, Any]]] = {}
        self._all: list[dict[str, Any]] = []
        for record in records:
            if record.get("type") == "llm":
                self._answers.setdefault(int(record.get("turn", 0)), []).append(record)
                self._all.append(record)
        self._used: dict[int, int] = {}
        self.turn = 0
        self.misses: list[Miss] = []
        self.requests: list[LLMRequest] = []

    @property
    def name(self) -> str:
        return self._name

    def begin_turn(self, turn: int) -> None:
        self.turn = turn

    def recorded(self, turn: int) -> int:
        return len(self._answers.get(turn, []))

    def used(self, turn: int) -> int:
        return self._used.get(turn, 0)

    def unused(self) -> dict[int, int]:
        """Turn → recorded answers the engine never asked for."""
        left = {turn: len(answers) - self.used(turn) for turn, answers in self._answers.items()}
        return {turn: count for turn, count in sorted(left.items()) if count > 0}

    async def aclose(self) -> None:
        """Nothing to close: the recorded answers are in memory."""

    async def stream(self, request: LLMRequest) -> AsyncIterator[Chunk]:
        self.requests.append(request)
        turn = self.turn
        answers = self._answers.get(turn, [])
        index = self._used.get(turn, 0)
        self._used[turn] = index + 1
        if index >= len(answers):
            digest = asked_digest(request.messages)
            nearest = nearest_request(digest, turn, self._all)
            if nearest is None:  # a transcript without `asked` digests
                nearest = answers[-1] if answers else None
            self.misses.append(Miss(turn, index + 1, len(answers), nearest, digest))
            raise CassetteExhausted(turn, index + 1, len(answers), nearest)
        record = answers[index]
        content = str(record.get("content") or "")
        if content:
            yield TextDelta(content)
        calls = record.get("tool_calls") or []
        for call in calls:
            yield ToolCall(str(call["id"]), str(call["name"]), str(call["arguments"]))
        usage = record.get("usage") or {}
        yield Finish(
            reason="tool_calls" if calls else "stop",
            prompt_tokens=usage.get("prompt_tokens"),
            completion_tokens=usage.get("completion_tokens"),
            estimated=usage.get("estimated") is True,
        )
