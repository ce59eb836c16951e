"""Messages in an encounter thread become player turns.

A burst of messages (one player or several) within the quiet window MARDONAR_BATCH_WINDOW is
played as one turn; each message taken gets a ✅. While the engine works, the thread shows
"typing…". A player over MARDONAR_RATE_LIMIT messages a minute gets ⏳ and the message is not
taken; a player with no registered character gets ❔ and, once per thread, a reminder to run
`/character set`; a user outside DISCORD_ALLOWED_USERS gets 🚫. Messages in channels the bot
does not serve are ignored without a trace.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import discord
from discord.ext import commands

from mardonar.channels.discord.batching import Batcher
from mardonar.channels.discord.desk import Encounter
from mardonar.channels.discord.posting import (
    NOT_ALLOWED,
    NOT_SEATED,
    SLOW_DOWN,
    TAKEN,
    deliver,
    react,
    show,
)
from mardonar.channels.discord.ratelimit import RateLimiter
from mardonar.channels.discord.user_errors import user_message
from mardonar.llm.turnformat import PlayerLine

if TYPE_CHECKING:
    # Only named in annotations: a run-time import would close the circle bot.py →
    # cogs → bot.py (bot.py imports the cogs when it sets up).
    from mardonar.channels.discord.bot import MardonarBot

log = logging.getLogger("mardonar.discord")

MAX_LINES_PER_TURN = 20
"""A burst this long is played at once rather than waiting for quiet."""


@dataclass(frozen=True)
class Line:
    message: discord.Message
    player: str
    text: str


class PlayCog(commands.Cog):
    def __init__(self, bot: MardonarBot) -> None:
        self.bot = bot
        pace = bot.settings.discord
        self.limiter = RateLimiter(pace.rate_limit)
        self.batcher: Batcher[int, Line] = Batcher(
            pace.batch_window, self._play, max_items=MAX_LINES_PER_TURN
        )
        self._reminded: set[tuple[int, int]] = set()

    async def drain(self) -> None:
        """Shutdown: play what is queued, wait for running turns."""
        await self.batcher.drain()

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        if message.author.bot or message.guild is None:
            return
        channel = message.channel
        if not isinstance(channel, (discord.Thread, discord.PartialMessageable)):
            return  # turns are only played in encounter threads
        denial = await self.bot.access_denial(channel, message.author.id)
        if self.bot.channel_denied(denial):
            return
        try:
            encounter = await self.bot.desk.find(channel.id)
        except Exception as error:
            log.warning("cannot tell whether thread %s plays an encounter: %s", channel.id, error)
            return
        if encounter is None or encounter.over:
            return
        if denial is not None:
            await react([message], NOT_ALLOWED)
            return
        text = message.clean_content.strip()
        if not text:
            return
        player = str(message.author.id)
        if await self.bot.desk.store.get_character(player) is None:
            await react([message], NOT_SEATED)
            if (channel.id, message.author.id) not in self._reminded:
                self._reminded.add((channel.id, message.author.id))
                await channel.send(
                    f"{message.author.mention}, register your character with `/character set` "
                    "first; messages before that are not played.",
                    allowed_mentions=discord.AllowedMentions(users=[message.author]),
                )
            return
        if not self.limiter.allow(message.author.id):
            await react([message], SLOW_DOWN)
            return
        self.batcher.add(channel.id, Line(message, player, text))

    async def replay_interrupted(self, encounter: Encounter) -> None:
        """Play again the turn a previous process was killed in the middle of: the engine
        saved the players' lines before asking the model, so nothing they said is lost."""
        lines = encounter.session.pending
        if not lines:
            return
        channel = self.bot.get_partial_messageable(encounter.thread_id)
        try:
            async with self.bot.inflight.turn():
                await channel.send("*The game master was interrupted; picking up that turn again.*")
                async with channel.typing():
                    events = await self.bot.desk.play(
                        encounter, lines, waiting=lambda e: show(channel, encounter, [e])
                    )
                await deliver(self.bot, channel, encounter, events)
        except Exception as error:
            log.warning(
                "could not replay the interrupted turn of %s: %s", encounter.session.id, error
            )

    async def _play(self, thread_id: int, lines: list[Line]) -> None:
        from mardonar.ops.logging import log_context

        channel = lines[-1].message.channel
        encounter = await self.bot.desk.find(thread_id)
        if encounter is None or encounter.over:
            return
        with log_context(
            guild=lines[-1].message.guild.id if lines[-1].message.guild else None,
            thread=thread_id,
            encounter=encounter.session.id,
            turn=encounter.session.turn + 1,
        ):
            try:
                # Counted as in flight from here: SIGTERM waits for this turn to finish.
                async with self.bot.inflight.turn():
                    await react([line.message for line in lines], TAKEN)
                    started = time.perf_counter()
                    async with channel.typing():
                        events = await self.bot.desk.play(
                            encounter,
                            [PlayerLine(player=line.player, text=line.text) for line in lines],
                            waiting=lambda e: show(channel, encounter, [e]),
                        )
                    await deliver(self.bot, channel, encounter, events)
                    latency_ms = round((time.perf_counter() - started) * 1000, 1)
                    log.info("turn played", extra={"latency_ms": latency_ms})
            except Exception as error:
                await channel.send(user_message(error))
