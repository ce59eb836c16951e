"""The checks behind `mardonar doctor`: configuration, then every configured server.

Each part of a deployment (the two LLM backends, storage, memory, the Foundry relay,
Discord, the content of the current repository) becomes one or more `Row`s: ✓ works,
✗ broken (with the fix, naming the setting), ⚠ works but probably not as meant, – not
configured and not needed. A part that is not configured is not a failure: Mardonar has an
embedded fallback for all of them (the offline narrator, SQLite, recording items).

The network checks run concurrently, each under its own time limit, so doctor answers in
about one timeout even when every server is down (a refused connection fails at once; only
a silent host costs the full timeout). Secrets never reach a row: URLs are shown without
their credentials or query, and every row is scrubbed of the secret values before it leaves
this module.

Heavy libraries (httpx, redis, openai) are imported inside the checks that use them.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import errno
import os
import re
import socket
import sqlite3
import tempfile
import time
from collections.abc import Awaitable, Iterable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

from mardonar.urls import shown_url

if TYPE_CHECKING:
    import httpx
    import redis.asyncio as aioredis

    from mardonar.config import Settings
    from mardonar.llm.openai_compat import OpenAICompatLLM

Status = Literal["ok", "fail", "warn", "skip"]

SYMBOLS: dict[str, str] = {"ok": "✓", "fail": "✗", "warn": "⚠", "skip": "–"}
"""How each status is printed in the table; `--format json` prints the word instead."""

DEFAULT_TIMEOUT = 5.0

PRIMARY = "LLM primary (LiteLLM)"
FALLBACK = "LLM fallback (Ollama)"


@dataclass(frozen=True, slots=True)
class Row:
    """One line of the report."""

    part: str
    """The part of the deployment: "LLM primary (LiteLLM)", "Storage", "Discord", ..."""
    check: str
    """What was checked: "reachable", "model", "PING", "token", ..."""
    status: Status
    """ok (✓), fail (✗), warn (⚠) or skip (– not configured, not needed)."""
    detail: str
    """What was found, in words; never a secret."""
    fix: str = ""
    """For a fail or a warning: what to do, naming the setting."""

    @property
    def symbol(self) -> str:
        return SYMBOLS[self.status]

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


def failed(rows: Iterable[Row], *, strict: bool = False) -> bool:
    """Whether doctor exits 1: any ✗, or with `strict` any ⚠ too."""
    bad = {"fail", "warn"} if strict else {"fail"}
    return any(row.status in bad for row in rows)


# ---------------------------------------------------------------------- entry point


def diagnose(settings: Settings, *, timeout: float = DEFAULT_TIMEOUT, cwd: Path) -> list[Row]:
    """Every row, in the order printed: settings, LLMs, storage, memory, relay, Discord,
    content. `timeout` is the limit, in seconds, of each network request."""
    rows = asyncio.run(_diagnose(settings, timeout=timeout, cwd=cwd))
    return scrub(rows, secrets_of(settings))


async def _diagnose(settings: Settings, *, timeout: float, cwd: Path) -> list[Row]:
    # Local checks first (lint may fork a process pool, which must not happen while other
    # threads hold locks), then all network checks at once.
    content = content_rows(cwd)
    # What is synchronous and slow (imports; clients: an httpx client loads the CA bundle
    # in ~50 ms) happens here, before the first check starts its clock. Done inside the
    # checks, it blocked the event loop while the others waited and inflated their
    # latencies (measured: a Redis PING reported as 184 ms, 60 ms after this change).
    _import_what_the_checks_use(settings)
    http = (
        _http_client(timeout) if settings.graphmcp_configured or settings.vtt_configured else None
    )
    try:
        sections: list[Awaitable[list[Row]]] = [
            _ready(settings_rows(cwd)),
            *llm_sections(settings, timeout),
            storage_section(settings, timeout),
            memory_section(settings, timeout, http),
            relay_section(settings, timeout, http),
            _ready(discord_rows(settings)),
            _ready(content),
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
    if settings.llm_configured:
        modules.append("mardonar.llm.openai_compat")  # openai: ~0.3 s
    if settings.redis_configured:
        modules += ["redis.asyncio", "redis.asyncio.retry", "redis.backoff", "redis.exceptions"]
    if settings.graphmcp_configured:
        modules += ["mardonar.memory.graphmcp", "mcp", "mcp.client.streamable_http", "httpx2"]
    if settings.vtt_configured:
        modules.append("mardonar.vtt.foundry")
    if settings.graphmcp_configured or settings.vtt_configured:
        modules.append("httpx")
    for name in modules:
        importlib.import_module(name)


def _http_client(timeout: float) -> httpx.AsyncClient:
    import httpx

    return httpx.AsyncClient(timeout=timeout, follow_redirects=False)


async def _ready(rows: list[Row]) -> list[Row]:
    return rows


async def guarded(
    check: Awaitable[list[Row]], *, part: str, name: str, timeout: float, limit: float, fix: str
) -> list[Row]:
    """Run a network check under `limit` seconds (its requests' `timeout`s, plus slack); a
    timeout or a surprise becomes a ✗ row rather than a crash, so one broken part never
    hides the others. A timeout is reported as the `timeout` the user gave (--timeout), the
    number they can act on."""
    try:
        return await asyncio.wait_for(check, limit)
    except TimeoutError:
        return [Row(part, name, "fail", f"no answer within {timeout:g} s", fix)]
    except Exception as error:  # a check must never take the whole report down
        return [Row(part, name, "fail", f"check failed: {_reason(error)}", fix)]


# ---------------------------------------------------------------------- settings


def settings_rows(cwd: Path) -> list[Row]:
    if (cwd / ".env").is_file():
        return [Row("Settings", "load", "ok", "read from the environment and .env")]
    return [Row("Settings", "load", "ok", "read from the environment (no .env in this folder)")]


# ---------------------------------------------------------------------- LLM backends


def llm_sections(settings: Settings, timeout: float) -> list[Awaitable[list[Row]]]:
    """LiteLLM then Ollama: probed when configured, ✗ when half-configured, else a note."""
    from mardonar.llm.select import configured_backends

    primary_half = _half_configured(
        "LITELLM", settings.litellm_base_url, settings.litellm_model
    ) or _key_without_url(settings)
    fallback_half = _half_configured("OLLAMA", settings.ollama_base_url, settings.ollama_model)
    if not (settings.llm_configured or primary_half or fallback_half):
        return [
            _ready(
                [
                    Row(
                        "LLM",
                        "backend",
                        "ok",
                        "not configured — the offline narrator plays "
                        "(set LITELLM_BASE_URL and LITELLM_MODEL to use a model)",
                    )
                ]
            )
        ]

    sections: list[Awaitable[list[Row]]] = []
    backends = {llm.label: llm for llm in configured_backends(settings, timeout=timeout)}
    if "litellm" in backends:
        sections.append(llm_probe(PRIMARY, backends["litellm"], timeout=timeout))
    elif primary_half:
        sections.append(_ready([primary_half]))
    else:
        sections.append(
            _ready([Row(PRIMARY, "configuration", "skip", "not configured: Ollama plays alone")])
        )

    if "ollama" in backends:
        sections.append(llm_probe(FALLBACK, backends["ollama"], timeout=timeout))
    elif fallback_half:
        sections.append(_ready([fallback_half]))
    else:
        sections.append(
            _ready(
                [
                    Row(
                        FALLBACK,
                        "configuration",
                        "skip",
                        "not configured: when the primary fails, the persona's fallback "
                        "lines are said",
                    )
                ]
            )
        )
    return sections


def _half_configured(prefix: str, url: str | None, model: str | None) -> Row | None:
    """The rows behind `Settings.incomplete()`: a base URL without a model, or the reverse."""
    part = PRIMARY if prefix == "LITELLM" else FALLBACK
    if url and not model:
        return Row(
            part,
            "configuration",
            "fail",
            f"{prefix}_BASE_URL is set but {prefix}_MODEL is not, so this backend is not used",
            f"set {prefix}_MODEL to a model the server has, or unset {prefix}_BASE_URL",
        )
    if model and not url:
        return Row(
            part,
            "configuration",
            "fail",
            f"{prefix}_MODEL is set but {prefix}_BASE_URL is not, so this backend is not used",
            f"set {prefix}_BASE_URL to the server's URL, or unset {prefix}_MODEL",
        )
    return None


def _key_without_url(settings: Settings) -> Row | None:
    if settings.litellm_api_key is None or settings.litellm_base_url:
        return None
    return Row(
        PRIMARY,
        "configuration",
        "fail",
        "LITELLM_API_KEY is set but LITELLM_BASE_URL is not, so this backend is not used",
        "set LITELLM_BASE_URL (and LITELLM_MODEL), or unset LITELLM_API_KEY",
    )


async def llm_probe(part: str, llm: OpenAICompatLLM, *, timeout: float) -> list[Row]:
    """The backend's own probe (reachable, model, tool calls), one row per check."""
    prefix = llm.settings_prefix

    async def probe() -> list[Row]:
        try:
            probes = await llm.probe(timeout=timeout)
        finally:
            await llm.aclose()
        return [Row(part, p.check, _probe_status(p.ok, p.detail), p.detail, p.fix) for p in probes]

    # The probe makes up to three requests in a row (the model list, a chat asking for a
    # tool, once more with tool_choice "auto"), each limited to `timeout`; this outer limit
    # only guards against a hang.
    return await guarded(
        probe(),
        part=part,
        name="reachable",
        timeout=timeout,
        limit=3 * timeout + 1,
        fix=f"check that the server at {prefix}_BASE_URL is up, or raise --timeout",
    )


def _probe_status(ok: bool, detail: str) -> Status:
    """A check the probe skipped because an earlier one failed is –, not a second ✗: one
    server down is one failure to fix."""
    if ok:
        return "ok"
    return "skip" if detail.startswith("not checked") else "fail"


# ---------------------------------------------------------------------- storage and memory


def storage_section(settings: Settings, timeout: float) -> Awaitable[list[Row]]:
    """Redis when REDIS_URL is set (plus DATA_DIR, which still holds tally and summaries);
    otherwise the embedded SQLite database under DATA_DIR."""
    need_fts5 = not settings.graphmcp_configured  # embedded memory search uses FTS5
    if settings.redis_url is None:
        return _ready(
            [data_dir_row(settings.data_dir, "embedded SQLite", need_fts5, embedded=True)]
        )
    data = data_dir_row(settings.data_dir, "DATA_DIR", need_fts5)
    try:
        client = redis_client(settings.redis_url, timeout)
    except ValueError as error:  # the scheme was checked when loading; the rest was not
        bad = Row(
            "Storage",
            "Redis PING",
            "fail",
            f"REDIS_URL is not a usable Redis URL: {_reason(error)}",
            "set REDIS_URL to a URL such as redis://localhost:6379/0",
        )
        return _ready([bad, data])
    shown = shown_url(settings.redis_url)
    has_password = bool(urlsplit(settings.redis_url).password)

    async def both() -> list[Row]:
        redis_rows = await guarded(
            redis_check(client, shown, timeout, has_password=has_password),
            part="Storage",
            name="Redis PING",
            timeout=timeout,
            limit=timeout + 1,
            fix=_REDIS_FIX,
        )
        return [*redis_rows, data]

    return both()


_REDIS_FIX = (
    "start Redis at that address or fix REDIS_URL (leave it empty to use the embedded SQLite store)"
)


def redis_client(url: str, timeout: float) -> aioredis.Redis:
    import redis.asyncio as aioredis
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff

    return aioredis.from_url(
        url,
        socket_connect_timeout=timeout,
        socket_timeout=timeout,
        retry=Retry(NoBackoff(), 0),  # doctor reports; the store retries
    )


async def redis_check(
    client: aioredis.Redis, shown: str, timeout: float, *, has_password: bool
) -> list[Row]:
    """PING, then the server's version; every failure a ✗ naming REDIS_URL."""
    from redis.exceptions import AuthenticationError, RedisError, ResponseError
    from redis.exceptions import TimeoutError as RedisTimeout

    def fail(detail: str, fix: str = _REDIS_FIX) -> list[Row]:
        return [Row("Storage", "Redis PING", "fail", detail, fix)]

    password_fix = "put the password in REDIS_URL (redis://:PASSWORD@host:6379/0)"
    started = time.perf_counter()
    try:
        await client.ping()
        elapsed = time.perf_counter() - started
        info: dict[str, Any] = await client.info("server")
    except (AuthenticationError, ResponseError) as error:
        # NOAUTH (or, from redis-py's HELLO, an AuthenticationError) when no password was
        # sent; WRONGPASS when the wrong one was
        if not has_password and (isinstance(error, AuthenticationError) or "NOAUTH" in str(error)):
            return fail(f"{shown} wants a password and REDIS_URL has none", password_fix)
        if isinstance(error, AuthenticationError):
            return fail(
                f"{shown} refused the password: {_reason(error, most=80)}",
                "fix the user or password in REDIS_URL (redis://:PASSWORD@host:6379/0)",
            )
        return fail(f"{shown} answered with an error: {_reason(error)}", "check the server's logs")
    except (RedisTimeout, TimeoutError):
        return fail(f"{shown}: no answer within {timeout:g} s")
    except (RedisError, OSError) as error:
        return fail(f"cannot reach {shown}: {connect_reason(error)}")
    finally:
        await client.aclose()
    version = info.get("redis_version", "unknown version")
    return [
        Row(
            "Storage",
            "Redis PING",
            "ok",
            f"Redis {version} at {shown} answered in {elapsed * 1000:.0f} ms",
        )
    ]


def data_dir_row(data_dir: Path, check: str, need_fts5: bool, *, embedded: bool = False) -> Row:
    """DATA_DIR exists (created if need be) and takes a file; SQLite has FTS5 if needed."""
    where = str(data_dir)
    fix = "set DATA_DIR to a directory this user can write, or fix its permissions"
    if data_dir.exists() and not data_dir.is_dir():
        return Row("Storage", check, "fail", f"DATA_DIR {where} is a file, not a directory", fix)
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(prefix=".doctor-", dir=data_dir)
        try:
            os.write(handle, b"ok")
        finally:
            os.close(handle)
            os.unlink(name)
    except OSError as error:
        return Row(
            "Storage",
            check,
            "fail",
            f"DATA_DIR {where} is not writable: {error.strerror or error}",
            fix,
        )
    found = [f"DATA_DIR={where} is writable"]
    if need_fts5:
        problem = fts5_problem()
        if problem is not None:
            return Row(
                "Storage",
                check,
                "fail",
                f"SQLite {sqlite3.sqlite_version} has no FTS5 ({problem}): the embedded "
                "memory and lore search need it",
                "run Mardonar on a Python whose sqlite3 has FTS5 (python.org and most "
                "distributions' builds do), or set GRAPHMCP_URL",
            )
        found.append(f"SQLite {sqlite3.sqlite_version} with FTS5")
    if embedded:
        found.insert(0, f"sessions in {data_dir / 'mardonar.db'} (REDIS_URL unset)")
    else:
        found.append("tally.json and summaries/ go here")
    return Row("Storage", check, "ok", "; ".join(found))


def fts5_problem() -> str | None:
    """None when this Python's sqlite3 can create an FTS5 table, else SQLite's complaint."""
    db = sqlite3.connect(":memory:")
    try:
        db.execute("CREATE VIRTUAL TABLE doctor_probe USING fts5(body)")
    except sqlite3.Error as error:
        return str(error)
    finally:
        db.close()
    return None


def memory_section(
    settings: Settings, timeout: float, http: httpx.AsyncClient | None
) -> Awaitable[list[Row]]:
    if settings.graphmcp_url is None:
        return _ready(
            [
                Row(
                    "Memory",
                    "GraphMCP",
                    "ok",
                    "not configured: NPC memory and lore search use the embedded SQLite "
                    "database (FTS5)",
                )
            ]
        )
    fix = "start GraphMCP or fix GRAPHMCP_URL (leave it empty for the embedded search)"
    check = _graphmcp_tools(settings.graphmcp_url, settings.mardonar_graphmcp_tools, timeout, fix)
    return guarded(
        check, part="Memory", name="GraphMCP", timeout=timeout, limit=timeout + 1, fix=fix
    )


async def _graphmcp_tools(url: str, renamed: dict[str, str], timeout: float, fix: str) -> list[Row]:
    """A real MCP initialize and tools/list: ✓ when every tool Mardonar calls is offered."""
    from mardonar.memory.graphmcp import (
        OPTIONAL_ROLES,
        first_error,
        list_server_tools,
        protocol_problem,
        tool_names,
    )

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


def relay_section(
    settings: Settings, timeout: float, http: httpx.AsyncClient | None
) -> Awaitable[list[Row]]:
    if settings.vtt_relay_url is None:
        return _ready(
            [
                Row(
                    "Foundry relay",
                    "reachable",
                    "ok",
                    "not configured: items are recorded, not pushed",
                )
            ]
        )
    assert http is not None
    fix = "start the relay or fix VTT_RELAY_URL (leave it empty to record items, not push them)"
    url = settings.vtt_relay_url

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


# ---------------------------------------------------------------------- Discord


def discord_rows(settings: Settings) -> list[Row]:
    """The token's shape (no network: logging in is `serve discord`'s job) and the lists."""
    if settings.discord_token is None:
        return [
            Row(
                "Discord",
                "token",
                "skip",
                "not configured (only needed for serve discord)",
            )
        ]
    rows: list[Row] = []
    problem = bot_token_problem(settings.discord_token.get_secret_value())
    if problem is None:
        rows.append(Row("Discord", "token", "ok", "set, and shaped like a bot token"))
    else:
        rows.append(
            Row(
                "Discord",
                "token",
                "fail",
                f"DISCORD_TOKEN is set but {problem}",
                "copy the bot token again from the Discord developer portal (Bot → Reset "
                "Token) into DISCORD_TOKEN",
            )
        )
    channels = settings.discord_allowed_channels
    if channels:
        users = settings.discord_allowed_users
        who = f"{len(users)} allowed user(s)" if users else "everyone in them"
        rows.append(Row("Discord", "allowed channels", "ok", f"{len(channels)} channel(s); {who}"))
    else:
        rows.append(
            Row(
                "Discord",
                "allowed channels",
                "warn",
                "DISCORD_ALLOWED_CHANNELS is empty: the bot will respond nowhere",
                "set DISCORD_ALLOWED_CHANNELS to the channel ids to play in, separated by commas",
            )
        )
    if problem is None:
        rows.append(_client_id_row(settings))
    return rows


def _client_id_row(settings: Settings) -> Row:
    """`discord sync` registers the commands under the token's own application; a set
    DISCORD_CLIENT_ID must be that one (it is refused otherwise), so say so before go-live."""
    assert settings.discord_token is not None
    application = token_bot_id(settings.discord_token.get_secret_value())
    configured = settings.discord_client_id
    if configured is None:
        return Row(
            "Discord", "client id", "ok", f"not set: the token's application {application} is used"
        )
    if configured != application:
        return Row(
            "Discord",
            "client id",
            "fail",
            f"DISCORD_CLIENT_ID={configured} is not the application of DISCORD_TOKEN (that is "
            f"{application}): `mardonar discord sync` would refuse it",
            f"set DISCORD_CLIENT_ID to {application}, or leave it empty",
        )
    return Row("Discord", "client id", "ok", f"{configured}, the token's application")


def token_bot_id(token: str) -> str:
    """The bot's user id (= its application id) encoded in the first part of a well-shaped
    bot token (see `bot_token_problem`)."""
    first = token.split(".")[0]
    return base64.urlsafe_b64decode(first + "=" * (-len(first) % 4)).decode("ascii")


def bot_token_problem(token: str) -> str | None:
    """None when `token` looks like a bot token: three base64url parts separated by dots,
    the first of which decodes to the bot's numeric user id. Otherwise what is wrong, in
    words that never quote the token."""
    if token.lower().startswith("bot "):
        return "starts with 'Bot ': leave the prefix out"
    if token != token.strip():
        return "has spaces around it"
    parts = token.split(".")
    if len(parts) != 3 or not all(parts):
        return f"has {len(parts)} dot-separated part(s) where a bot token has 3"
    alphabet = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    if any(set(part) - alphabet for part in parts):
        return "has characters a bot token never has"
    first = parts[0]
    try:
        decoded = base64.urlsafe_b64decode(first + "=" * (-len(first) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        decoded = ""
    if not decoded.isdigit():
        return "its first part is not a base64-encoded bot id"
    return None


# ---------------------------------------------------------------------- content


def content_rows(cwd: Path) -> list[Row]:
    """Lint the repository the current directory is in, if it is in one."""
    from mardonar.content.repo import find_root

    root = find_root(cwd)
    if root is None:
        return [
            Row(
                "Content",
                "lint",
                "skip",
                "not in a Mardonar repository (no persona.yaml here or above)",
            )
        ]
    from mardonar.content.lint.runner import default_paths, run_lint
    from mardonar.errors import UserError

    try:
        report = run_lint(default_paths(root))
    except UserError as error:
        return [Row("Content", "lint", "fail", f"{root}: {error}", "run `mardonar lint`")]
    where = "" if root == cwd.resolve() else f" in {root}"
    counts = (
        f"{report.files} file(s){where}: {report.errors} error(s), {report.warnings} warning(s)"
    )
    if report.errors:
        return [Row("Content", "lint", "fail", counts, "run `mardonar lint` and fix the errors")]
    if report.warnings:
        return [Row("Content", "lint", "warn", counts, "run `mardonar lint` to see them")]
    return [Row("Content", "lint", "ok", counts)]


# ---------------------------------------------------------------------- secrets


def secrets_of(settings: Settings) -> list[str]:
    """Every secret value in the settings: the tokens, and passwords or queries in URLs."""
    found: list[str] = []
    for secret in (settings.litellm_api_key, settings.discord_token):
        if secret is not None:
            found.append(secret.get_secret_value())
    urls = (
        settings.litellm_base_url,
        settings.ollama_base_url,
        settings.graphmcp_url,
        settings.redis_url,
        settings.vtt_relay_url,
    )
    for url in urls:
        if not url:
            continue
        try:
            parts = urlsplit(url)
            if parts.password:
                found.append(parts.password)
        except ValueError:
            continue
        if parts.query:
            found.append(parts.query)
    # longest first, so a secret containing another is masked whole
    return sorted({s for s in found if s.strip()}, key=len, reverse=True)


def scrub(rows: list[Row], secrets: list[str]) -> list[Row]:
    """The last line of defence: no row leaves with a secret in it, whatever produced it."""
    if not secrets:
        return rows

    def clean(text: str) -> str:
        for secret in secrets:
            text = text.replace(secret, "***")
        return text

    return [
        replace(
            row,
            part=clean(row.part),
            check=clean(row.check),
            detail=clean(row.detail),
            fix=clean(row.fix),
        )
        for row in rows
    ]


def connect_reason(error: BaseException) -> str:
    """Why a connection failed, in the words an operator searches for: the OSError under
    the client library's wrapper ("connection refused", "unknown host"), else its message."""
    seen: set[int] = set()
    cause: BaseException | None = error
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, socket.gaierror):
            return "unknown host (the name does not resolve)"
        if isinstance(cause, ConnectionRefusedError) or (
            isinstance(cause, OSError) and cause.errno == errno.ECONNREFUSED
        ):
            return "connection refused"
        if isinstance(cause, OSError) and cause.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
            return "host unreachable"
        cause = cause.__cause__ or cause.__context__
    return _reason(error)


def _reason(error: BaseException, most: int = 160) -> str:
    """An exception as a short phrase: its message (cut to `most` characters), or its type
    when it has none."""
    text = " ".join(str(error).split())
    if len(text) > most:
        text = text[: most - 1].rstrip() + "…"
    return text or type(error).__name__
