"""`mardonar discord sync`."""

from __future__ import annotations

import typer

app = typer.Typer(help="Discord administration.", no_args_is_help=True)


@app.command("sync")
def _sync(
    guild: str | None = typer.Option(
        None, "--guild", help="Register in this server only (default: DISCORD_GUILD_ID)."
    ),
    discord_api: str | None = typer.Option(
        None, "--discord-api", hidden=True, help="Discord REST base URL (a proxy, or tests)."
    ),
) -> None:
    """Register the slash commands, then exit: in one server with --guild or DISCORD_GUILD_ID
    (instant, for development), globally otherwise. Run it once per deploy, not on every start.
    """
    import asyncio

    from mardonar.channels.discord.sync import sync_commands
    from mardonar.config import load_settings

    settings = load_settings()
    typer.echo(asyncio.run(sync_commands(settings, guild=guild, api_base=discord_api)))
