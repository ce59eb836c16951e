"""`mardonar serve discord`: check the configuration, then run the bot until SIGTERM.

Configuration problems are one line and an exit code before anything connects: no token or
a token that cannot be one → exit 2 (doctor.bot_token_problem checks the shape without
quoting it); a token Discord refuses, a missing privileged intent or no network → exit 1.
An empty DISCORD_ALLOWED_CHANNELS is not an error (the previous bot's `.env` semantics: the
bot answers nowhere, and `discord sync` still works) but the start-up log says so loudly.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from mardonar.errors import ConfigError, UsageError, UserError

if TYPE_CHECKING:
    from mardonar.config import Settings

log = logging.getLogger("mardonar.discord")

NO_TOKEN = (
    "DISCORD_TOKEN is not set: put the bot's token (Discord developer portal → your "
    "application → Bot → Reset Token) in DISCORD_TOKEN, in the environment or .env"
)
NO_CHANNELS = (
    "DISCORD_ALLOWED_CHANNELS is empty: the bot will answer in NO channel; set it to the "
    "channel ids to play in, separated by commas"
)
TOKEN_REFUSED = (
    "DISCORD_TOKEN was refused by Discord (it was reset or revoked): copy a fresh one from the "
    "developer portal (Bot → Reset Token) into DISCORD_TOKEN"
)
NO_INTENT = (
    "Discord refused the Message Content intent: turn on 'Message Content Intent' in the "
    "developer portal (Bot → Privileged Gateway Intents); messages in encounter threads are "
    "the players' turns"
)


def unreachable(error: BaseException) -> str:
    """The one line for a Discord that cannot be reached at start-up, in the operator's words
    ("connection refused", "unknown host"), never the client library's class names."""
    from mardonar.netreason import connect_reason

    reason = "no answer" if isinstance(error, TimeoutError) else connect_reason(error)
    return (
        f"cannot reach Discord: {reason}; check this host's network, DNS and firewall "
        "(the bot exits; compose and systemd start it again)"
    )


def checked_token(settings: Settings) -> str:
    """The bot token, or a `UsageError` (exit 2) saying what is wrong with it."""
    from mardonar.ops.doctor.discord import bot_token_problem

    secret = settings.discord.token
    if secret is None:
        raise UsageError(NO_TOKEN)
    token = secret.get_secret_value()
    problem = bot_token_problem(token)
    if problem is not None:
        raise UsageError(
            f"DISCORD_TOKEN is set but {problem}: copy the bot token again from the Discord "
            "developer portal (Bot → Reset Token)"
        )
    return token


def content_root(cwd: Path) -> Path:
    from mardonar.content.repo import PERSONA_FILE, find_root

    root = find_root(cwd)
    if root is None:
        raise UsageError(
            f"no {PERSONA_FILE} in {cwd} or above: run `mardonar serve discord` from the "
            "content repository (the folder with persona.yaml, specs/ and lore/)"
        )
    return root


def point_at(api_base: str | None, gateway: str | None = None) -> None:
    """Send Discord REST calls to `api_base` and the gateway connection to `gateway` (a
    proxy, or a test's local fake Discord); None keeps Discord's own."""
    if api_base:
        from discord.http import Route

        Route.BASE = api_base.rstrip("/")
    if gateway:
        import yarl
        from discord.gateway import DiscordWebSocket

        DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway)


async def serve(
    settings: Settings,
    *,
    health_port: int | None = None,
    health_host: str = "127.0.0.1",
    api_base: str | None = None,
    gateway: str | None = None,
    cwd: Path | None = None,
) -> int:
    """Run the bot until SIGTERM/SIGINT; returns the exit code."""
    import aiohttp
    import discord

    from mardonar.channels.discord.bot import MardonarBot
    from mardonar.ops.health import HealthServer, named_checks
    from mardonar.ops.logging import Redactor, configure_logging_from
    from mardonar.ops.metrics import Metrics
    from mardonar.ops.shutdown import GracefulShutdown, InFlight

    token = checked_token(settings)
    root = content_root(cwd or Path.cwd())
    configure_logging_from(settings)
    if not settings.discord.allowed_channels:
        log.warning(NO_CHANNELS)
    point_at(api_base, gateway)
    metrics = Metrics()
    inflight = InFlight()
    bot = MardonarBot(settings, content_root=root, metrics=metrics, inflight=inflight)
    health = (
        HealthServer(
            health_port,
            ready=named_checks(
                gateway=bot.gateway_ready, store=bot.store_reachable, accepting=inflight.ready
            ),
            metrics=metrics,
            host=health_host,
            redact=Redactor(settings.secrets()),
        )
        if health_port is not None
        else None
    )
    try:
        async with bot, GracefulShutdown(inflight, on_stop=bot.close):
            if health is not None:
                await health.start()
                log.info(
                    "health server on port %d of %s (/healthz, /readyz, /metrics)",
                    health.port,
                    health.host,
                )
            try:
                await bot.start(token)
            finally:
                if health is not None:
                    await health.stop()
    except discord.LoginFailure:
        raise ConfigError(TOKEN_REFUSED) from None
    except discord.PrivilegedIntentsRequired:
        raise ConfigError(NO_INTENT) from None
    except (aiohttp.ClientConnectionError, TimeoutError) as error:
        # Only start-up gets here: once connected, discord.py reconnects by itself. Waiting
        # here would hide a wrong DNS or firewall behind a silent bot, so it says why and
        # exits; compose (restart: unless-stopped) or systemd starts it again.
        raise UserError(unreachable(error)) from None
    return 0
