"""The Discord rows: the token's shape (no network), the allowed lists, the client id; and
`bot_token_problem`, which `serve discord` also asks before it logs in."""

from __future__ import annotations

import base64
import binascii
from typing import TYPE_CHECKING

from mardonar.ops.doctor.rows import Row

if TYPE_CHECKING:
    from mardonar.config import Settings
    from mardonar.config.sections import DiscordSettings


def discord_rows(settings: Settings) -> list[Row]:
    """The token's shape (no network: logging in is `serve discord`'s job) and the lists."""
    discord = settings.discord
    if discord.token is None:
        return [
            Row(
                "Discord",
                "token",
                "skip",
                "not configured (only needed for serve discord)",
            )
        ]
    rows: list[Row] = []
    problem = bot_token_problem(discord.token.get_secret_value())
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
    channels = discord.allowed_channels
    if channels:
        users = discord.allowed_users
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
        rows.append(_client_id_row(discord))
    return rows


def _client_id_row(discord: DiscordSettings) -> Row:
    """`discord sync` registers the commands under the token's own application; a set
    DISCORD_CLIENT_ID must be that one (it is refused otherwise), so say so before go-live."""
    assert discord.token is not None
    application = token_bot_id(discord.token.get_secret_value())
    configured = discord.client_id
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
