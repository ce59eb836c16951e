"""The Foundry relay row: reachable over HTTP, then which Foundry worlds it has connected."""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable
from dataclasses import replace
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from mardonar.netreason import connect_reason
from mardonar.ops.doctor.rows import Row, guarded, not_configured
from mardonar.urls import shown_url

if TYPE_CHECKING:
    import httpx

    from mardonar.config import Settings


def relay_section(
    settings: Settings, timeout: float, http: httpx.AsyncClient | None
) -> Awaitable[list[Row]]:
    url = settings.vtt.relay_url
    if url is None:
        return not_configured("Foundry relay", "reachable", "items are recorded, not pushed")
    assert http is not None
    fix = "start the relay or fix VTT_RELAY_URL (leave it empty to record items, not push them)"

    async def reachable_then_world() -> list[Row]:
        rows = await http_reachable("Foundry relay", "reachable", url, http, timeout, fix)
        if rows[0].status != "ok":
            return rows
        return [await relay_world_row(rows[0], url, http, timeout, fix)]

    return guarded(
        reachable_then_world(),
        part="Foundry relay",
        name="reachable",
        timeout=timeout,
        limit=2 * timeout + 2,
        fix=fix,
    )


async def relay_world_row(
    row: Row, url: str, http: httpx.AsyncClient, timeout: float, row_fix: str
) -> Row:
    """The relay answers: ask it (`GET /clients`, with the API key of VTT_RELAY_URL) which
    Foundry worlds are connected, since grants need one. A server that does not answer like
    the REST API relay is a warning: reachable, but grants would not go through."""
    from mardonar.vtt.foundry import FoundryRelay

    relay = FoundryRelay(url, timeout=timeout, http=http)
    worlds, problem = await relay.connected_worlds()
    if problem is not None and problem.relay_down:
        key_fix = "put the relay's API key in VTT_RELAY_URL (https://:API_KEY@host/?clientId=...)"
        world_fix = (
            "open the Foundry world with the REST API module enabled, and put its clientId "
            "in VTT_RELAY_URL (...?clientId=...)"
        )
        fix = (
            key_fix
            if "API key" in problem.reason
            else world_fix
            if "Foundry world" in problem.reason
            else row_fix
        )
        return replace(row, status="fail", detail=problem.reason, fix=fix)
    if worlds is None:
        # Something answers, but not as the relay: grants would fail at the first resolve.
        return replace(
            row,
            status="warn",
            detail=f"{row.detail}, but GET /clients did not answer like the Foundry REST API "
            "relay: grants will fail and stay pending",
            fix="point VTT_RELAY_URL at the Foundry REST API relay",
        )
    if not worlds:
        return replace(
            row,
            status="warn",
            detail=f"{row.detail}, but no Foundry world is connected to it: grants stay pending",
            fix="open the Foundry world with the REST API module enabled (and check the "
            "clientId in VTT_RELAY_URL)",
        )
    shown = ", ".join(repr(world) for world in worlds)
    # The reachability GET carries no API key, so its status (often 401) says nothing here.
    reached = re.sub(r" answered HTTP \d+ in ", " answered in ", row.detail)
    return replace(row, detail=f"{reached}; Foundry world {shown} connected")


async def http_reachable(
    part: str, check: str, url: str, http: httpx.AsyncClient, timeout: float, fix: str
) -> list[Row]:
    """Any HTTP answer within `timeout` counts: this is about the network path, not the
    protocol (GraphMCP's MCP handshake is issue #7's). ws:// and wss:// are asked over
    http:// and https://, which every WebSocket server answers (usually with 400 or 426)."""

    async def ask() -> list[Row]:
        import httpx

        target = url
        scheme = urlsplit(url).scheme.lower()
        if scheme in ("ws", "wss"):
            target = ("https" if scheme == "wss" else "http") + url[len(scheme) :]
        shown = shown_url(url)
        started = time.perf_counter()
        try:
            response = await http.get(target)
        except httpx.TimeoutException:
            return [Row(part, check, "fail", f"{shown}: no answer within {timeout:g} s", fix)]
        except httpx.HTTPError as error:
            return [Row(part, check, "fail", f"cannot reach {shown}: {connect_reason(error)}", fix)]
        elapsed = time.perf_counter() - started
        return [
            Row(
                part,
                check,
                "ok",
                f"{shown} answered HTTP {response.status_code} in {elapsed * 1000:.0f} ms",
            )
        ]

    return await guarded(ask(), part=part, name=check, timeout=timeout, limit=timeout + 1, fix=fix)
