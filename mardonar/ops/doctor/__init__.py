"""The checks behind `mardonar doctor`: configuration, then every configured server.

Each part of a deployment (the two LLM backends, storage, memory, the Foundry relay,
Discord, the content of the current repository) becomes one or more `Row`s: ✓ works,
✗ broken (with the fix, naming the setting), ⚠ works but probably not as meant, – not
configured and not needed. A part that is not configured is not a failure: Mardonar has an
embedded fallback for all of them (the offline narrator, SQLite, recording items).

The network checks run concurrently, each under its own time limit, so doctor answers in
about one timeout even when every server is down (a refused connection fails at once; only
a silent host costs the full timeout). Secrets never reach a row: URLs are shown without
their credentials or query, and every row is scrubbed of the secret values
(`Settings.secrets()`) before `diagnose` returns it.

One file a section (`llm`, `storage`, `memory`, `relay`, `discord`, `content`; the shared
row and time limit in `rows`), so the next backend adds a file rather than growing one of
860 lines. Heavy libraries (httpx, redis, openai) are imported inside the checks that use
them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from pathlib import Path
from typing import TYPE_CHECKING

from mardonar.ops.doctor.content import content_rows
from mardonar.ops.doctor.discord import discord_rows
from mardonar.ops.doctor.llm import llm_sections
from mardonar.ops.doctor.memory import memory_section
from mardonar.ops.doctor.relay import relay_section
from mardonar.ops.doctor.rows import Row, failed, ready, scrub
from mardonar.ops.doctor.storage import storage_section

if TYPE_CHECKING:
    import httpx

    from mardonar.config import Settings

__all__ = ["DEFAULT_TIMEOUT", "Row", "diagnose", "failed"]

DEFAULT_TIMEOUT = 5.0


# ---------------------------------------------------------------------- entry point


def diagnose(settings: Settings, *, timeout: float = DEFAULT_TIMEOUT, cwd: Path) -> list[Row]:
    """Every row, in the order printed: settings, LLMs, storage, memory, relay, Discord,
    content. `timeout` is the limit, in seconds, of each network request."""
    rows = asyncio.run(_diagnose(settings, timeout=timeout, cwd=cwd))
    return scrub(rows, settings.secrets())


async def _diagnose(settings: Settings, *, timeout: float, cwd: Path) -> list[Row]:
    # Local checks first (lint may fork a process pool, which must not happen while other
    # threads hold locks), then all network checks at once.
    content = content_rows(cwd)
    # What is synchronous and slow (imports; clients: an httpx client loads the CA bundle
    # in ~50 ms) happens here, before the first check starts its clock. Done inside the
    # checks, it blocked the event loop while the others waited and inflated their
    # latencies (measured: a Redis PING reported as 184 ms, 60 ms after this change).
    _import_what_the_checks_use(settings)
    over_http = settings.memory.graphmcp_configured or settings.vtt.configured
    http = _http_client(timeout) if over_http else None
    try:
        sections: list[Awaitable[list[Row]]] = [
            ready(settings_rows(cwd)),
            *llm_sections(settings, timeout),
            storage_section(settings, timeout),
            memory_section(settings, timeout, http),
            relay_section(settings, timeout, http),
            ready(discord_rows(settings)),
            ready(content),
        ]
        results = await asyncio.gather(*sections)
    finally:
        if http is not None:
            await http.aclose()
    return [row for section in results for row in section]


def _import_what_the_checks_use(settings: Settings) -> None:
    """Import every module a configured check needs before any clock starts. An import is
    synchronous: done inside a check it stalls the event loop, and every other check's
    timeout runs on meanwhile (mcp alone takes ~1.4 s, so on a busy machine refused
    connections were reported as "no answer within 2.5 s" and `--timeout 0.5` took 26 s)."""
    import importlib

    modules: list[str] = []
    graphmcp, vtt = settings.memory.graphmcp_configured, settings.vtt.configured
    if settings.llm.configured:
        modules.append("mardonar.llm.openai_compat")  # openai: ~0.3 s
    if settings.store.redis_configured:
        modules += ["redis.asyncio", "redis.asyncio.retry", "redis.backoff", "redis.exceptions"]
    if graphmcp:
        modules += ["mardonar.memory.graphmcp", "mcp", "mcp.client.streamable_http", "httpx2"]
    if vtt:
        modules.append("mardonar.vtt.foundry")
    if graphmcp or vtt:
        modules.append("httpx")
    for name in modules:
        importlib.import_module(name)


def _http_client(timeout: float) -> httpx.AsyncClient:
    import httpx

    return httpx.AsyncClient(timeout=timeout, follow_redirects=False)


# ---------------------------------------------------------------------- settings


def settings_rows(cwd: Path) -> list[Row]:
    if (cwd / ".env").is_file():
        return [Row("Settings", "load", "ok", "read from the environment and .env")]
    return [Row("Settings", "load", "ok", "read from the environment (no .env in this folder)")]
