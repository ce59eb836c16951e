"""Tool calls assembled from stream deltas: id and name first, the arguments in pieces,
several calls interleaved by `index` (or with no index at all, on older servers)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class _PartialCall:
    """A tool call being assembled from stream deltas."""

    id: str = ""
    name: str = ""
    arguments: list[str] = field(default_factory=list)


def _add_call_delta(partial: dict[int, _PartialCall], piece: Any) -> None:
    """Fold one tool-call delta into the calls being assembled, keyed by `index`.

    Servers that omit `index` (older Ollama) send each call whole or with its id repeated:
    a new id starts a new call, no id continues the last one. Servers that number every
    call 0 send each one whole with its own id: a different id at a taken index is a new
    call too."""
    index = getattr(piece, "index", None)
    call_id = getattr(piece, "id", None) or ""
    last = max(partial) if partial else -1
    if index is None:
        index = last if last >= 0 and not _new_id(partial[last], call_id) else last + 1
    elif index in partial and _new_id(partial[index], call_id):
        index = last + 1
    call = partial.setdefault(index, _PartialCall())
    if call_id and not call.id:
        call.id = call_id
    function = getattr(piece, "function", None)
    if function is None:
        return
    name = getattr(function, "name", None)
    if name and not call.name:
        call.name = name  # some servers repeat the name in every delta: keep the first
    arguments = getattr(function, "arguments", None)
    if arguments:
        call.arguments.append(arguments)


def _new_id(call: _PartialCall, call_id: str) -> bool:
    return bool(call_id and call.id and call_id != call.id)
