"""The memory row: GraphMCP's real MCP handshake and tool list, or the embedded search."""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from typing import TYPE_CHECKING

from mardonar.netreason import connect_reason
from mardonar.ops.doctor.rows import Row, guarded, not_configured
from mardonar.urls import shown_url

if TYPE_CHECKING:
    import httpx

    from mardonar.config import Settings


def memory_section(
    settings: Settings, timeout: float, http: httpx.AsyncClient | None
) -> Awaitable[list[Row]]:
    memory = settings.memory
    if memory.graphmcp_url is None:
        return not_configured(
            "Memory",
            "GraphMCP",
            "NPC memory and lore search use the embedded SQLite database (FTS5)",
        )
    fix = "start GraphMCP or fix GRAPHMCP_URL (leave it empty for the embedded search)"
    check = _graphmcp_tools(memory.graphmcp_url, memory.tools, timeout, fix)
    return guarded(
        check, part="Memory", name="GraphMCP", timeout=timeout, limit=timeout + 1, fix=fix
    )


async def _graphmcp_tools(
    url: str, renamed: Mapping[str, str], timeout: float, fix: str
) -> list[Row]:
    """A real MCP initialize and tools/list: ✓ when every tool Mardonar calls is offered."""
    from mardonar.memory.graphmcp import OPTIONAL_ROLES, tool_names
    from mardonar.memory.mcpprobe import first_error, list_server_tools, protocol_problem

    shown = shown_url(url)
    try:
        listing = await list_server_tools(url, timeout)
    except TimeoutError:
        return [Row("Memory", "GraphMCP", "fail", f"{shown}: no answer within {timeout:g} s", fix)]
    except Exception as error:
        leaf = first_error(error)
        found = protocol_problem(leaf) or connect_reason(leaf)
        return [Row("Memory", "GraphMCP", "fail", f"cannot use {shown}: {found}", fix)]
    wanted = tool_names(renamed)
    offered = set(listing.tools)
    missing = {role: tool for role, tool in wanted.items() if tool not in offered}
    required = [tool for role, tool in missing.items() if role not in OPTIONAL_ROLES]
    if required:
        return [
            Row(
                "Memory",
                "GraphMCP",
                "fail",
                f"{shown} has no tool {', '.join(required)} ({len(offered)} tools offered)",
                "add the tools to the server, or map its names with MARDONAR_GRAPHMCP_TOOLS="
                "role=tool pairs (roles recall, remember, log, lore, index; docs/graphmcp.md)",
            )
        ]
    note = "; no lore indexing tool, so its own lore is searched" if missing else ""
    return [
        Row(
            "Memory",
            "GraphMCP",
            "ok",
            f"{shown}: MCP server with {len(offered)} tools, all that Mardonar calls{note} "
            f"(in {listing.elapsed * 1000:.0f} ms)",
        )
    ]
