"""A real MCP server for the GraphMCP tests: the `mcp` SDK over streamable HTTP on 127.0.0.1.

`GraphServer` serves Mardonar's memory tools (docs/graphmcp.md) over an in-memory graph:
NPC nodes, memory nodes linked to their NPC (`remembers` edges) and lore nodes. It scores
like a vector store would: a similarity in 0..1 (the share of the query's words a memory
holds, or a score fixed when the memory is added), `"scoring": "similarity"`, so the client's
GRAPHMCP_SCORE_THRESHOLD applies. Knobs for the failure paths: roles built `without` are not
served at all, `failing` roles answer with a tool error, `garbled` ones with a result of the
wrong shape, `broken` answers every HTTP request with
500, `hang` makes every tool sleep, and `stop()` / `start()` take the server down and bring it
back on the same port.

`serve_in_thread` runs any ASGI app (also `mardonar serve mcp`'s, for tests/backends.py) with
uvicorn in a thread on a free loopback port.
"""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest
import uvicorn

from mardonar.memory.graphmcp import tool_names

_WORD = re.compile(r"[^\W_]+")
_STOPWORDS = frozenset({"a", "an", "and", "about", "the", "of", "to", "what", "does", "do", "is"})


def _words(text: str) -> set[str]:
    return {w.lower() for w in _WORD.findall(text) if w.lower() not in _STOPWORDS}


def _listening_socket(port: int = 0) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(64)
    return sock


class ThreadedServer:
    """uvicorn serving `app` from a thread, on a port that stays the same across restarts."""

    def __init__(self, app: Any, port: int = 0) -> None:
        self.app = app
        self.port = port
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None

    def start(self) -> None:
        sock = _listening_socket(self.port)
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app, log_level="warning", lifespan="on", timeout_graceful_shutdown=1
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the test MCP server did not start")
            time.sleep(0.01)
        self._server, self._thread, self._sock = server, thread, sock

    def stop(self) -> None:
        if self._server is None or self._thread is None:
            return
        self._server.should_exit = True
        self._thread.join(timeout=10)
        if self._sock is not None:
            self._sock.close()
        self._server = self._thread = self._sock = None


def serve_in_thread(app: Any) -> tuple[str, ThreadedServer]:
    """Start `app` on a free loopback port; returns its `/mcp` URL and the server to stop."""
    server = ThreadedServer(app)
    server.start()
    return f"http://127.0.0.1:{server.port}/mcp", server


@dataclass
class Graph:
    """The in-memory graph: nodes by id, and (source, relation, target) edges."""

    nodes: dict[str, dict[str, Any]] = field(default_factory=dict)
    edges: set[tuple[str, str, str]] = field(default_factory=set)

    def npc(self, scope: str, npc: str) -> str:
        node = f"npc:{scope}:{npc}"
        self.nodes.setdefault(node, {"type": "npc", "scope": scope, "npc": npc})
        return node

    def add_memory(
        self,
        *,
        scope: str,
        session_id: str,
        npc: str,
        fact: str,
        kind: str = "fact",
        turn: int = 0,
        score: float | None = None,
    ) -> None:
        """`score`, when given, is what every query that reaches this memory scores it."""
        owner = self.npc(scope, npc)
        for source, _rel, target in self.edges:
            held = self.nodes[target]
            if source == owner and (held["session_id"], held["kind"], held["fact"]) == (
                session_id,
                kind,
                fact,
            ):
                return
        node = f"memory:{len(self.nodes)}"
        self.nodes[node] = {
            "type": "memory",
            "order": len(self.nodes),
            "session_id": session_id,
            "npc": npc,
            "fact": fact,
            "kind": kind,
            "turn": turn,
            "score": score,
        }
        self.edges.add((owner, "remembers", node))

    def memories(self, scope: str, npc: str, session_id: str) -> list[dict[str, Any]]:
        owner = f"npc:{scope}:{npc}"
        held = [self.nodes[t] for s, rel, t in self.edges if s == owner and rel == "remembers"]
        visible = [m for m in held if m["session_id"] == session_id or m["kind"] == "encounter-log"]
        return sorted(visible, key=lambda m: -m["order"])

    def lore(self) -> list[dict[str, Any]]:
        return [node for node in self.nodes.values() if node["type"] == "lore"]


class GraphServer:
    """Mardonar's memory tools over a `Graph`, served for real on 127.0.0.1."""

    def __init__(
        self, tools: Mapping[str, str] | None = None, *, without: Iterable[str] = ()
    ) -> None:
        self.graph = Graph()
        self.names = tool_names(tools)
        self.without = frozenset(without)
        self.failing: set[str] = set()
        self.garbled: set[str] = set()
        self.broken = False
        self.hang = 0.0
        self.calls: list[str] = []
        self._thread = ThreadedServer(self._app())

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._thread.port}/mcp"

    def start(self) -> None:
        self._thread.app = self._app()  # an MCP app runs once: a restart needs a new one
        self._thread.start()

    def stop(self) -> None:
        self._thread.stop()

    # ------------------------------------------------------------------ the tools

    def _app(self) -> Any:
        from mcp.server.mcpserver import MCPServer

        server = MCPServer("test-graphmcp", log_level="WARNING")
        handlers = {
            "recall": self._recall,
            "remember": self._remember,
            "log": self._log,
            "lore": self._search_lore,
            "index": self._index_lore,
        }
        for role, handler in handlers.items():
            if role not in self.without:
                server.add_tool(self._knobs(role, handler), name=self.names[role])
        app = server.streamable_http_app(stateless_http=True, json_response=True)
        return self._breakable(app)

    def _knobs(self, role: str, handler: Any) -> Any:
        import functools

        import anyio
        from mcp.server.mcpserver.exceptions import ToolError

        @functools.wraps(handler)
        async def tool(*args: Any, **kwargs: Any) -> Any:
            self.calls.append(self.names[role])
            if self.hang:
                await anyio.sleep(self.hang)
            if role in self.failing:
                raise ToolError("graph database offline")
            if role in self.garbled:
                return {"scoring": "similarity", "memories": "not a list", "lore": 42}
            return handler(*args, **kwargs)

        return tool

    def _breakable(self, app: Any) -> Any:
        async def wrapper(scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] == "http" and self.broken:
                await send({"type": "http.response.start", "status": 500, "headers": []})
                await send({"type": "http.response.body", "body": b"boom"})
                return
            await app(scope, receive, send)

        return wrapper

    def _recall(
        self, scope: str, session_id: str, npc: str, query: str = "", limit: int = 8
    ) -> dict[str, Any]:
        wanted = _words(query)
        found: list[dict[str, Any]] = []
        for memory in self.graph.memories(scope, npc, session_id):
            if not wanted:
                score = None
            elif memory["score"] is not None:
                score = memory["score"]
            else:
                score = len(wanted & _words(memory["fact"])) / len(wanted)
                if score == 0:
                    continue
            found.append(
                {**{k: memory[k] for k in ("npc", "fact", "kind", "turn")}, "score": score}
            )
        found.sort(key=lambda m: -(m["score"] or 0))
        return {"scoring": "similarity", "memories": found[:limit]}

    def _remember(
        self, scope: str, session_id: str, npc: str, fact: str, kind: str = "fact", turn: int = 0
    ) -> dict[str, Any]:
        self.graph.add_memory(
            scope=scope, session_id=session_id, npc=npc, fact=fact, kind=kind, turn=turn
        )
        return {"stored": True}

    def _log(
        self, scope: str, session_id: str, npc: str, fact: str, turn: int = 0
    ) -> dict[str, Any]:
        return self._remember(scope, session_id, npc, fact, "encounter-log", turn)

    def _search_lore(self, query: str, limit: int = 3) -> dict[str, Any]:
        wanted = _words(query)
        hits = []
        for node in self.graph.lore():
            text = _words(" ".join([node["title"], *node["keywords"], node["body"]]))
            score = len(wanted & text) / len(wanted) if wanted else 0.0
            if score > 0:
                snippet = node["body"][:80]
                hits.append(
                    {
                        "lore_id": node["lore_id"],
                        "title": node["title"],
                        "snippet": snippet,
                        "score": node.get("score") or score,
                    }
                )
        hits.sort(key=lambda h: -h["score"])
        return {"scoring": "similarity", "lore": hits[:limit]}

    def _index_lore(self, documents: list[dict[str, Any]]) -> dict[str, Any]:
        for node in [n for n, v in self.graph.nodes.items() if v["type"] == "lore"]:
            del self.graph.nodes[node]
        for document in documents:
            self.graph.nodes[f"lore:{document['lore_id']}"] = {
                "type": "lore",
                "lore_id": document["lore_id"],
                "title": document.get("title", ""),
                "keywords": list(document.get("keywords", [])),
                "body": document.get("body", ""),
            }
        return {"indexed": len(documents)}


@pytest.fixture
def graph_server() -> Iterator[GraphServer]:
    """A running `GraphServer` with Mardonar's default tool names."""
    server = GraphServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()
