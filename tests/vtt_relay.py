"""A small Foundry REST API relay for tests: real HTTP on 127.0.0.1, an in-memory world.

It answers the endpoints mardonar.vtt.foundry uses, in the shapes of ThreeHats'
foundryvtt-rest-api-relay (`/search`, `/get`, `/give`, `/increase`, `/clients`; the API key
in `x-api-key`, the world in `clientId`), and records every request so a test can check
what was sent. Knobs for the failure paths: `fail_gives_to` (500 on gives to those
characters), a world without some actor (just leave it out), and `stop()` / a relay never
started (down). Nothing here is Mardonar code.
"""

from __future__ import annotations

import json
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

API_KEY = "relay-key-5f1c9a"
CLIENT_ID = "fvtt_7e2d4b6a"
XP_PATH = "system.details.xp.value"


@dataclass
class Actor:
    name: str
    items: list[str] = field(default_factory=list)
    """Names of the items given, in order."""
    xp: int = 0


@dataclass
class World:
    """The Foundry world behind the relay."""

    actors: dict[str, Actor] = field(default_factory=dict)
    """uuid → actor."""
    items: dict[str, str] = field(default_factory=dict)
    """uuid → name (world items `Item.x`, compendium items `Compendium.…`)."""
    fail_gives_to: set[str] = field(default_factory=set)
    """Character names whose gives answer HTTP 500."""
    requests: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def actor(self, name: str) -> Actor:
        return next(a for a in self.actors.values() if a.name == name)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class RelayServer:
    """`RelayServer(world).start()`; `.url` is the VTT_RELAY_URL to use (key and client id
    included). A server built but not started is a relay that is down."""

    def __init__(self, world: World, port: int | None = None) -> None:
        self.world = world
        self.port = port or free_port()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://:{API_KEY}@127.0.0.1:{self.port}/?clientId={CLIENT_ID}"

    def start(self) -> RelayServer:
        world = self.world

        class Handler(_Handler):
            pass

        Handler.world = world
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> RelayServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _Handler(BaseHTTPRequestHandler):
    world: World

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def _reply(self, status: int, payload: dict[str, Any]) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _handle(self, method: str) -> None:
        parts = urlsplit(self.path)
        query = {key: values[0] for key, values in parse_qs(parts.query).items()}
        length = int(self.headers.get("content-length") or 0)
        body: dict[str, Any] = json.loads(self.rfile.read(length)) if length else {}
        world = self.world
        with world.lock:
            world.requests.append(
                {
                    "method": method,
                    "path": parts.path,
                    "query": query,
                    "body": body,
                    "api_key": self.headers.get("x-api-key"),
                }
            )
            if self.headers.get("x-api-key") != API_KEY:
                return self._reply(401, {"error": "Invalid API key"})
            if parts.path == "/clients":
                clients = [{"id": CLIENT_ID, "worldTitle": "Mossback Test World"}]
                return self._reply(200, {"total": 1, "clients": clients})
            if (query.get("clientId") or body.get("clientId")) != CLIENT_ID:
                return self._reply(404, {"error": "Invalid client ID"})
            route = (method, parts.path)
            if route == ("GET", "/search"):
                return self._search(query)
            if route == ("GET", "/get"):
                return self._get(query)
            if route == ("POST", "/give"):
                return self._give(body)
            if route == ("POST", "/increase"):
                return self._increase(query, body)
            return self._reply(404, {"error": f"Cannot {method} {parts.path}"})

    def _search(self, query: dict[str, str]) -> None:
        wanted = query.get("query", "").casefold()
        kind = query.get("filter", "")
        found: list[dict[str, Any]] = []
        if kind in ("", "Actor"):
            for uuid, actor in self.world.actors.items():
                if wanted in actor.name.casefold():
                    found.append(_hit("Actor", uuid, actor.name))
        if kind in ("", "Item"):
            for uuid, name in self.world.items.items():
                if wanted in name.casefold():
                    found.append(_hit("Item", uuid, name))
        self._reply(200, {"type": "search-result", "query": wanted, "results": found})

    def _get(self, query: dict[str, str]) -> None:
        uuid = query.get("uuid", "")
        if uuid in self.world.items:
            data = {"name": self.world.items[uuid], "type": "loot"}
        elif uuid in self.world.actors:
            data = {"name": self.world.actors[uuid].name, "type": "character"}
        else:
            return self._reply(404, {"error": f"Entity not found: {uuid}"})
        self._reply(200, {"type": "entity-result", "uuid": uuid, "data": data})

    def _give(self, body: dict[str, Any]) -> None:
        actor = self.world.actors.get(str(body.get("toUuid")))
        item = self.world.items.get(str(body.get("itemUuid")))
        if actor is None or item is None:
            return self._reply(404, {"error": "Actor or item not found"})
        if actor.name in self.world.fail_gives_to:
            return self._reply(500, {"error": "Internal server error during give request"})
        actor.items.append(item)
        self._reply(
            200,
            {
                "type": "give-result",
                "toUuid": body["toUuid"],
                "itemUuid": body["itemUuid"],
                "quantity": body.get("quantity", 1),
                "newItemId": f"new{len(actor.items)}",
                "success": True,
            },
        )

    def _increase(self, query: dict[str, str], body: dict[str, Any]) -> None:
        actor = self.world.actors.get(query.get("uuid", ""))
        if actor is None:
            return self._reply(404, {"error": "Entity not found"})
        if body.get("attribute") != XP_PATH or not isinstance(body.get("amount"), int):
            return self._reply(400, {"error": "attribute and amount are required"})
        old = actor.xp
        actor.xp += body["amount"]
        result = {
            "uuid": query["uuid"],
            "attribute": XP_PATH,
            "oldValue": old,
            "newValue": actor.xp,
        }
        self._reply(200, {"type": "increase-result", "results": [result], "success": True})


def _hit(kind: str, uuid: str, name: str) -> dict[str, Any]:
    package = (
        uuid.split(".")[1] + "." + uuid.split(".")[2] if uuid.startswith("Compendium.") else None
    )
    return {
        "documentType": kind,
        "id": uuid.rsplit(".", 1)[-1],
        "name": name,
        "package": package,
        "uuid": uuid,
        "resultType": "CompendiumSearchItem" if package else "WorldEntity",
    }
