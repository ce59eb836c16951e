"""Token counts when the server reports none: our estimate over what was sent and returned.

llama-cpp-python's server ignores `stream_options.include_usage`, so a streamed reply ends
with no usage at all; tokens (and cost) would be unknown. The estimate is the engine's own
(`content/render.estimate_tokens`, ~4 characters a token) over the messages and tool
schemas of the request body as sent, plus a few tokens a message for the chat template's
role markers; the reply's text and tool calls likewise. It is marked `estimated` wherever
it shows (the `llm` event, the transcript, the TUI).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from mardonar.content.render import estimate_tokens
from mardonar.llm.base import ToolCall

PER_MESSAGE = 4
"""Tokens a chat template adds around each message (`<|im_start|>user\\n … <|im_end|>\\n`)."""


def estimated_prompt(body: dict[str, Any]) -> int:
    """The prompt tokens of a chat request body, estimated."""
    messages = body.get("messages") or []
    total = 0
    for message in messages:
        content = message.get("content") if isinstance(message, dict) else None
        total += PER_MESSAGE + (estimate_tokens(content) if isinstance(content, str) else 0)
        for call in (message.get("tool_calls") or []) if isinstance(message, dict) else []:
            total += estimate_tokens(json.dumps(call))
    if body.get("tools"):
        total += estimate_tokens(json.dumps(body["tools"]))
    return total


def estimated_completion(text: str, calls: Sequence[ToolCall]) -> int:
    """The reply's tokens, estimated: its text and each call's name and arguments."""
    return estimate_tokens(text) + sum(
        estimate_tokens(call.name) + estimate_tokens(call.arguments) for call in calls
    )
