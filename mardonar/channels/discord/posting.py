"""Sending to Discord: posts into a thread, marks on messages, archiving a finished thread."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING

import discord

from mardonar.channels.discord.render import Post, posts_for

if TYPE_CHECKING:
    from discord.abc import Messageable

    from mardonar.channels.discord.bot import MardonarBot
    from mardonar.channels.discord.desk import Encounter
    from mardonar.engine.events import Event

log = logging.getLogger(__name__)

TAKEN = "✅"
"""Reaction on each message that went into a turn."""
SLOW_DOWN = "⏳"
"""Reaction on a message refused by the rate limit."""
NOT_SEATED = "❔"
"""Reaction on a message from a player with no registered character."""
NOT_ALLOWED = "🚫"
"""Reaction on a message from a user outside DISCORD_ALLOWED_USERS."""


def mentions_of(players: Iterable[str]) -> discord.AllowedMentions:
    """Pings the posts may make: the encounter's own players (Discord user ids), nobody else.
    The text is the model's: `<@id>` of any member of the server, `@everyone` or a role would
    otherwise notify them."""
    users = [discord.Object(id=int(player)) for player in players if player.isdigit()]
    return discord.AllowedMentions(everyone=False, roles=False, users=users, replied_user=False)


async def send_posts(
    channel: Messageable, posts: Iterable[Post], *, players: Iterable[str] = ()
) -> list[discord.Message]:
    """Each post as one message, in order; only `players` can be pinged (`mentions_of`)."""
    allowed = mentions_of(players)
    sent: list[discord.Message] = []
    for post in posts:
        if post.embed is not None and post.content is not None:
            message = await channel.send(post.content, embed=post.embed, allowed_mentions=allowed)
        elif post.embed is not None:
            message = await channel.send(embed=post.embed, allowed_mentions=allowed)
        else:
            message = await channel.send(post.content or "", allowed_mentions=allowed)
        sent.append(message)
    return sent


async def react(messages: Iterable[discord.Message], emoji: str) -> None:
    """Best effort: a missing Add Reactions permission must not cost anyone their turn."""
    for message in messages:
        try:
            await message.add_reaction(emoji)
        except discord.HTTPException as error:
            log.warning("could not react to message %s: %s", message.id, error.text)


async def archive_thread(bot: discord.Client, thread_id: int) -> None:
    """Archive and lock a finished encounter's thread, so it reads as closed."""
    thread = bot.get_channel(thread_id)
    try:
        if not isinstance(thread, discord.Thread):
            fetched = await bot.fetch_channel(thread_id)
            if not isinstance(fetched, discord.Thread):
                return
            thread = fetched
        await thread.edit(archived=True, locked=True)
    except discord.HTTPException as error:
        log.warning("could not archive thread %s: %s", thread_id, error.text)


async def show(channel: Messageable, encounter: Encounter, events: list[Event]) -> None:
    """Post events of `encounter` in its thread."""
    names = {c.player: c.name for c in encounter.engine.bundle.party.characters}
    item_names = {item.id: item.name for item in encounter.content.spec.items}
    posts = posts_for(
        events, names=names, item_names=item_names, title=encounter.content.spec.title
    )
    await send_posts(channel, posts, players=names)


async def deliver(
    bot: MardonarBot, channel: Messageable, encounter: Encounter, events: list[Event]
) -> None:
    """Show one turn's events in the thread; a finished encounter is then retired and its
    thread archived and locked."""
    await show(channel, encounter, events)
    if encounter.over:
        await bot.desk.retire(encounter)
        bot.encounters_changed()
        await archive_thread(bot, encounter.thread_id)
