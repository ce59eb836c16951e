"""NPC memory and lore search on an MCP server: GraphMCP in production, or `mardonar serve mcp`.

Every Memory operation is one MCP tool call over streamable HTTP. The tools, their
arguments and their results are Mardonar's (`DEFAULT_TOOLS`, docs/graphmcp.md); a server
that names them differently is mapped with MARDONAR_GRAPHMCP_TOOLS (`recall=memory_search`).

Session lifecycle: one MCP session per call, opened and closed inside the calling task.
An MCP `ClientSession` runs an anyio task group and must be entered and exited in the same
task; the engine calls memory from whichever task runs the turn (the REPL's, a Textual
worker, a Discord handler), so a long-lived session would need a task of its own that
outlives each caller and a reconnect protocol for outages. Per call, an outage heals by
itself and nothing is left running. The price, measured over loopback: ~10-18 ms a call
with the HTTP client reused, against ~5 ms on a kept session and ~60 ms with a new HTTP
client per call (building one loads the CA bundle) — so the HTTP client is kept, one per
event loop (its connection pool belongs to the loop that made it).

Failure is never the engine's problem: an unreachable server, a timeout, a tool error or a
missing tool make recall and lore search return [] and remember a no-op, and log one
warning per outage (the URL without credentials). While the server is unreachable, calls
are skipped for `retry_after` seconds, so a silent server costs a turn one timeout, not one
per call. Invalid memories are still refused with ValueError (the Protocol's contract),
before any network traffic.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, ValidationError

from mardonar.memory.base import LoreHit, MemoryHit, check_memory
from mardonar.memory.mcpprobe import first_error
from mardonar.netreason import os_reason
from mardonar.urls import redact_url, shown_url

if TYPE_CHECKING:
    import httpx2
    from mcp import Client
    from mcp.types import CallToolResult

    from mardonar.content.models import Lore

__all__ = [
    "DEFAULT_TOOLS",
    "OPTIONAL_ROLES",
    "GraphMcpMemory",
    "tool_names",
]

log = logging.getLogger(__name__)

DEFAULT_TOOLS: Mapping[str, str] = {
    "recall": "recall_memories",
    "remember": "remember_fact",
    "log": "log_encounter",
    "lore": "search_lore",
    "index": "index_lore",
}
"""Role → Mardonar's default tool name. Arguments and results: docs/graphmcp.md."""

OPTIONAL_ROLES = frozenset({"index"})
"""Roles a server may lack: a GraphMCP that builds its own lore graph has no `index_lore`,
and lore search then searches GraphMCP's lore instead of the repository's."""

DEFAULT_TIMEOUT = 5.0
"""Seconds one call (connect, handshake, tool) may take before it counts as failed."""
DEFAULT_RETRY_AFTER = 15.0
"""Seconds to skip calls after the server was found unreachable."""

_M = TypeVar("_M", bound=BaseModel)
_CONNECTION = ""  # the key of connection-level problems in `_failing`; roles are the others


def tool_names(overrides: Mapping[str, str] | None = None) -> dict[str, str]:
    """The tool name of every role: the defaults, renamed by MARDONAR_GRAPHMCP_TOOLS."""
    return {**DEFAULT_TOOLS, **(overrides or {})}


class _MemoryItem(BaseModel):
    fact: str
    npc: str = ""
    kind: str = "fact"
    turn: int = 0
    score: float | None = None


class _LoreItem(BaseModel):
    lore_id: str
    title: str = ""
    snippet: str = ""
    score: float | None = None


class _CallFailed(Exception):
    """A call that did not produce a usable result; `connection` tells which kind."""

    def __init__(self, problem: str, *, connection: bool, missing: bool = False) -> None:
        super().__init__(problem)
        self.connection = connection
        self.missing = missing


class GraphMcpMemory:
    """`Memory` as an MCP client over streamable HTTP."""

    def __init__(
        self,
        url: str,
        *,
        score_threshold: float = 0.68,
        tools: Mapping[str, str] | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        retry_after: float = DEFAULT_RETRY_AFTER,
    ) -> None:
        self.url = url
        self.score_threshold = score_threshold
        self.tools = tool_names(tools)
        self.timeout = timeout
        self.retry_after = retry_after
        self._shown = shown_url(url)
        self._http: httpx2.AsyncClient | None = None
        self._http_loop: asyncio.AbstractEventLoop | None = None
        self._failing: dict[str, str] = {}
        self._skip_until = 0.0
        self._closed = False

    def __repr__(self) -> str:
        return f"GraphMcpMemory({redact_url(self.url)!r})"

    # ------------------------------------------------------------------ the Protocol

    async def remember(
        self,
        *,
        scope: str,
        session_id: str,
        npc: str,
        fact: str,
        kind: str = "fact",
        turn: int = 0,
    ) -> None:
        """Store a memory through the `remember` tool (`log` for encounter logs); skipped,
        with a warning, when the server cannot take it."""
        fact = check_memory(scope=scope, session_id=session_id, npc=npc, fact=fact, kind=kind)
        arguments: dict[str, Any] = {
            "scope": scope,
            "session_id": session_id,
            "npc": npc,
            "fact": fact,
            "turn": int(turn),
        }
        if kind == "encounter-log":
            await self._call("log", arguments)
        else:
            await self._call("remember", {**arguments, "kind": kind})

    async def recall(
        self, *, scope: str, session_id: str, npc: str, query: str = "", limit: int = 8
    ) -> list[MemoryHit]:
        """This NPC's memories from the `recall` tool, in the server's order, without those
        scored under the threshold (see `_kept`); [] when the server cannot answer."""
        if limit <= 0:
            return []
        payload = await self._call(
            "recall",
            {"scope": scope, "session_id": session_id, "npc": npc, "query": query, "limit": limit},
            listing="memories",
        )
        if payload is None:
            return []
        hits: list[MemoryHit] = []
        for item in self._items(payload, "memories", _MemoryItem, "recall"):
            # A server that mixes NPCs up must not make one NPC quote another's memories.
            if item.npc and item.npc != npc:
                continue
            if not self._kept(item.score, payload):
                continue
            hits.append(
                MemoryHit(
                    npc=npc, fact=item.fact, kind=item.kind, turn=item.turn, score=item.score or 0.0
                )
            )
        return hits[:limit]

    async def index_lore(self, lore: Iterable[Lore]) -> None:
        """Send the repository's lore to the `index` tool, which replaces the server's lore
        index. A server without that tool keeps its own lore (logged once, not a warning)."""
        entries = {item.id: item for item in lore}
        documents = [
            {
                "lore_id": item.id,
                "title": item.title,
                "keywords": list(item.keywords),
                "body": item.body,
            }
            for item in entries.values()
        ]
        await self._call("index", {"documents": documents})

    async def search_lore(self, query: str, limit: int = 3) -> list[LoreHit]:
        """Lore from the `lore` tool, best first, without hits scored under the threshold."""
        if limit <= 0:
            return []
        payload = await self._call("lore", {"query": query, "limit": limit}, listing="lore")
        if payload is None:
            return []
        hits = [
            LoreHit(
                lore_id=item.lore_id,
                title=item.title or item.lore_id,
                snippet=item.snippet or item.title or item.lore_id,
                score=item.score or 0.0,
            )
            for item in self._items(payload, "lore", _LoreItem, "lore")
            if self._kept(item.score, payload)
        ]
        return hits[:limit]

    async def close(self) -> None:
        """Close the kept HTTP client; calling it twice is harmless. A closed memory refuses
        further calls with RuntimeError, like the embedded one."""
        self._closed = True
        http, self._http = self._http, None
        loop, self._http_loop = self._http_loop, None
        if http is None:
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        # A client from a loop that has ended cannot be closed from another: its sockets
        # went with that loop.
        if running is loop:
            await http.aclose()

    # ------------------------------------------------------------------ results

    def _kept(self, score: float | None, payload: Mapping[str, Any]) -> bool:
        """GRAPHMCP_SCORE_THRESHOLD applies to similarity scores, the default. A server that
        ranks by keyword says `"scoring": "rank"` (its scores are not on a 0..1 scale, and
        each of its matches contains a word of the query), and an item without a score (a
        recent memory filling the limit) is kept either way."""
        if score is None or payload.get("scoring", "similarity") != "similarity":
            return True
        return score >= self.score_threshold

    def _items(self, payload: Mapping[str, Any], key: str, model: type[_M], role: str) -> list[_M]:
        items: list[_M] = []
        for entry in payload[key]:
            try:
                items.append(model.model_validate(entry))
            except ValidationError:
                log.debug("GraphMCP %s: skipped a malformed item %r", role, entry)
        return items

    # ------------------------------------------------------------------ calls

    async def _call(
        self, role: str, arguments: dict[str, Any], listing: str | None = None
    ) -> dict[str, Any] | None:
        """The tool's result as a dict (whose `listing` key, when given, holds a list), or
        None (logged) when there is none to be had."""
        tool = self.tools[role]
        if self._closed:
            raise RuntimeError(f"{self!r} is closed")
        if _CONNECTION in self._failing and time.monotonic() < self._skip_until:
            log.debug("GraphMCP %s skipped: %s is down", tool, self._shown)
            return None
        try:
            payload = await self._call_tool(tool, arguments, listing)
        except _CallFailed as failure:
            if failure.connection:
                self._skip_until = time.monotonic() + self.retry_after
                self._connection_problem(str(failure))
            else:
                self._recovered(_CONNECTION)
                if failure.missing and role in OPTIONAL_ROLES:
                    self._optional_missing(role, tool)
                else:
                    self._tool_problem(role, str(failure))
            return None
        self._recovered(_CONNECTION)
        self._recovered(role)
        return payload

    async def _call_tool(
        self, tool: str, arguments: dict[str, Any], listing: str | None
    ) -> dict[str, Any]:
        import anyio

        try:
            with anyio.fail_after(self.timeout):
                async with self._client() as client:
                    result = await client.call_tool(tool, arguments)
        except TimeoutError:
            raise _CallFailed(f"no answer within {self.timeout:g} s", connection=True) from None
        except Exception as error:  # the transport's errors arrive in ExceptionGroups
            raise self._failure(error) from None
        payload = self._payload(tool, result)
        if listing is not None:
            # A bare list (`{"result": [...]}` from SDKs that wrap non-object returns) is
            # accepted for the named key.
            found = payload.get(listing, payload.get("result"))
            if not isinstance(found, list):
                raise _CallFailed(f"tool {tool!r} returned no {listing!r} list", connection=False)
            payload = {**payload, listing: found}
        return payload

    def _client(self) -> Client:
        from mcp import Client
        from mcp.client.streamable_http import streamable_http_client

        return Client(
            streamable_http_client(self.url, http_client=self._http_client()),
            cache=None,  # each Client lives for one call: nothing to cache between calls
            read_timeout_seconds=self.timeout,
        )

    def _http_client(self) -> httpx2.AsyncClient:
        loop = asyncio.get_running_loop()
        if self._http is None or self._http_loop is not loop:
            import httpx2

            self._http = httpx2.AsyncClient(timeout=httpx2.Timeout(self.timeout))
            self._http_loop = loop
        return self._http

    def _payload(self, tool: str, result: CallToolResult) -> dict[str, Any]:
        from mcp.types import TextContent

        texts = [block.text for block in result.content if isinstance(block, TextContent)]
        if result.is_error:
            message = self._scrub(" ".join(texts).strip() or "no message")
            missing = "unknown tool" in message.lower() or "not found" in message.lower()
            raise _CallFailed(
                f"tool {tool!r} failed: {message}"
                if not missing
                else f"the server has no tool {tool!r} ({message})",
                connection=False,
                missing=missing,
            )
        if isinstance(result.structured_content, dict):
            return result.structured_content
        for text in texts:
            try:
                parsed = json.loads(text)
            except ValueError:
                continue
            if isinstance(parsed, dict):
                return parsed
            if isinstance(parsed, list):
                return {"result": parsed}
        raise _CallFailed(f"tool {tool!r} returned no JSON object", connection=False)

    def _failure(self, error: BaseException) -> _CallFailed:
        from mcp import MCPError

        leaf = first_error(error)
        if isinstance(leaf, MCPError):
            message = self._scrub(str(leaf))
            missing = "unknown tool" in message.lower() or "not found" in message.lower()
            return _CallFailed(
                f"the server refused the call: {message}", connection=False, missing=missing
            )
        return _CallFailed(_reason(leaf), connection=True)

    def _scrub(self, text: str) -> str:
        """Server messages may quote the URL; only its credential-free form is shown."""
        return text.replace(self.url, self._shown) if self.url != self._shown else text

    # ------------------------------------------------------------------ outages

    def _connection_problem(self, problem: str) -> None:
        if _CONNECTION not in self._failing:
            log.warning(
                "GraphMCP at %s is unreachable (%s): turns go on without NPC memories and "
                "lore search until it answers",
                self._shown,
                problem,
            )
        else:
            log.debug("GraphMCP at %s still unreachable (%s)", self._shown, problem)
        self._failing[_CONNECTION] = problem

    def _tool_problem(self, role: str, problem: str) -> None:
        if role not in self._failing:
            hint = (
                f"; if GraphMCP names it differently, set MARDONAR_GRAPHMCP_TOOLS={role}=<its name>"
                if "has no tool" in problem
                else ""
            )
            log.warning(
                "GraphMCP at %s: %s — %s is skipped until it works%s",
                self._shown,
                problem,
                _ROLE_WORDS[role],
                hint,
            )
        self._failing[role] = problem

    def _optional_missing(self, role: str, tool: str) -> None:
        if role not in self._failing:
            log.info(
                "GraphMCP at %s has no %r tool: lore search uses the lore GraphMCP holds",
                self._shown,
                tool,
            )
        self._failing[role] = "missing"

    def _recovered(self, key: str) -> None:
        if self._failing.pop(key, None) is not None and key == _CONNECTION:
            log.info("GraphMCP at %s answers again", self._shown)


_ROLE_WORDS = {
    "recall": "recalling NPC memories",
    "remember": "storing NPC memories",
    "log": "storing encounter logs",
    "lore": "lore search",
    "index": "indexing lore",
}


def _reason(error: BaseException) -> str:
    """Why a connection failed, in words that never quote the URL."""
    import httpx2

    if isinstance(error, httpx2.ConnectError):
        # the OSError below the client's wrapper says what happened
        return os_reason(error) or "cannot connect"
    if isinstance(error, httpx2.TimeoutException):
        return "timed out"
    if isinstance(error, httpx2.HTTPStatusError):
        return f"HTTP {error.response.status_code}"
    if isinstance(error, httpx2.HTTPError):
        return type(error).__name__
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
