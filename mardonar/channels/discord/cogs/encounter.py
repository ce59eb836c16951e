"""`/encounter start|status|end|list`."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Literal

import discord
from discord import app_commands
from discord.ext import commands

from mardonar.channels.discord.desk import Encounter
from mardonar.channels.discord.posting import deliver, send_posts
from mardonar.channels.discord.render import Post, spec_list_text, status_text
from mardonar.channels.discord.splitting import split_message
from mardonar.channels.discord.user_errors import Refusal
from mardonar.files import read_tally

if TYPE_CHECKING:
    # Only named in annotations: a run-time import would close the circle bot.py →
    # cogs → bot.py (bot.py imports the cogs when it sets up).
    from mardonar.channels.discord.bot import MardonarBot

THREAD_ARCHIVE_MINUTES: Literal[60, 1440, 4320, 10080] = 1440
"""A day without messages before Discord hides an encounter thread (the session lives on)."""
NOT_A_THREAD = "Use this inside an encounter thread (the one `/encounter start` created)."
NO_ENCOUNTER = "There is no running encounter in this thread."


class EncounterCog(commands.GroupCog, group_name="encounter", group_description="Encounters"):
    def __init__(self, bot: MardonarBot) -> None:
        self.bot = bot
        super().__init__()

    async def _here(self, interaction: discord.Interaction[MardonarBot]) -> Encounter:
        channel = interaction.channel
        if channel is None or not isinstance(channel, (discord.Thread, discord.PartialMessageable)):
            raise Refusal(NOT_A_THREAD)
        encounter = await self.bot.desk.find(channel.id)
        if encounter is None:
            raise Refusal(NO_ENCOUNTER)
        return encounter

    # ------------------------------------------------------------------ start

    @app_commands.command(name="start", description="Start an encounter in a new thread.")
    @app_commands.describe(spec="Which encounter to run")
    async def start(self, interaction: discord.Interaction[MardonarBot], spec: str) -> None:
        channel = interaction.channel
        if not isinstance(channel, discord.TextChannel):
            raise Refusal("Start encounters in a text channel, not in a thread or a DM.")
        content = self.bot.library.get(spec)
        # Creating the thread and seeding NPC memory can take longer than Discord's 3 s.
        await interaction.response.defer(thinking=True)
        thread = await channel.create_thread(
            name=content.spec.title[:100],
            type=discord.ChannelType.public_thread,
            auto_archive_duration=THREAD_ARCHIVE_MINUTES,
            reason=f"encounter {content.spec.id} started by {interaction.user.id}",
        )
        try:
            encounter, opening = await self.bot.desk.start(
                content,
                thread_id=thread.id,
                parent_id=channel.id,
                guild_id=interaction.guild_id,
                seed=self.bot.seed,
            )
        except Exception:
            # No encounter behind it: an empty thread would only invite messages nobody plays.
            with contextlib.suppress(discord.HTTPException):
                await thread.delete()
            raise
        self.bot.encounters_changed()
        text = getattr(opening, "text", "")
        await send_posts(
            thread,
            [
                Post(content=f"**{content.spec.title}** — {content.spec.summary}"),
                *(Post(content=chunk) for chunk in split_message(text)),
                Post(
                    content="*Say what your characters do; messages sent close together are "
                    "played as one turn. Register first with `/character set`.*"
                ),
            ],
        )
        await interaction.followup.send(
            f"**{content.spec.title}** begins in {thread.mention} (session "
            f"`{encounter.session.id}`)."
        )

    @start.autocomplete("spec")
    async def _spec_choices(
        self, interaction: discord.Interaction[MardonarBot], current: str
    ) -> list[app_commands.Choice[str]]:
        wanted = current.casefold()
        choices = [
            app_commands.Choice(name=f"{b.spec.title} ({b.spec.id})"[:100], value=b.spec.id)
            for b in self.bot.library.bundles()
            if wanted in b.spec.id or wanted in b.spec.title.casefold()
        ]
        return choices[:25]  # Discord shows at most 25 choices

    # ------------------------------------------------------------------ status, end, list

    @app_commands.command(name="status", description="Turn, players, checks rolled, XP so far.")
    async def status(self, interaction: discord.Interaction[MardonarBot]) -> None:
        encounter = await self._here(interaction)
        names = await self.bot.names_of(encounter.session.participants)
        await interaction.response.send_message(
            status_text(
                encounter.session,
                title=encounter.content.spec.title,
                max_turns=encounter.content.spec.limits.max_turns,
                names=names,
            )
        )

    @app_commands.command(name="end", description="End this encounter now, unresolved.")
    async def end(self, interaction: discord.Interaction[MardonarBot]) -> None:
        encounter = await self._here(interaction)
        await interaction.response.defer(thinking=True)
        events = await self.bot.desk.end(encounter)
        await interaction.followup.send(
            f"Ending **{encounter.content.spec.title}** at turn {encounter.session.turn}."
        )
        channel = interaction.channel
        assert channel is not None
        await deliver(self.bot, channel, encounter, events)  # type: ignore[arg-type]

    @app_commands.command(name="list", description="The encounters you can start.")
    async def list_specs(self, interaction: discord.Interaction[MardonarBot]) -> None:
        tally = read_tally(self.bot.data_dir)
        messages = spec_list_text(
            (b.spec.id, b.spec.title, b.spec.summary, tally.get(b.spec.id, 0))
            for b in self.bot.library.bundles()
        )
        await interaction.response.send_message(messages[0], ephemeral=True)
        for more in messages[1:]:
            await interaction.followup.send(more, ephemeral=True)
