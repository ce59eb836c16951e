"""The Discord client: intents, start-up (`setup_hook`), the shared access check, shutdown.

Intents are the least that works: `guilds` (channels and threads in the cache), `guild
messages` (messages in encounter threads arrive) and `message content`, the privileged one:
a message in an encounter thread IS a player's turn, and without this intent Discord delivers
it with empty text. Slash commands need no intent. The bot never syncs its commands on start
(`mardonar discord sync` does, once per deploy).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from mardonar.channels.discord.access import CHANNEL_DENIED, AccessPolicy
from mardonar.channels.discord.user_errors import user_message

if TYPE_CHECKING:
    from mardonar.channels.discord.desk import Desk, MakeLLM
    from mardonar.channels.discord.library import ContentLibrary
    from mardonar.config import Settings
    from mardonar.memory.base import Memory
    from mardonar.ops.metrics import Metrics
    from mardonar.ops.shutdown import InFlight
    from mardonar.store.base import SessionStore

log = logging.getLogger("mardonar.discord")

CONTENT_POLL_SECONDS = 2.0
"""How often content files are checked for edits: a few stat calls, instant enough for an
author who just saved a file."""
GATEWAY_METRIC_SECONDS = 15.0
"""How often the gateway latency gauge is refreshed (discord.py measures it each heartbeat,
every ~41 s)."""


def bot_intents() -> discord.Intents:
    intents = discord.Intents.none()
    intents.guilds = True
    intents.guild_messages = True
    intents.message_content = True
    return intents


class GuardedTree(app_commands.CommandTree["MardonarBot"]):
    """Every slash command passes the one allow-list check; every error becomes one
    ephemeral line (user_errors.py)."""

    async def interaction_check(self, interaction: discord.Interaction[MardonarBot]) -> bool:
        reason = await self.client.access_denial(interaction.channel, interaction.user.id)
        if reason is None:
            return True
        if interaction.type is discord.InteractionType.autocomplete:
            await interaction.response.autocomplete([])
        else:
            await interaction.response.send_message(reason, ephemeral=True)
        return False

    async def on_error(
        self, interaction: discord.Interaction[MardonarBot], error: app_commands.AppCommandError
    ) -> None:
        text = user_message(error)
        if interaction.type is discord.InteractionType.autocomplete:
            return
        if interaction.response.is_done():
            await interaction.followup.send(text, ephemeral=True)
        else:
            await interaction.response.send_message(text, ephemeral=True)


class MardonarBot(commands.Bot):
    """Run encounters in Discord threads. `store`/`memory`/`make_llm` default to the ones
    the settings choose (tests pass their own, e.g. the scripted model)."""

    def __init__(
        self,
        settings: Settings,
        *,
        content_root: Path,
        make_llm: MakeLLM | None = None,
        store: SessionStore | None = None,
        memory: Memory | None = None,
        watch_content: bool = True,
        metrics: Metrics | None = None,
        inflight: InFlight | None = None,
        commands_only: bool = False,
        seed: int | None = None,
    ) -> None:
        # The bot never joins voice: discord.py's start-up warnings about missing voice
        # libraries would only make operators look for a problem that is not there.
        discord.VoiceClient.warn_nacl = False
        discord.VoiceClient.warn_dave = False
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=bot_intents(),
            help_command=None,
            tree_cls=GuardedTree,
            # Nobody is pinged unless a send names whom (posting.mentions_of): what the bot
            # posts is mostly the model's text.
            allowed_mentions=discord.AllowedMentions.none(),
        )
        from mardonar.ops.shutdown import InFlight

        self.settings = settings
        self.content_root = content_root
        access = settings.discord
        self.policy = AccessPolicy.of(access.allowed_channels, access.allowed_users)
        self.watch_content = watch_content
        self.metrics = metrics
        self.inflight = inflight or InFlight()
        self.commands_only = commands_only
        """Only register the commands (for `discord sync`): no store, no content."""
        self.seed = seed
        """Dice seed of every new encounter (tests); None = a random one each."""
        self._make_llm = make_llm
        self._store = store
        self._memory = memory
        self._desk: Desk | None = None
        self._library: ContentLibrary | None = None
        self._background: list[asyncio.Task[None]] = []

    # ------------------------------------------------------------------ parts

    @property
    def desk(self) -> Desk:
        if self._desk is None:
            raise RuntimeError("the bot has not been set up (setup_hook)")
        return self._desk

    @property
    def library(self) -> ContentLibrary:
        if self._library is None:
            raise RuntimeError("the bot has not been set up (setup_hook)")
        return self._library

    @property
    def data_dir(self) -> Path:
        return self.desk.data_dir

    # ------------------------------------------------------------------ start-up

    async def setup_hook(self) -> None:
        from mardonar.channels.discord.cogs.character import CharacterCog
        from mardonar.channels.discord.cogs.encounter import EncounterCog
        from mardonar.channels.discord.cogs.play import PlayCog

        await self.add_cog(EncounterCog(self))
        await self.add_cog(CharacterCog(self))
        if self.commands_only:
            return
        await self._open_parts()
        play = PlayCog(self)
        await self.add_cog(play)
        try:
            resumed = await self.desk.resume_all()
        except Exception as error:  # the store may be down at start; threads resume later
            log.warning("could not resume open encounters yet: %s", user_message(error))
        else:
            if resumed:
                log.info("resumed %d open encounter(s)", len(resumed))
            for encounter in resumed:
                if encounter.session.pending:
                    self._background.append(asyncio.create_task(play.replay_interrupted(encounter)))
        self.encounters_changed()
        if self.watch_content:
            self._background.append(
                asyncio.create_task(self._watch_content(), name="mardonar-loop-content")
            )
            # No SIGHUP reload where the loop cannot take signal handlers (not the main
            # thread, or a platform without them); the file watcher still reloads.
            with contextlib.suppress(NotImplementedError, RuntimeError):
                asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, self.reload_content)
        if self.metrics is not None:
            self._background.append(
                asyncio.create_task(self._report_latency(), name="mardonar-loop-latency")
            )

    async def _open_parts(self) -> None:
        from mardonar.channels.discord.desk import Desk
        from mardonar.channels.discord.library import ContentLibrary
        from mardonar.engine.limits import TurnLimits
        from mardonar.llm.select import select_llm
        from mardonar.runtime import open_memory, open_relay, open_store

        settings = self.settings
        folder = settings.store.data_dir
        folder.mkdir(parents=True, exist_ok=True)
        store = self._store or open_store(settings, folder)
        memory = self._memory or open_memory(settings, folder)
        library = ContentLibrary(self.content_root)
        notes = await asyncio.to_thread(library.load)
        log.info(
            "offering %d encounter(s): %s (%d left out, see above)",
            len(library.ids()),
            ", ".join(library.ids()) or "none",
            sum(not note.ok for note in notes),
        )

        def default_llm(content: Any, seed: int) -> Any:
            return select_llm(content, settings, model=None, seed=seed)[0]

        self._library = library
        self._desk = Desk(
            store=store,
            memory=memory,
            data_dir=folder,
            make_llm=self._make_llm or default_llm,
            content_for=library.get,
            limits=TurnLimits.from_settings(settings),
            subscribers=self._engine_subscribers,
            relay=open_relay(settings),
        )

    def _engine_subscribers(self, engine: Any) -> list[Any]:
        """What every encounter's engine reports to besides its transcript: the metrics, and
        the GraphMCP ingest stream when Redis is configured (as `open_runtime` does)."""
        from mardonar.runtime import open_ingest

        subscribers: list[Any] = []
        if self.metrics is not None:
            subscribers.append(self.metrics.subscriber(backend=lambda: str(engine.llm.name)))
        ingest = open_ingest(self.settings, engine.bundle)
        if ingest is not None:
            subscribers.append(ingest)
        return subscribers

    async def names_of(self, players: list[str]) -> dict[str, str]:
        """Character names of registered players (ids of unregistered ones stay ids)."""
        from mardonar.channels.discord.party import party_of

        party = await party_of(self.desk.store, players)
        return {character.player: character.name for character in party.characters}

    # ------------------------------------------------------------------ the one check

    async def home_channel(self, channel: object) -> int | None:
        """The channel whose permission counts: a thread's parent, else the channel itself.
        A thread the gateway cache does not know (yet) is looked up in the thread links."""
        if isinstance(channel, discord.Thread):
            return channel.parent_id
        if isinstance(channel, (discord.PartialMessageable, discord.Object)) or channel is None:
            if channel is None:
                return None
            link = await self.desk.link_of(channel.id) if self._desk is not None else None
            return link.parent_id if link is not None else channel.id
        channel_id = getattr(channel, "id", None)
        return channel_id if isinstance(channel_id, int) else None

    async def access_denial(self, channel: object, user_id: int) -> str | None:
        """Why `user_id` may not use the bot in `channel`, or None: the ONE allow-list
        check, for every command and every message."""
        return self.policy.denial(channel_id=await self.home_channel(channel), user_id=user_id)

    def channel_denied(self, reason: str | None) -> bool:
        return reason == CHANNEL_DENIED

    # ------------------------------------------------------------------ content

    def reload_content(self) -> None:
        """SIGHUP: re-lint and reload the content now."""
        log.info("SIGHUP: reloading content")
        self._background.append(asyncio.create_task(self._refresh_content()))

    async def _refresh_content(self) -> None:
        try:
            await asyncio.to_thread(self.library.refresh)
        except Exception:
            log.exception("content reload failed; the previous content stays in use")

    async def _watch_content(self) -> None:
        while True:
            await asyncio.sleep(CONTENT_POLL_SECONDS)
            await self._refresh_content()

    # ------------------------------------------------------------------ operations

    def encounters_changed(self) -> None:
        if self.metrics is not None and self._desk is not None:
            self.metrics.set_active_sessions(len(self._desk.running))

    async def _report_latency(self) -> None:
        while True:
            if self.metrics is not None:
                self.metrics.set_gateway_latency(self.latency)
            await asyncio.sleep(GATEWAY_METRIC_SECONDS)

    async def is_ready_for_traffic(self) -> bool:
        """/readyz: the gateway is connected and the store answers."""
        return await self.gateway_ready() and await self.store_reachable()

    async def gateway_ready(self) -> bool:
        return self.is_ready() and not self.is_closed() and self.ws is not None

    async def store_reachable(self) -> bool:
        if self._desk is None:
            return False
        try:
            await self._desk.store.check()
        except Exception:  # StoreUnavailable, or a surprise: either way not ready
            return False
        return True

    # ------------------------------------------------------------------ messages, shutdown

    async def on_message(self, message: discord.Message, /) -> None:
        """No prefix commands: messages are handled by the play cog only."""

    async def close(self) -> None:
        """Finish queued and running turns, then close the parts and the connection."""
        for task in self._background:
            task.cancel()
        if self.watch_content:
            # Nothing to remove when setup could not install it (see setup_hook).
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)
        for cog in list(self.cogs.values()):
            drain = getattr(cog, "drain", None)
            if drain is not None:
                await drain()
        if self._desk is not None:
            desk, self._desk = self._desk, None
            await desk.close()
            if desk.relay is not None:
                await desk.relay.aclose()
            await desk.memory.close()
            await desk.store.close()
        await super().close()
