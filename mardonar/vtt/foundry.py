"""A client of the Foundry REST API relay (VTT_RELAY_URL), over httpx.

The relay is ThreeHats' foundryvtt-rest-api-relay
(github.com/ThreeHats/foundryvtt-rest-api-relay), the HTTP side of the `foundry-rest-api`
Foundry module: HTTP requests come in, the relay forwards them over a WebSocket to the
Foundry world (the "client") and answers with the module's result.
Everything we depend on is in this file, so adapting to another relay (or a new version of
this one) is a change here only. We use:

- item by uuid: `GET /get?uuid=UUID`; a 2xx answer with a `data` object means it exists.
- item or actor by name: `GET /search?query=NAME&filter=Item` (or `Actor`); we read
  `results[]`: `name`, `uuid`, `documentType`, `package` (set for compendium hits).
- give an item: `POST /give` with `{"toUuid", "itemUuid", "quantity": 1}`.
- add XP: `POST /increase?uuid=ACTOR` with `{"attribute": XP_ATTRIBUTE, "amount": N}`.
- readiness (doctor): `GET /clients`; we read `clients[]` (`id`, `worldTitle`).

A write succeeded when the status is 2xx, there is no `error` and `success` is not false.

Every request carries the API key as the `x-api-key` header and the world's client id as
the `clientId` query parameter (and the `x-client-id` header, which newer relays read).
Both come from VTT_RELAY_URL, so the one setting of CONTRACT §9 is enough:
`https://:API_KEY@relay.example.com/?clientId=fvtt_0123abcd` — the key as the URL's password
(masked wherever URLs are shown), the client id in the query (never shown). A path in the
URL is a prefix (`https://host/api` → `https://host/api/search`); `ws://` and `wss://` are
asked over `http://` and `https://`.

Errors come back as `{"error": "..."}` with a 4xx/5xx status. A relay that cannot be
reached, times out, refuses the key, answers 502–504 or has no Foundry world connected is
"down" (the whole batch waits); any other failure concerns that one grant.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit, urlunsplit

from mardonar.urls import shown_url
from mardonar.vtt.base import RelayResult

if TYPE_CHECKING:
    import httpx

__all__ = ["XP_ATTRIBUTE", "FoundryRelay", "RelayAddress"]

XP_ATTRIBUTE = "system.details.xp.value"
"""Where an actor keeps its experience points (the dnd5e system's data path)."""

DEFAULT_TIMEOUT = 10.0
"""Seconds for one relay request; the relay itself gives the Foundry world 10 s."""

_CLIENT_ID_KEYS = ("clientId", "clientid", "client_id")
# Answers of the relay that mean no request can succeed until the operator acts.
_NO_WORLD = ("invalid client id", "no connected foundry clients", "clientid")


@dataclass(frozen=True)
class RelayAddress:
    """VTT_RELAY_URL taken apart: where to send requests, and the credentials to send."""

    base: str
    """scheme://host[:port][/prefix], without credentials, query or trailing slash."""
    api_key: str | None
    client_id: str | None
    shown: str
    """The URL fit to print: no credentials, no query."""

    @classmethod
    def parse(cls, url: str) -> RelayAddress:
        parts = urlsplit(url)
        scheme = {"ws": "http", "wss": "https"}.get(parts.scheme.lower(), parts.scheme.lower())
        host = parts.hostname or ""
        if ":" in host:  # an IPv6 literal goes back into brackets
            host = f"[{host}]"
        if parts.port is not None:
            host = f"{host}:{parts.port}"
        query = parse_qs(parts.query)
        client_id = next((query[key][0] for key in _CLIENT_ID_KEYS if query.get(key)), None)
        base = urlunsplit((scheme, host, parts.path.rstrip("/"), "", ""))
        return cls(
            base=base,
            api_key=parts.password or None,
            client_id=client_id,
            shown=shown_url(url),
        )


class FoundryRelay:
    """`ItemRelay` over the Foundry REST API relay. Never raises from a call: every failure
    is a `RelayResult` with a reason that names no secret."""

    def __init__(
        self,
        url: str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        transport: httpx.AsyncBaseTransport | None = None,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        """`http`: a client to share (doctor's); it is then not closed by `aclose`."""
        self.address = RelayAddress.parse(url)
        self.shown = self.address.shown
        self.timeout = timeout
        self._headers = {"accept": "application/json"}
        self._params: dict[str, str] = {}
        if self.address.api_key:
            self._headers["x-api-key"] = self.address.api_key
        if self.address.client_id:
            self._headers["x-client-id"] = self.address.client_id
            self._params["clientId"] = self.address.client_id
        self._owned = http is None
        if http is None:
            import httpx

            http = httpx.AsyncClient(follow_redirects=False, transport=transport)
        self._http = http

    # ------------------------------------------------------------------ ItemRelay

    async def find_item(self, *, uuid: str | None, name: str) -> RelayResult:
        missing = ""
        if uuid:
            data, problem = await self._call("GET", "get", params={"uuid": uuid})
            if problem is None and isinstance(data.get("data"), dict):
                return RelayResult.found(str(data.get("uuid") or uuid))
            if problem is not None and problem.relay_down:
                return problem
            missing = f"no item {uuid} in Foundry and "
        found = await self._search(name, "Item")
        if found.ok or found.relay_down:
            return found
        return RelayResult.failed(f"{missing}{found.reason}")

    async def find_actor(self, name: str) -> RelayResult:
        return await self._search(name, "Actor")

    async def give_item(self, actor_uuid: str, item_uuid: str) -> RelayResult:
        body = {"toUuid": actor_uuid, "itemUuid": item_uuid, "quantity": 1}
        _, problem = await self._call("POST", "give", body=body)
        return problem or RelayResult.found(actor_uuid)

    async def add_xp(self, actor_uuid: str, amount: int) -> RelayResult:
        body = {"attribute": XP_ATTRIBUTE, "amount": amount}
        _, problem = await self._call("POST", "increase", params={"uuid": actor_uuid}, body=body)
        return problem or RelayResult.found(actor_uuid)

    async def aclose(self) -> None:
        if self._owned:
            await self._http.aclose()

    # ------------------------------------------------------------------ readiness

    async def connected_worlds(self) -> tuple[list[str] | None, RelayResult | None]:
        """The titles of the Foundry worlds connected to the relay under our key
        (`GET /clients`; only ours when the URL names a clientId), None when the answer is
        not the relay's (another server), or why it could not be asked."""
        data, problem = await self._call("GET", "clients")
        if problem is not None:
            return None, problem
        clients = data.get("clients")
        if not isinstance(clients, list):
            return None, None
        worlds: list[str] = []
        for client in clients:
            if isinstance(client, dict):
                if self.address.client_id and client.get("id") != self.address.client_id:
                    continue
                worlds.append(str(client.get("worldTitle") or "untitled world"))
        return worlds, None

    # ------------------------------------------------------------------ plumbing

    async def _search(self, name: str, document_type: str) -> RelayResult:
        data, problem = await self._call(
            "GET", "search", params={"query": name, "filter": document_type}
        )
        if problem is not None:
            return problem
        results = data.get("results")
        wanted = name.casefold()
        matches = [
            hit
            for hit in (results if isinstance(results, list) else [])
            if isinstance(hit, dict)
            and str(hit.get("name", "")).casefold() == wanted
            and hit.get("documentType", document_type) == document_type
            and hit.get("uuid")
        ]
        # A world document before a compendium copy: grants go to the actor in play, and a
        # world item is the one the GM may have adjusted.
        matches.sort(
            key=lambda hit: bool(hit.get("package")) or str(hit["uuid"]).startswith("Compendium.")
        )
        if not matches:
            kind = "actor" if document_type == "Actor" else "item"
            return RelayResult.failed(f"no {kind} named {name!r} in Foundry")
        return RelayResult.found(str(matches[0]["uuid"]))

    async def _call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        body: dict[str, Any] | None = None,
    ) -> tuple[dict[str, Any], RelayResult | None]:
        """One request → (the JSON object answered, None) or ({}, why it failed)."""
        import httpx

        from mardonar.netreason import connect_reason

        try:
            response = await self._http.request(
                method,
                f"{self.address.base}/{path}",
                params={**self._params, **(params or {})},
                json=body,
                headers=self._headers,
                timeout=self.timeout,
            )
        except httpx.TimeoutException:
            return {}, self._down(f"no answer within {self.timeout:g} s")
        except httpx.HTTPError as error:
            return {}, self._down(f"cannot reach it ({self._clean(connect_reason(error))})")
        try:
            data = response.json()
        except ValueError:
            data = None
        answer: dict[str, Any] = data if isinstance(data, dict) else {}
        status = response.status_code
        message = self._clean(" ".join(str(answer.get("error") or "").split())[:160])
        said = f"HTTP {status}" + (f": {message}" if message else "")
        if status in (401, 403):
            return {}, self._down(
                f"it refused the API key ({said}); check the key in VTT_RELAY_URL"
            )
        if status in (502, 503, 504):
            return {}, self._down(f"it is unavailable ({said})")
        if status == 408:
            return {}, self._down(f"the Foundry world did not answer in time ({said})")
        if any(hint in message.lower() for hint in _NO_WORLD):
            return {}, self._down(
                f"no usable Foundry world ({said}); open the world with the REST API module "
                "enabled, and put its ?clientId= in VTT_RELAY_URL"
            )
        if status >= 400 or message:
            return {}, RelayResult.failed(f"the relay answered {said}")
        if answer.get("success") is False:
            return {}, RelayResult.failed(f"the relay answered HTTP {status} without success")
        return answer, None

    def _down(self, what: str) -> RelayResult:
        return RelayResult.failed(f"relay {self.shown}: {what}", relay_down=True)

    def _clean(self, text: str) -> str:
        """Whatever a server or a library said, without our key or client id in it."""
        for secret in (self.address.api_key, self.address.client_id):
            if secret:
                text = text.replace(secret, "***")
        return text
