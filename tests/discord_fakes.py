"""A small fake of Discord for tests: its REST API over real HTTP, and its gateway events.

Nothing of the bot is replaced. discord.py's own HTTP client talks to `FakeDiscord`, an
aiohttp server on 127.0.0.1 (the REST routes the bot uses, answered with payloads shaped like
Discord's), by pointing `discord.http.Route.BASE` at it — what `--discord-api` does. Gateway
events are fed to discord.py's own parsers (`state.parsers["MESSAGE_CREATE"](payload)`), so
messages and interactions reach the bot exactly as the gateway delivers them: as
`discord.Message` and `discord.Interaction` objects, through the command tree and its checks.

The server runs on its own thread and event loop: it serves subprocesses (the CLI tests) as
well as a bot in the test's loop, and the test's loop holds only the bot's own tasks, so
`settle()` can wait for "everything the bot started has finished".

Every request is recorded in `calls`; helpers answer "what would a user see" questions:
`messages_in(channel)`, `reactions`, `typing`, `interaction_replies`.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

import pytest
from aiohttp import web

if TYPE_CHECKING:
    from discord.state import ConnectionState

    from mardonar.channels.discord.bot import MardonarBot
    from mardonar.llm.base import LLM
    from mardonar.ops.metrics import Metrics
    from mardonar.store.base import SessionStore

NOW = "2026-11-27T12:00:00.000000+00:00"
TOKEN = "MTEwMDAwMDAwMDAwMDAwMDAwMQ.GaBcDe.abcdefghijklmnopqrstuvwxyz0123456789AB"
"""Shaped like a bot token (the first part is base64 of the bot's id), never valid."""
BOT_ID = 1100000000000000001
APP_ID = 1100000000000000002
GUILD_ID = 1200000000000000001
PLAY_CHANNEL = 1300000000000000001
"""An allowed text channel."""
OTHER_CHANNEL = 1300000000000000002
"""A text channel the bot was not allowed in."""


def user(user_id: int, name: str | None = None, *, bot: bool = False) -> dict[str, Any]:
    return {
        "id": str(user_id),
        "username": name or f"user{user_id % 1000}",
        "global_name": name or f"User {user_id % 1000}",
        "discriminator": "0",
        "avatar": None,
        "bot": bot,
    }


def member(user_id: int, name: str | None = None) -> dict[str, Any]:
    return {
        "user": user(user_id, name),
        "roles": [],
        "joined_at": NOW,
        "deaf": False,
        "mute": False,
        "flags": 0,
        "permissions": "2248473465835073",
    }


def text_channel(channel_id: int, name: str) -> dict[str, Any]:
    return {
        "id": str(channel_id),
        "type": 0,
        "guild_id": str(GUILD_ID),
        "name": name,
        "position": 0,
        "permission_overwrites": [],
        "nsfw": False,
        "parent_id": None,
        "topic": None,
        "rate_limit_per_user": 0,
    }


def guild_payload() -> dict[str, Any]:
    return {
        "id": str(GUILD_ID),
        "name": "The Table",
        "icon": None,
        "owner_id": "1",
        "roles": [
            {
                "id": str(GUILD_ID),
                "name": "@everyone",
                "permissions": "2248473465835073",
                "position": 0,
                "color": 0,
                "hoist": False,
                "managed": False,
                "mentionable": False,
                "flags": 0,
            }
        ],
        "emojis": [],
        "stickers": [],
        "features": [],
        "channels": [
            text_channel(PLAY_CHANNEL, "encounters"),
            text_channel(OTHER_CHANNEL, "general"),
        ],
        "threads": [],
        "members": [],
        "member_count": 3,
        "large": False,
        "unavailable": False,
        "verification_level": 0,
        "default_message_notifications": 0,
        "explicit_content_filter": 0,
        "mfa_level": 0,
        "nsfw_level": 0,
        "premium_tier": 0,
        "preferred_locale": "en-US",
        "system_channel_flags": 0,
        "joined_at": NOW,
    }


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    """Without the /api/v10 prefix, percent-decoded (reaction emoji readable)."""
    body: Any


@dataclass
class FakeDiscord:
    """Discord's REST API for one guild, on a free loopback port, on its own thread."""

    refuse_token: bool = False
    """Answer GET /users/@me with 401, as Discord does for a revoked token."""
    forbid_threads: bool = False
    """Answer thread creation with 403 Missing Permissions."""
    calls: list[Call] = field(default_factory=list)
    threads: dict[int, dict[str, Any]] = field(default_factory=dict)
    messages: dict[int, dict[str, Any]] = field(default_factory=dict)
    state: ConnectionState | None = None
    """A bot's connection state: REST calls that Discord follows with a gateway event (a new
    thread → THREAD_CREATE) feed it, on the bot's loop."""
    bot_loop: asyncio.AbstractEventLoop | None = None
    url: str = ""
    gateway_url: str = ""
    identified: int = 0
    """IDENTIFYs received on the gateway (connections of a running bot)."""
    _sockets: list[web.WebSocketResponse] = field(default_factory=list)
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1400000000000000001))
    _loop: asyncio.AbstractEventLoop | None = None
    _runner: web.AppRunner | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # ------------------------------------------------------------------ server

    def start(self) -> FakeDiscord:
        ready = threading.Event()

        def serve() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            app = web.Application()
            app.router.add_get("/gateway", self._gateway)
            app.router.add_route("*", "/{tail:.*}", self._handle)
            runner = web.AppRunner(app, access_log=None)
            loop.run_until_complete(runner.setup())
            site = web.TCPSite(runner, "127.0.0.1", 0)
            loop.run_until_complete(site.start())
            self._runner = runner
            port = runner.addresses[0][1]
            self.url = f"http://127.0.0.1:{port}/api/v10"
            self.gateway_url = f"ws://127.0.0.1:{port}/gateway"
            ready.set()
            loop.run_forever()
            loop.run_until_complete(runner.cleanup())
            loop.close()

        self._thread = threading.Thread(target=serve, daemon=True)
        self._thread.start()
        ready.wait(10)
        return self

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)

    def next_id(self) -> int:
        with self._lock:
            return next(self._ids)

    # ------------------------------------------------------------------ gateway

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        """Discord's gateway, reduced to what a bot needs to become ready: HELLO, IDENTIFY →
        READY and GUILD_CREATE, heartbeats acknowledged. Text frames (never compressed)."""
        socket = web.WebSocketResponse()
        await socket.prepare(request)
        self._sockets.append(socket)
        sequence = itertools.count(1)
        await socket.send_json({"op": 10, "d": {"heartbeat_interval": 45000}})
        async for frame in socket:
            if frame.type != web.WSMsgType.TEXT:
                break
            message = json.loads(frame.data)
            if message["op"] == 1:
                await socket.send_json({"op": 11})
            elif message["op"] == 2:
                with self._lock:
                    self.identified += 1
                ready = {
                    "v": 10,
                    "user": user(BOT_ID, "Mardonar", bot=True),
                    "guilds": [{"id": str(GUILD_ID), "unavailable": True}],
                    "session_id": "fake-session",
                    "resume_gateway_url": self.gateway_url,
                    "application": {"id": str(APP_ID), "flags": 0},
                }
                for event, data in (("READY", ready), ("GUILD_CREATE", guild_payload())):
                    await socket.send_json({"op": 0, "t": event, "s": next(sequence), "d": data})
        return socket

    def push(self, event: str, data: dict[str, Any]) -> None:
        """Send a dispatch event to every connected bot, over the websocket."""
        assert self._loop is not None

        async def send() -> None:
            for socket in self._sockets:
                await socket.send_json({"op": 0, "t": event, "s": None, "d": data})

        asyncio.run_coroutine_threadsafe(send(), self._loop).result(10)

    # ------------------------------------------------------------------ REST

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        path = unquote(request.path).removeprefix("/api/v10")
        body: Any = None
        if request.can_read_body:
            raw = await request.read()
            if request.content_type == "application/json":
                body = json.loads(raw)
            elif request.content_type.startswith("multipart"):
                body = {"multipart": raw.decode("utf-8", "replace")}
        call = Call(request.method, path, body)
        with self._lock:
            self.calls.append(call)
        answer = self._answer(call)
        if answer is None:
            return web.Response(status=204)
        status, payload = answer
        # Exactly `application/json`, as Discord sends it: discord.py compares the header
        # with == and treats anything else (aiohttp's `; charset=utf-8`) as plain text.
        return web.Response(
            body=json.dumps(payload).encode(),
            status=status,
            headers={"Content-Type": "application/json"},
        )

    def _answer(self, call: Call) -> tuple[int, Any] | None:
        method, path, body = call.method, call.path, call.body or {}
        if path == "/users/@me":
            if self.refuse_token:
                return 401, {"message": "401: Unauthorized", "code": 0}
            return 200, user(BOT_ID, "Mardonar", bot=True)
        if path == "/oauth2/applications/@me":
            return 200, {
                "id": str(APP_ID),
                "name": "Mardonar",
                "icon": None,
                "description": "",
                "bot_public": False,
                "bot_require_code_grant": False,
                "owner": user(1, "owner"),
                "verify_key": "0" * 64,
                "flags": 0,
            }
        if match := re.fullmatch(r"/applications/\d+(?:/guilds/(\d+))?/commands", path):
            return 200, [
                {
                    **command,
                    "id": str(self.next_id()),
                    "application_id": str(APP_ID),
                    "version": "1",
                    "guild_id": match.group(1),
                }
                for command in body
            ]
        if match := re.fullmatch(r"/channels/(\d+)/threads", path):
            if self.forbid_threads:
                return 403, {"message": "Missing Permissions", "code": 50013}
            return 201, self._new_thread(int(match.group(1)), body)
        if match := re.fullmatch(r"/channels/(\d+)/messages", path):
            return 200, self._new_message(int(match.group(1)), body)
        if re.fullmatch(r"/channels/\d+/typing", path):
            return None
        if re.fullmatch(r"/channels/\d+/messages/\d+/reactions/.+/@me", path):
            return None
        if match := re.fullmatch(r"/channels/(\d+)", path):
            thread = self.threads[int(match.group(1))]
            if method == "DELETE":
                del self.threads[int(match.group(1))]
                return 200, thread
            if method == "PATCH":
                meta = thread["thread_metadata"]
                for key in ("archived", "locked"):
                    if key in body:
                        meta[key] = body[key]
            return 200, thread
        if re.fullmatch(r"/interactions/\d+/[^/]+/callback", path):
            interaction_id = path.split("/")[2]
            return 200, {"interaction": {"id": interaction_id, "type": 2}}
        if match := re.fullmatch(r"/webhooks/\d+/[^/]+(?:/messages/@original)?", path):
            return 200, self._new_message(0, body)
        return 404, {"message": f"fake Discord has no route {method} {path}", "code": 0}

    def _new_thread(self, parent_id: int, body: dict[str, Any]) -> dict[str, Any]:
        thread_id = self.next_id()
        payload = {
            "id": str(thread_id),
            "guild_id": str(GUILD_ID),
            "parent_id": str(parent_id),
            "owner_id": str(BOT_ID),
            "name": body.get("name", "thread"),
            "type": body.get("type", 12),
            "last_message_id": None,
            "rate_limit_per_user": 0,
            "message_count": 0,
            "member_count": 1,
            "flags": 0,
            "thread_metadata": {
                "archived": False,
                "auto_archive_duration": body.get("auto_archive_duration", 1440),
                "archive_timestamp": NOW,
                "locked": False,
            },
        }
        self.threads[thread_id] = payload
        if self.state is not None and self.bot_loop is not None:
            state = self.state
            event = {**payload, "newly_created": True}
            self.bot_loop.call_soon_threadsafe(state.parsers["THREAD_CREATE"], event)
        return payload

    def _new_message(self, channel_id: int, body: dict[str, Any]) -> dict[str, Any]:
        message_id = self.next_id()
        payload = {
            "id": str(message_id),
            "channel_id": str(channel_id),
            "author": user(BOT_ID, "Mardonar", bot=True),
            "content": body.get("content") or "",
            "embeds": body.get("embeds") or [],
            "flags": body.get("flags", 0),
            "timestamp": NOW,
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": [],
            "pinned": False,
            "type": 0,
        }
        self.messages[message_id] = payload
        return payload

    # ------------------------------------------------------------------ what users see

    def posted(self, channel_id: int) -> list[dict[str, Any]]:
        """Message bodies the bot posted in a channel or thread, in order."""
        return [
            call.body
            for call in self.calls
            if call.method == "POST" and call.path == f"/channels/{channel_id}/messages"
        ]

    def texts(self, channel_id: int) -> list[str]:
        """The text of each message posted there (embeds as their title and fields)."""
        shown: list[str] = []
        for body in self.posted(channel_id):
            parts = [body.get("content") or ""]
            for embed in body.get("embeds") or []:
                parts.append(embed.get("title", ""))
                parts.append(embed.get("description") or "")
                parts += [f"{f['name']}: {f['value']}" for f in embed.get("fields", [])]
            shown.append("\n".join(part for part in parts if part))
        return shown

    def reactions(self, message_id: int) -> list[str]:
        prefix = "/channels/"
        marker = f"/messages/{message_id}/reactions/"
        return [
            call.path.split(marker)[1].removesuffix("/@me")
            for call in self.calls
            if call.method == "PUT" and call.path.startswith(prefix) and marker in call.path
        ]

    def typing_in(self, channel_id: int) -> int:
        return sum(1 for call in self.calls if call.path == f"/channels/{channel_id}/typing")

    def interaction_replies(self, interaction_id: int) -> list[dict[str, Any]]:
        """Callback bodies (`type` 4 message, 5 deferred, 8 autocomplete) for one interaction."""
        return [
            call.body
            for call in self.calls
            if call.path.startswith(f"/interactions/{interaction_id}/")
        ]

    def followups(self) -> list[dict[str, Any]]:
        return [
            call.body
            for call in self.calls
            if call.method == "POST" and call.path.startswith(f"/webhooks/{APP_ID}/")
        ]

    def threads_deleted(self) -> list[int]:
        return [
            int(call.path.split("/")[2])
            for call in self.calls
            if call.method == "DELETE" and re.fullmatch(r"/channels/\d+", call.path)
        ]

    def threads_created(self) -> list[tuple[int, dict[str, Any]]]:
        found = []
        for call in self.calls:
            if call.method == "POST" and (m := re.fullmatch(r"/channels/(\d+)/threads", call.path)):
                found.append((int(m.group(1)), call.body))
        return found


@contextmanager
def fake_discord(**options: Any) -> Iterator[FakeDiscord]:
    server = FakeDiscord(**options).start()
    try:
        yield server
    finally:
        server.stop()


# ---------------------------------------------------------------------- the gateway side


class Gateway:
    """Feeds gateway events to a logged-in bot through discord.py's own parsers."""

    def __init__(self, bot: MardonarBot, discord: FakeDiscord) -> None:
        self.bot = bot
        self.discord = discord
        self.state = bot._connection
        discord.state = self.state
        discord.bot_loop = asyncio.get_running_loop()

    def guild_create(self) -> None:
        self.state.parsers["GUILD_CREATE"](guild_payload())

    def message(self, channel_id: int, author_id: int, content: str) -> int:
        """A user posts `content` in a channel or thread; returns the message id."""
        message_id = self.discord.next_id()
        author = member(author_id)
        payload = {
            "id": str(message_id),
            "channel_id": str(channel_id),
            "guild_id": str(GUILD_ID),
            "author": author["user"],
            "member": {k: v for k, v in author.items() if k != "user"},
            "content": content,
            "timestamp": NOW,
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": [],
            "embeds": [],
            "pinned": False,
            "type": 0,
            "flags": 0,
        }
        self.state.parsers["MESSAGE_CREATE"](payload)
        return message_id

    def command(
        self,
        channel_id: int,
        user_id: int,
        group: str,
        sub: str,
        options: dict[str, Any] | None = None,
        *,
        autocomplete: str | None = None,
    ) -> int:
        """A user runs `/group sub option:value…` (or types into option `autocomplete`);
        returns the interaction id."""
        payload = interaction_payload(
            self.discord, channel_id, user_id, group, sub, options, autocomplete=autocomplete
        )
        self.state.parsers["INTERACTION_CREATE"](payload)
        return int(payload["id"])


def interaction_payload(
    discord: FakeDiscord,
    channel_id: int,
    user_id: int,
    group: str,
    sub: str,
    options: dict[str, Any] | None = None,
    *,
    autocomplete: str | None = None,
) -> dict[str, Any]:
    """An INTERACTION_CREATE for `/group sub option:value…`, as the gateway sends it."""
    interaction_id = discord.next_id()
    typed = [
        {
            "name": name,
            "type": 4 if isinstance(value, int) else 3,
            "value": value,
            **({"focused": True} if name == autocomplete else {}),
        }
        for name, value in (options or {}).items()
    ]
    thread = discord.threads.get(channel_id)
    channel = thread if thread is not None else text_channel(channel_id, "somewhere")
    return {
        "id": str(interaction_id),
        "application_id": str(APP_ID),
        "type": 4 if autocomplete else 2,
        "token": f"itoken{interaction_id}",
        "version": 1,
        "guild_id": str(GUILD_ID),
        "channel_id": str(channel_id),
        "channel": channel,
        "member": member(user_id),
        "locale": "en-US",
        "guild_locale": "en-US",
        "app_permissions": "2248473465835073",
        "attachment_size_limit": 10485760,
        "entitlements": [],
        "authorizing_integration_owners": {"0": str(GUILD_ID)},
        "context": 0,
        "data": {
            "id": str(discord.next_id()),
            "name": group,
            "type": 1,
            "guild_id": str(GUILD_ID),
            "options": [{"name": sub, "type": 1, "options": typed}],
        },
    }


def _busy(me: asyncio.Task[Any] | None) -> list[asyncio.Task[Any]]:
    # The bot's endless background loops (content polling, metrics) never finish.
    return [
        task
        for task in asyncio.all_tasks()
        if task is not me and not task.done() and not task.get_name().startswith("mardonar-loop")
    ]


async def settle(bot: MardonarBot, timeout: float = 20.0) -> None:
    """Wait until everything the bot started has finished: command and listener tasks,
    batched turns (their quiet windows included)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    me = asyncio.current_task()
    while loop.time() < deadline:
        cog = bot.get_cog("PlayCog")
        batching = bool(cog is not None and cog.batcher.busy)  # type: ignore[attr-defined]
        tasks = _busy(me)
        if not tasks and not batching:
            await asyncio.sleep(0.01)  # replies in flight on the server thread land
            if not _busy(me):
                return
            continue
        if tasks:
            await asyncio.wait(tasks, timeout=max(deadline - loop.time(), 0.01))
        else:
            await asyncio.sleep(0.01)
    raise TimeoutError("the bot did not settle")


# ---------------------------------------------------------------------- a logged-in bot


@dataclass
class Table:
    """A logged-in bot, the fake Discord it talks to, and the gateway that feeds it."""

    bot: MardonarBot
    discord: FakeDiscord
    gateway: Gateway

    async def register(
        self, user_id: int, name: str, class_: str = "rogue", level: int = 3
    ) -> None:
        await self.bot.desk.store.set_character(
            str(user_id), {"name": name, "class": class_, "level": level}
        )

    async def start(self, spec: str = "goblin-toll-bridge", user_id: int = 501) -> int:
        """`/encounter start` in the play channel; returns the new thread's id."""
        before = set(self.discord.threads)
        self.gateway.command(PLAY_CHANNEL, user_id, "encounter", "start", {"spec": spec})
        await settle(self.bot)
        (thread_id,) = set(self.discord.threads) - before
        return thread_id

    async def settle(self) -> None:
        await settle(self.bot)

    async def say(self, thread_id: int, *lines: tuple[int, str]) -> list[int]:
        """Users post in a thread (one burst); returns the message ids once the bot settled."""
        ids = [self.gateway.message(thread_id, author, text) for author, text in lines]
        await settle(self.bot)
        return ids


@asynccontextmanager
async def open_table(
    discord: FakeDiscord,
    root: Path,
    data_dir: Path,
    llm: LLM,
    *,
    store: SessionStore | None = None,
    channels: tuple[int, ...] = (PLAY_CHANNEL,),
    users: tuple[int, ...] = (),
    batch_window: float = 0.05,
    rate_limit: int = 10,
    seed: int = 7,
    watch_content: bool = False,
    metrics: Metrics | None = None,
    max_tool_calls: int = 8,
) -> AsyncIterator[Table]:
    """A bot logged in to `discord`, in the fake guild, playing `root`'s content with `llm`.
    `root` is a content repository (tests.engine_helpers.copy_content)."""
    from discord.http import Route

    from mardonar.channels.discord.bot import MardonarBot
    from mardonar.config import Settings

    settings = Settings(
        _env_file=None,
        discord_allowed_channels=[str(c) for c in channels],
        discord_allowed_users=[str(u) for u in users],
        data_dir=data_dir,
        mardonar_batch_window=batch_window,
        mardonar_rate_limit=rate_limit,
        mardonar_max_tool_calls=max_tool_calls,
    )
    previous = Route.BASE
    Route.BASE = discord.url
    bot = MardonarBot(
        settings,
        content_root=root,
        make_llm=lambda content, seed: llm,
        store=store,
        watch_content=watch_content,
        seed=seed,
        metrics=metrics,
    )
    try:
        async with bot:
            await bot.login(TOKEN)
            gateway = Gateway(bot, discord)
            gateway.guild_create()
            yield Table(bot, discord, gateway)
            await settle(bot)
    finally:
        Route.BASE = previous


@pytest.fixture
def fake_api() -> Iterator[FakeDiscord]:
    """A fresh fake Discord per test (import it by name, like tests/backends.py's fixtures)."""
    with fake_discord() as server:
        yield server
