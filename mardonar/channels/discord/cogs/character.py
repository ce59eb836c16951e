"""`/character set name class level`: register the caller's character.

On Discord the party is the registry (Discord user id → character), shared by every
encounter; a player must register before their messages count as turns.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from mardonar.channels.discord.party import character_of, registry_record

if TYPE_CHECKING:
    # Only named in annotations: a run-time import would close the circle bot.py →
    # cogs → bot.py (bot.py imports the cogs when it sets up).
    from mardonar.channels.discord.bot import MardonarBot


class CharacterCog(commands.GroupCog, group_name="character", group_description="Your character"):
    def __init__(self, bot: MardonarBot) -> None:
        self.bot = bot
        super().__init__()

    @app_commands.command(name="set", description="Register (or replace) your character.")
    @app_commands.rename(class_="class")
    @app_commands.describe(
        name="Your character's name",
        class_="Your character's class (rogue, fighter, cleric…)",
        level="Your character's level, 1 to 20",
    )
    async def set_character(
        self,
        interaction: discord.Interaction[MardonarBot],
        name: app_commands.Range[str, 1, 80],
        class_: app_commands.Range[str, 1, 40],
        level: app_commands.Range[int, 1, 20],
    ) -> None:
        store = self.bot.desk.store
        player = str(interaction.user.id)
        record = registry_record(name, class_, level, await store.get_character(player))
        character = character_of(player, record)
        if character is None:
            await interaction.response.send_message(
                "That name or class cannot be used; try plain words.", ephemeral=True
            )
            return
        await store.set_character(player, record)
        await interaction.response.send_message(
            f"Registered **{character.name}**, a level {character.level} {character.class_}. "
            "Your messages in encounter threads now play as this character.",
            ephemeral=True,
        )
