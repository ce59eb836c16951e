"""`mardonar discord sync`: register the slash commands with Discord, once per deploy.

Guild-scoped (`--guild ID`, or DISCORD_GUILD_ID) for development: the commands appear at
once in that server. Global otherwise: every server the bot is in, after Discord's cache
catches up (up to an hour). The bot itself never syncs on start (rate limits, and every
replica of a deploy would race to do it).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from mardonar.errors import UsageError

if TYPE_CHECKING:
    from mardonar.channels.discord.bot import MardonarBot
    from mardonar.config import Settings


async def sync_commands(
    settings: Settings, *, guild: str | None, api_base: str | None = None
) -> str:
    """Register the commands; returns the line to print."""
    import discord

    from mardonar.channels.discord.bot import MardonarBot
    from mardonar.channels.discord.serve import TOKEN_REFUSED, checked_token, point_at
    from mardonar.errors import ConfigError

    token = checked_token(settings)
    guild_id = guild if guild is not None else settings.discord.guild_id
    if guild_id is not None and not guild_id.strip().isdigit():
        raise UsageError(f"--guild {guild_id}: not a Discord server id (digits only)")
    point_at(api_base)
    bot = MardonarBot(settings, content_root=Path.cwd(), commands_only=True, watch_content=False)
    try:
        async with bot:
            await bot.login(token)
            _check_client_id(settings, bot)
            if guild_id is not None:
                target = discord.Object(id=int(guild_id))
                bot.tree.copy_global_to(guild=target)
                synced = await bot.tree.sync(guild=target)
            else:
                synced = await bot.tree.sync()
    except discord.LoginFailure:
        raise ConfigError(TOKEN_REFUSED) from None
    names = ", ".join(f"/{command.name}" for command in synced)
    if guild_id is not None:
        return f"registered {len(synced)} command(s) ({names}) in server {guild_id}"
    return (
        f"registered {len(synced)} command(s) ({names}) globally; Discord may take up to an "
        "hour to show them in every server"
    )


def _check_client_id(settings: Settings, bot: MardonarBot) -> None:
    """DISCORD_CLIENT_ID, when set, must be the application the token belongs to: commands
    are registered under the token's application, and a different id is a copy-paste slip
    (often the id of the previous bot's application)."""
    from mardonar.errors import ConfigError

    configured = settings.discord.client_id
    application = bot.application
    if configured is None or application is None or int(configured) == application.id:
        return
    raise ConfigError(
        f"DISCORD_CLIENT_ID={configured} is not the application of DISCORD_TOKEN (that is "
        f"{application.id}): set DISCORD_CLIENT_ID to {application.id}, or leave it empty"
    )
