"""Models for tests: a scripted model that plays given replies, and one that always fails.

They implement the same `LLM` Protocol as the real backends, so a test drives the real
turn loop — tool execution, corrections, fallbacks — with exactly the replies it needs and
then asserts on what the model was sent (`.requests`). No network, no randomness.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from mardonar.llm.base import Chunk, Finish, LLMError, LLMRequest, TextDelta, ToolCall


@dataclass(frozen=True)
class ScriptedReply:
    """One model answer: text, tool calls, or both.

    A tool call is `(name, arguments)`: a dict is sent as JSON, a str is sent raw, so a test
    can send malformed JSON and watch the engine refuse it."""

    text: str = ""
    tool_calls: list[tuple[str, dict[str, Any] | str]] = field(default_factory=list)
    finish_reason: str | None = None
    """Overrides the Finish reason (default: "tool_calls" with calls, else "stop")."""


ReplyFactory = Callable[[LLMRequest], "ScriptedReply | str"]
ScriptItem = ScriptedReply | str | ReplyFactory | BaseException
"""A reply, plain text, a function of the request, or an exception to raise on that call
(an `LLMError` to test the retry-then-fallback path; anything else to test a crash)."""


def split_text(text: str, parts: int = 3) -> list[str]:
    """Cut `text` at spaces into at most `parts` chunks that join back to `text`, so the
    streaming path (several deltas for one reply) is always exercised."""
    if not text:
        return []
    size = max(len(text) // parts, 1)
    chunks: list[str] = []
    start = 0
    while start < len(text) and len(chunks) < parts - 1:
        cut = text.find(" ", start + size)
        if cut < 0:
            break
        chunks.append(text[start : cut + 1])
        start = cut + 1
    chunks.append(text[start:])
    return [chunk for chunk in chunks if chunk]


def _arguments(raw: dict[str, Any] | str) -> str:
    return raw if isinstance(raw, str) else json.dumps(raw, sort_keys=True, ensure_ascii=False)


class ScriptedLLM:
    """Plays `replies` in order, one per `stream` call, and records every request.

    When the script runs out it raises `LLMError("scripted model has no more replies")` —
    a test that expected fewer model calls fails loudly — unless `repeat_last`, which keeps
    answering with the last reply (for loops whose number of calls is not the point)."""

    def __init__(
        self,
        replies: Sequence[ScriptItem],
        *,
        name: str = "scripted",
        repeat_last: bool = False,
    ) -> None:
        self._replies = list(replies)
        self._name = name
        self.repeat_last = repeat_last
        self.requests: list[LLMRequest] = []
        """Every request this model was sent, in order (also those that raised)."""
        self.calls = 0

    @property
    def name(self) -> str:
        return self._name

    @property
    def remaining(self) -> int:
        """Replies not yet played."""
        return max(len(self._replies) - self.calls, 0)

    def _next(self, request: LLMRequest) -> ScriptedReply:
        index = self.calls
        self.calls += 1
        if index >= len(self._replies):
            if not (self.repeat_last and self._replies):
                raise LLMError("scripted model has no more replies")
            index = len(self._replies) - 1
        item = self._replies[index]
        if isinstance(item, BaseException):
            raise item
        if callable(item) and not isinstance(item, ScriptedReply):
            item = item(request)
        return ScriptedReply(item) if isinstance(item, str) else item

    async def aclose(self) -> None:
        """Nothing to close: a script holds no connection."""

    async def stream(self, request: LLMRequest) -> AsyncIterator[Chunk]:
        # The request is recorded and the reply chosen on the first iteration, like a real
        # backend whose errors surface while streaming.
        self.requests.append(request)
        reply = self._next(request)
        number = len(self.requests) - 1
        for chunk in split_text(reply.text):
            yield TextDelta(chunk)
        for index, (tool, raw) in enumerate(reply.tool_calls):
            yield ToolCall(f"scripted_{number}_{index}", tool, _arguments(raw))
        reason = reply.finish_reason or ("tool_calls" if reply.tool_calls else "stop")
        yield Finish(reason=reason)


class FailingLLM:
    """A backend that is always down: every call raises `LLMError` (fallback tests)."""

    def __init__(
        self, error: LLMError | str = "the model is unreachable", *, name: str = "failing"
    ) -> None:
        self.error = error if isinstance(error, LLMError) else LLMError(error)
        self._name = name
        self.requests: list[LLMRequest] = []
        """Every request it was sent, so a test can see the fallback was really tried."""

    @property
    def name(self) -> str:
        return self._name

    async def aclose(self) -> None:
        """Nothing to close: it never connects."""

    async def stream(self, request: LLMRequest) -> AsyncIterator[Chunk]:
        self.requests.append(request)
        raise self.error
        yield Finish()  # pragma: no cover - makes this an async generator


ErrorLLM = FailingLLM
"""The same thing under the other name tests reach for."""
