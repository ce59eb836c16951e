"""What NPCs remember, and search over the lore.

`base` holds the `Memory` Protocol; each backend is one module, imported only when it is
used (`SqliteMemory` and `GraphMcpMemory` are loaded on first attribute access, so
`import mardonar.memory` costs nothing and never pulls in a driver or an MCP client).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mardonar.lazy import lazy_names
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


__getattr__ = lazy_names(
    __name__,
    {"SqliteMemory": "mardonar.memory.sqlite", "GraphMcpMemory": "mardonar.memory.graphmcp"},
)
