"""json tool mode (MARDONAR_TOOL_MODE=json), for servers or models without tool support.

The tools are described in the system prompt, the model answers with a JSON object, and that
JSON is turned back into `ToolCall`s here, so the turn loop cannot tell the difference.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Sequence
from typing import Any

from mardonar.llm.base import Message, ToolCall, ToolSpec, parse_arguments
from mardonar.llm.textcalls import recover_tool_calls
from mardonar.wording import one_line

TOOL_RESULT_PREFIX = "[tool result"
"""In json tool mode, a tool result goes back as a user message starting with
`[tool result NAME]`."""


def json_mode_instructions(tools: Sequence[ToolSpec]) -> str:
    """The system-prompt section that replaces native tools in json tool mode."""
    lines = [
        "## Tools",
        "To call a tool, answer with ONLY a JSON object and nothing else:",
        '{"tool": "NAME", "arguments": {...}}',
        "To call several tools at once, answer with a JSON list of such objects.",
        f"Each result comes back in a user message starting with {TOOL_RESULT_PREFIX} NAME], "
        "followed by JSON.",
        "When you need no tool, answer in plain prose, with no JSON.",
        "Tools (name: what it does; arguments as JSON Schema):",
    ]
    for tool in tools:
        schema = json.dumps(tool.parameters, separators=(",", ":"), sort_keys=True)
        lines.append(
            f"- {tool.name}: {one_line(tool.description, 300, trim=True)} Arguments: {schema}"
        )
    return "\n".join(lines)


def json_mode_messages(
    messages: Sequence[Message], tools: Sequence[ToolSpec]
) -> list[dict[str, Any]]:
    """Our messages for a server without tool support: tool instructions in the system
    message, calls as JSON in assistant content, results as user messages.

    Consecutive tool results become ONE user message: several chat templates (llama.cpp's,
    Mistral's) reject two user messages in a row."""
    names = {call.id: call.name for m in messages for call in m.tool_calls}
    out: list[dict[str, Any]] = []
    instructions = json_mode_instructions(tools) if tools else ""
    placed = not instructions
    previous_was_result = False
    for message in messages:
        is_result = message.role == "tool"
        if message.role == "system":
            content = message.content
            if not placed:
                content = f"{content.rstrip()}\n\n{instructions}" if content else instructions
                placed = True
            out.append({"role": "system", "content": content})
        elif message.role == "assistant":
            parts = [message.content.strip()] if message.content.strip() else []
            if message.tool_calls:
                objects = [
                    {"tool": call.name, "arguments": _json_or_text(call)}
                    for call in message.tool_calls
                ]
                value: Any = objects[0] if len(objects) == 1 else objects
                parts.append(json.dumps(value, ensure_ascii=False))
            out.append({"role": "assistant", "content": "\n".join(parts)})
        elif is_result:
            name = message.name or names.get(message.tool_call_id or "", "tool")
            line = f"{TOOL_RESULT_PREFIX} {name}] {message.content}"
            if previous_was_result:
                out[-1]["content"] += "\n" + line
            else:
                out.append({"role": "user", "content": line})
        else:
            out.append({"role": message.role, "content": message.content})
        previous_was_result = is_result
    if not placed:
        out.insert(0, {"role": "system", "content": instructions})
    return out


def parse_json_calls(text: str, names: Collection[str]) -> list[tuple[str, str]] | None:
    """`{"tool": NAME, "arguments": {...}}` (or a list of them, in a code fence or not) →
    [(name, arguments JSON)]; None unless the WHOLE text is such calls to known tools."""
    body = text.strip()
    fenced = re.fullmatch(r"```[a-zA-Z]*\s*(.*?)\s*```", body, re.DOTALL)
    if fenced:
        body = fenced.group(1)
    if not body.startswith(("{", "[")):
        return None
    try:
        value = json.loads(body)
    except json.JSONDecodeError:
        return None
    items = value if isinstance(value, list) else [value]
    calls: list[tuple[str, str]] = []
    for item in items:
        if not isinstance(item, dict):
            return None
        name = item.get("tool", item.get("name"))
        args = item.get("arguments", item.get("args", item.get("parameters", {})))
        if isinstance(args, str):
            args = parse_arguments(args)
        if not isinstance(name, str) or name not in names or not isinstance(args, dict):
            return None
        calls.append((name, json.dumps(args, sort_keys=True, ensure_ascii=False)))
    return calls or None


def calls_from_text(
    content: str, tools: Sequence[ToolSpec], number: int
) -> tuple[str, list[ToolCall]]:
    """json tool mode: the reply's JSON becomes calls; what is left is narration."""
    names = {tool.name for tool in tools}
    parsed = parse_json_calls(content, names)
    if parsed is not None:
        return "", [
            ToolCall(f"json_{number}_{i}", name, args) for i, (name, args) in enumerate(parsed)
        ]
    recovered = recover_tool_calls(content)
    if not recovered.leaked:
        return content, []
    calls = [
        ToolCall(f"json_{number}_{i}", call.name, call.arguments)
        for i, call in enumerate(recovered.calls)
    ]
    return recovered.text, calls


def _json_or_text(call: ToolCall) -> Any:
    """The arguments as the object they are, or as the text the model wrote."""
    parsed = call.parsed_arguments
    return parsed if isinstance(parsed, dict) else call.arguments
