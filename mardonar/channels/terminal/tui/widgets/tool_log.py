"""The tool-call log: every call the model made (name, arguments, then the result or the
refusal reason in red, and how long it took), between the model's own answers.

It reads top-down from the first call and follows the latest one, unless the reader
scrolled up. Not with Textual's `anchor()`: that scrolls a log shorter than its pane to a
negative offset (Textual 8.2), so the first calls sat at the bottom of an empty-looking tab.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from textual.widgets import Static

from mardonar.channels.terminal.tui.widgets.lines import Lines
from mardonar.channels.terminal.tui.widgets.panel import Styled
from mardonar.engine.events import Event, ModelReplied, ToolCalled, ToolResult
from mardonar.wording import plural

MAX_VALUE_CHARS = 60
"""A long fact or outcome text is cut here: the log is a glance, the transcript has it all."""


def _value(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= MAX_VALUE_CHARS else text[: MAX_VALUE_CHARS - 1] + "…"


def pairs(data: dict[str, Any] | None, *, skip: dict[str, Any] | None = None) -> str:
    """`player=aria check=read-grukk`: arguments and results as one compact line; a result
    key that only repeats an argument (`check`, `player`…) is left out."""
    skip = skip or {}
    return " ".join(
        f"{key}={_value(value)}"
        for key, value in (data or {}).items()
        if key not in skip or skip[key] != value
    )


@dataclass
class ToolRecord:
    turn: int
    name: str
    args: dict[str, Any]
    ok: bool | None = None
    """None while the call runs."""
    result: dict[str, Any] | None = None
    error: str | None = None
    latency_ms: float = 0.0


class ToolEntry(Static):
    def __init__(self, lines: Lines, *, classes: str) -> None:
        super().__init__(lines.renderable, classes=classes)
        self.plain = lines.plain

    def set_lines(self, lines: Lines) -> None:
        self.plain = lines.plain
        self.update(lines.renderable)


class ToolLog(Styled):
    PREFIX = "tools"
    STYLES = ("name", "ok", "error", "dim")

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.records: list[ToolRecord] = []
        self._entries: dict[str, tuple[ToolRecord, ToolEntry]] = {}
        self._following = True
        """The end of the log is in view: what is added next is scrolled into view."""

    def on_show(self) -> None:
        # Filled while its tab was hidden: open on the latest call.
        if self._following:
            self.scroll_end(animate=False, immediate=True)

    def _added(self) -> None:
        """After an entry was added or grew: keep the end in view if it was."""
        self._following = self.scroll_y >= self.max_scroll_y
        if self._following:
            self.call_after_refresh(self.scroll_end, animate=False)

    @property
    def text(self) -> str:
        return "\n".join(entry.plain for entry in self.query_children(ToolEntry))

    def clear(self) -> None:
        self.records.clear()
        self._entries.clear()
        self.remove_children(ToolEntry)

    def show(self, event: Event) -> None:
        if isinstance(event, ToolCalled):
            record = ToolRecord(turn=event.turn, name=event.name, args=dict(event.args))
            entry = ToolEntry(self._record_lines(record), classes="call")
            self.records.append(record)
            self._entries[event.call_id] = (record, entry)
            self.mount(entry)
            self._added()
        elif isinstance(event, ToolResult):
            found = self._entries.get(event.call_id)
            if found is None:  # a result whose call we never saw (the log was cleared)
                return
            record, entry = found
            record.ok, record.result, record.error = event.ok, event.result, event.error
            record.latency_ms = event.latency_ms
            entry.set_lines(self._record_lines(record))
            entry.set_class(not event.ok, "refused")
            self._added()
        elif isinstance(event, ModelReplied):
            calls = len(event.tool_calls)
            asked = plural(calls, "call") if calls else "text"
            tokens = ""
            if event.prompt_tokens is not None and event.usage_estimated:
                # The server reported no usage: these are Mardonar's count, so say so.
                tokens = f", ~{event.prompt_tokens}→~{event.completion_tokens} tokens (estimated)"
            elif event.prompt_tokens is not None:
                tokens = f", {event.prompt_tokens}→{event.completion_tokens} tokens"
            line = f"T{event.turn} {event.model}: {asked} in {event.latency_ms:,.0f} ms{tokens}"
            self.mount(ToolEntry(Lines().line((line, self._s("dim"))), classes="model"))
            self._added()

    def _record_lines(self, record: ToolRecord) -> Lines:
        dim = self._s("dim")
        took = "  …" if record.ok is None else f"  {record.latency_ms:,.1f} ms"
        out = Lines().line(f"T{record.turn} ", (record.name, self._s("name")), (took, dim))
        if record.args:
            out.item("", pairs(record.args))
        if record.ok is True:
            out.item(("→", self._s("ok")), pairs(record.result, skip=record.args) or "ok")
        elif record.ok is False:
            out.item(("✘", self._s("error")), (record.error or "refused", self._s("error")))
        return out
