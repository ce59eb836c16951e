"""What NPCs remember, and search over the lore.

`base` holds the `Memory` Protocol; each backend is one module, imported only when it is
used (`SqliteMemory` and `GraphMcpMemory` are loaded on first attribute access, so
`import mardonar.memory` costs nothing and never pulls in a driver or an MCP client).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mardonar.memory.base import MAX_FACT_CHARS, MEMORY_KINDS, LoreHit, Memory, MemoryHit

if TYPE_CHECKING:
    from mardonar.memory.graphmcp import GraphMcpMemory
    from mardonar.memory.sqlite import SqliteMemory

__all__ = [
    "MAX_FACT_CHARS",
    "MEMORY_KINDS",
    "GraphMcpMemory",
    "LoreHit",
    "Memory",
    "MemoryHit",
    "SqliteMemory",
]


def __getattr__(name: str) -> Any:
    if name == "SqliteMemory":
        from mardonar.memory.sqlite import SqliteMemory

        return SqliteMemory
    if name == "GraphMcpMemory":
        from mardonar.memory.graphmcp import GraphMcpMemory

        return GraphMcpMemory
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
