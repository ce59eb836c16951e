"""Our messages, tools and options as the OpenAI chat-completions wire format."""

from __future__ import annotations

from typing import Any, Literal

from mardonar.llm.base import LLMRequest, Message, ToolSpec
from mardonar.llm.openai_compat.jsonmode import json_mode_messages

ToolMode = Literal["native", "json"]

# Parameters every `chat.completions.create` since openai 1.40 accepts by name; any other
# option goes in `extra_body`, so a persona or settings option the installed SDK does not
# know (`top_k`, `repeat_penalty`…) still reaches servers that understand it.
_NAMED_OPTIONS = frozenset(
    {
        "top_p",
        "stop",
        "presence_penalty",
        "frequency_penalty",
        "seed",
        "n",
        "user",
        "logit_bias",
        "logprobs",
        "top_logprobs",
        "response_format",
        "parallel_tool_calls",
        "tool_choice",
        "max_completion_tokens",
    }
)

_RESERVED = frozenset(
    {"model", "messages", "stream", "stream_options", "tools", "timeout", "extra_body"}
)


def tool_param(tool: ToolSpec) -> dict[str, Any]:
    """A `ToolSpec` as the OpenAI `tools` entry."""
    return {
        "type": "function",
        "function": {
            "name": tool.name,
            "description": tool.description,
            "parameters": tool.parameters,
        },
    }


def native_message(message: Message) -> dict[str, Any]:
    """One of our messages as an OpenAI chat message."""
    if message.role == "assistant":
        out: dict[str, Any] = {
            "role": "assistant",
            # null, not "", beside tool calls: LiteLLM turns "" into an empty text block,
            # which some providers behind it (Anthropic) reject.
            "content": message.content or (None if message.tool_calls else ""),
        }
        if message.tool_calls:
            out["tool_calls"] = [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": call.arguments or "{}"},
                }
                for call in message.tool_calls
            ]
        return out
    if message.role == "tool":
        return {
            "role": "tool",
            "tool_call_id": message.tool_call_id or "",
            "content": message.content,
        }
    return {"role": message.role, "content": message.content}


def chat_params(request: LLMRequest, model: str, tool_mode: ToolMode) -> dict[str, Any]:
    """The `chat.completions.create` arguments for `request`."""
    if tool_mode == "json":
        messages = json_mode_messages(request.messages, request.tools)
    else:
        messages = [native_message(message) for message in request.messages]
    params: dict[str, Any] = {
        "model": model,
        "messages": messages,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    if request.tools and tool_mode == "native":
        params["tools"] = [tool_param(tool) for tool in request.tools]
    if request.temperature is not None:
        params["temperature"] = request.temperature
    if request.max_tokens is not None:
        params["max_tokens"] = request.max_tokens
    extra: dict[str, Any] = {}
    for key, value in request.options.items():
        if value is None or key in _RESERVED or key in params:
            continue  # the request's own temperature/max_tokens win over options
        if key == "tool_choice" and "tools" not in params:
            continue  # tool_choice without tools is a 400 on most servers
        if key in _NAMED_OPTIONS:
            params[key] = value
        else:
            extra[key] = value
    if extra:
        params["extra_body"] = extra
    return params
