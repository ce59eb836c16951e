"""The one interface every model backend implements.

Messages and tool schemas go in; text deltas and complete tool calls stream out, then one
`Finish`. The offline narrator, the scripted test model, the OpenAI-compatible backends
(LiteLLM, Ollama, vLLM…) and the replay cassette all implement `LLM`, so the turn loop never
knows which one it talks to.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from mardonar.llm.turnformat import split_turn_message
from mardonar.wording import one_line

Role = Literal["system", "user", "assistant", "tool"]


@dataclass(frozen=True, slots=True)
class BadArguments:
    """Why a call's arguments are unusable, as the sentence the model is told:
    `arguments are not valid JSON (Expecting value at char 0)` or `arguments must be a
    JSON object`."""

    message: str


def parse_arguments(text: str) -> dict[str, Any] | BadArguments:
    """Tool-call arguments read leniently: the object when `text` is a JSON object, `{}`
    when it is blank (models send `""` for a call without arguments), else `BadArguments`.
    Never raises: nesting too deep for the parser is not valid JSON either."""
    if not text.strip():
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        return BadArguments(f"arguments are not valid JSON ({error.msg} at char {error.pos})")
    except (ValueError, RecursionError):  # an integer of over 4,300 digits; deep nesting
        return BadArguments("arguments are not valid JSON (too large to read)")
    if not isinstance(value, dict):
        return BadArguments("arguments must be a JSON object")
    return value


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A call the model asked for. `arguments` is the raw JSON text the model produced;
    `parsed_arguments` reads it (see `parse_arguments`)."""

    id: str
    name: str
    arguments: str

    @property
    def parsed_arguments(self) -> dict[str, Any] | BadArguments:
        """The arguments as a dict (`{}` when blank), or `BadArguments` saying why not.
        Parsed on each access: a call is read two or three times a turn, and a frozen
        slotted dataclass has nowhere to cache it."""
        return parse_arguments(self.arguments)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "arguments": self.arguments}


@dataclass(frozen=True, slots=True)
class Message:
    role: Role
    content: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    name: str | None = None  # the tool's name on a tool message


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """A tool the model may call: its name, what it is for and a JSON Schema of arguments."""

    name: str
    description: str
    parameters: dict[str, Any]


@dataclass(frozen=True, slots=True)
class LLMRequest:
    messages: tuple[Message, ...]
    tools: tuple[ToolSpec, ...] = ()
    temperature: float | None = None
    max_tokens: int | None = None
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TextDelta:
    text: str


@dataclass(frozen=True, slots=True)
class Finish:
    reason: str = "stop"
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    estimated: bool = False
    """The token counts are our estimate (~4 characters a token over what was sent and
    returned), because the server reported no usage (llama-cpp-python never does when
    streaming)."""


@dataclass(frozen=True, slots=True)
class Restart:
    """Forget what this answer streamed so far: the backend failed mid-answer and the reply
    starts again (from a fallback backend). Front ends withdraw the partial text."""

    reason: str


@dataclass(frozen=True, slots=True)
class BackendNote:
    """Something the table should know about the backends (a switch to the fallback, a
    misconfigured backend set aside); shown once, never part of the narration."""

    text: str
    error: bool = False


Chunk = TextDelta | ToolCall | Finish | Restart | BackendNote


class LLMError(Exception):
    """The backend could not answer (unreachable, timed out, refused). The turn goes on with
    a fallback; the message says what failed, never a secret."""


class LLMUnavailable(LLMError):
    """Down, timed out, overloaded (429/5xx) after its own retry: another backend may work,
    and this one may work again next turn. `partial` is True when some chunks were already
    yielded before the failure."""

    def __init__(self, message: str, *, partial: bool = False) -> None:
        super().__init__(message)
        self.partial = partial


class LLMConfigError(LLMError):
    """The caller's fault (bad key, unknown model, rejected request): retrying cannot help.
    `setting` names what to fix (e.g. LITELLM_MODEL)."""

    def __init__(self, message: str, *, setting: str | None = None) -> None:
        super().__init__(message)
        self.setting = setting


@dataclass(frozen=True, slots=True)
class ContextWindow:
    """How many tokens the model can hold (prompt and reply together), and who said so."""

    tokens: int
    source: str
    """Where the number came from, in a reader's words: "MARDONAR_CONTEXT_WINDOW",
    "llama.cpp /props", "vLLM max_model_len", "LiteLLM /model/info"."""


@runtime_checkable
class ReportsWindow(Protocol):
    """A model that may know its context window (the OpenAI-compatible backends, the
    fallback chain). The offline narrator, the cassette and the scripted doubles have none:
    for them the context budget is MARDONAR_CONTEXT_BUDGET alone."""

    async def context_window(self) -> ContextWindow | None:
        """The window, or None when unknown. Never raises, and asks the server at most once
        per process (a bounded wait), so a turn can ask it freely."""
        ...


@runtime_checkable
class LLM(Protocol):
    """A chat model with tools."""

    @property
    def name(self) -> str:
        """What the start-up line and the transcript header call this backend and model."""
        ...

    def stream(self, request: LLMRequest) -> AsyncIterator[Chunk]:
        """Answer `request`: any number of `TextDelta` and `ToolCall`, then one `Finish`.
        Raises `LLMError` when the backend fails."""
        ...

    async def aclose(self) -> None:
        """Close the connections the backend holds; a no-op for those that hold none (the
        offline narrator, the cassette, the scripted doubles), so every owner of a model
        simply awaits it when done. Safe to call twice."""
        ...


# ---------------------------------------------------------------------- what was asked

ASKED_TEXT = 200
"""Characters of the last message kept in an `llm` record's `asked` digest."""
ASKED_RESULT = 160
"""Characters of each tool result kept in it."""


def asked_digest(messages: Sequence[Message]) -> dict[str, Any]:
    """What the model was asked, in a few hundred bytes: the role and start of the last
    message that is not a tool result (the players' words, a correction, the model's own
    tool calls) and the tool results fed back after it. The whole prompt is not recorded:
    it repeats the spec and the persona every time, and tells a reader less than this."""
    end = len(messages)
    while end and messages[end - 1].role == "tool":
        end -= 1
    digest: dict[str, Any] = {}
    if end:
        last = messages[end - 1]
        digest["role"] = last.role
        # The players' lines of a turn message, not the context above them (the state of
        # play, the same start every turn).
        text = split_turn_message(last.content)[1] if last.role == "user" else last.content
        if text:
            digest["text"] = one_line(text, ASKED_TEXT, ellipsis="...")
        if last.tool_calls:
            digest["calls"] = [call.name for call in last.tool_calls]
    results = [
        f"{m.name}: {one_line(m.content, ASKED_RESULT, ellipsis='...')}" for m in messages[end:]
    ]
    if results:
        digest["tool_results"] = results
    return digest
