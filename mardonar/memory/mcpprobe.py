"""What `mardonar doctor` asks of an MCP server (the handshake and its tool list), and how
an MCP client's failure reads: the GraphMCP backend and the doctor row share these."""

from __future__ import annotations

import time
from dataclasses import dataclass

__all__ = ["ToolListing", "first_error", "list_server_tools", "protocol_problem"]


@dataclass(frozen=True)
class ToolListing:
    """What an MCP server offers, as `mardonar doctor` reports it."""

    tools: tuple[str, ...]
    elapsed: float
    """Seconds the handshake and the listing took."""


async def list_server_tools(url: str, timeout: float) -> ToolListing:
    """Initialize an MCP session at `url` (the initialize handshake) and list its tools.

    Raises TimeoutError after `timeout` seconds, or the transport's error, often inside an
    exception group (`first_error` finds it).
    """
    import anyio
    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    started = time.perf_counter()
    names: list[str] = []
    with anyio.fail_after(timeout):
        async with httpx2.AsyncClient(timeout=httpx2.Timeout(timeout)) as http:
            transport = streamable_http_client(url, http_client=http)
            async with Client(transport, mode="legacy", cache=None) as client:
                cursor: str | None = None
                for _page in range(100):  # a server whose pages never end cannot hang us
                    listing = await client.list_tools(cursor=cursor)
                    names.extend(tool.name for tool in listing.tools)
                    cursor = listing.next_cursor
                    if not cursor:
                        break
    return ToolListing(tuple(names), time.perf_counter() - started)


def first_error(error: BaseException) -> BaseException:
    """The first real error inside (nested) exception groups, its causes intact: the mcp
    client's task group wraps what went wrong, often twice."""
    while isinstance(error, BaseExceptionGroup) and error.exceptions:
        error = error.exceptions[0]
    return error


def protocol_problem(error: BaseException) -> str | None:
    """For a doctor row: what an MCP-level refusal (a server that answers HTTP but not MCP,
    or rejects the handshake) means; None for network errors."""
    from mcp import MCPError

    if isinstance(error, MCPError):
        return f"not an MCP endpoint, or it refused the handshake ({error})"
    return None
