"""The encounters running on Discord: start, play a turn, end, resume after a restart.

No Discord types here, only ids: everything runs through the same `Engine` as the terminal
(mardonar/engine/loop.py). Each encounter has its own Engine holding the content version it
started with (a content reload never changes a running encounter) and its own model, while
the store and the memory are shared by all. The engine serializes the turns of a session with
the store's turn lock (a Redis lock when Redis is configured) and re-reads the session under
it, so a turn another process already played is never played over.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from mardonar.channels.discord.links import ThreadLink, ThreadLinks
from mardonar.channels.discord.party import party_of
from mardonar.content.versions import SpecVersions
from mardonar.engine.events import Notice
from mardonar.engine.limits import TurnLimits
from mardonar.engine.loop import Engine, Subscriber
from mardonar.engine.session import Session, Status
from mardonar.errors import UsageError
from mardonar.llm.turnformat import PlayerLine
from mardonar.transcript import TranscriptWriter

if TYPE_CHECKING:
    from mardonar.content.bundle import Bundle
    from mardonar.engine.events import Event
    from mardonar.llm.base import LLM
    from mardonar.memory.base import Memory
    from mardonar.store.base import SessionStore
    from mardonar.vtt.base import ItemRelay

log = logging.getLogger(__name__)

MakeLLM = Callable[["Bundle", int], "LLM"]
"""A fresh model for some content and a dice seed (the offline narrator is seeded too)."""


@dataclass
class Encounter:
    link: ThreadLink
    engine: Engine
    content: Bundle
    """The content version this encounter started with (or resumed on)."""
    session: Session
    writer: TranscriptWriter

    @property
    def thread_id(self) -> int:
        return self.link.thread_id

    @property
    def over(self) -> bool:
        return self.session.status is not Status.active


async def _close_engine_parts(engine: Engine) -> None:
    """An encounter's own model and subscribers that hold connections (the ingest stream);
    the store, memory and relay are shared and closed with the desk's owner."""
    await engine.llm.aclose()
    for subscriber in engine.subscribers:
        if isinstance(subscriber, TranscriptWriter):
            continue
        close_subscriber = getattr(subscriber, "close", None)
        if close_subscriber is not None and inspect.iscoroutinefunction(close_subscriber):
            await close_subscriber()


class Desk:
    """Running encounters by thread id."""

    def __init__(
        self,
        *,
        store: SessionStore,
        memory: Memory,
        data_dir: Path,
        make_llm: MakeLLM,
        content_for: Callable[[str], Bundle],
        limits: TurnLimits = TurnLimits(),
        subscribers: Callable[[Engine], list[Subscriber]] | None = None,
        relay: ItemRelay | None = None,
    ) -> None:
        self.store = store
        self.memory = memory
        self.data_dir = data_dir
        self.make_llm = make_llm
        self.content_for = content_for
        self.limits = limits
        self.subscribers = subscribers
        """Extra subscribers for each new engine (the metrics)."""
        self.relay = relay
        """Foundry VTT relay shared by every encounter (VTT_RELAY_URL), or None."""
        self.links = ThreadLinks(store)
        self.versions = SpecVersions(data_dir)
        """The spec versions encounters started with, so a restart keeps them."""
        self.running: dict[int, Encounter] = {}
        self._resuming = asyncio.Lock()

    def _engine(self, content: Bundle, seed: int) -> Engine:
        engine = Engine(
            content,
            llm=self.make_llm(content, seed),
            store=self.store,
            memory=self.memory,
            data_dir=self.data_dir,
            limits=self.limits,
            relay=self.relay,
        )
        if self.subscribers is not None:
            engine.subscribers.extend(self.subscribers(engine))
        return engine

    def transcript_path(self, thread_id: int) -> Path:
        # Under DATA_DIR, not the content repository, which is read-only in the container.
        return self.data_dir / "transcripts" / f"discord-{thread_id}.jsonl"

    # ------------------------------------------------------------------ lifecycle

    async def start(
        self,
        content: Bundle,
        *,
        thread_id: int,
        parent_id: int,
        guild_id: int | None,
        seed: int | None = None,
    ) -> tuple[Encounter, Event]:
        """A new session for `thread_id`; returns it with its (published) opening."""
        seed = seed if seed is not None else secrets.randbelow(1_000_000)
        self.versions.keep(content)
        engine = self._engine(replace(content, party=await party_of(self.store, ())), seed)
        session = await engine.start(seed=seed, transcript=self.transcript_path(thread_id))
        writer = TranscriptWriter(Path(str(session.transcript)))
        writer.header(**engine.header(session), channel="discord", thread=str(thread_id))
        engine.subscribers.append(writer)
        link = ThreadLink(thread_id, parent_id, guild_id, session.id, content.spec.id)
        await self.links.create(link)
        encounter = Encounter(link, engine, content, session, writer)
        self.running[thread_id] = encounter
        return encounter, engine.opening(session)

    async def find(self, thread_id: int) -> Encounter | None:
        """The open encounter of a thread, resuming it from the store after a restart."""
        found = self.running.get(thread_id)
        if found is not None:
            return found
        # Messages of one burst arrive in parallel tasks: only the first may resume.
        async with self._resuming:
            found = self.running.get(thread_id)
            if found is not None:
                return found
            linked = await self.links.get(thread_id)
            if linked is None or not linked[1]:
                return None
            return await self._resume(linked[0])

    async def link_of(self, thread_id: int) -> ThreadLink | None:
        """The link of a thread, open or closed (allow-lists need the parent of a thread the
        gateway cache does not know yet)."""
        if thread_id in self.running:
            return self.running[thread_id].link
        linked = await self.links.get(thread_id)
        return linked[0] if linked else None

    async def _resume(self, link: ThreadLink) -> Encounter | None:
        stored = await self.store.load_session(link.session_id)
        if stored is None or stored.status != Status.active.value:
            await self.links.close(link.thread_id)
            return None
        session = Session.model_validate_json(stored.data)
        try:
            content = self.content_for(link.spec_id)
        except UsageError:
            log.warning(
                "thread %s plays spec %s, which is no longer offered; it cannot resume",
                link.thread_id,
                link.spec_id,
            )
            return None
        content = self.versions.pinned(content, session.spec_sha256)
        engine = self._engine(content, session.seed)
        await self.memory.index_lore(content.lore)
        writer = TranscriptWriter(Path(session.transcript or self.transcript_path(link.thread_id)))
        engine.subscribers.append(writer)
        encounter = Encounter(link, engine, content, session, writer)
        self.running[link.thread_id] = encounter
        log.info("resumed encounter %s in thread %s", session.id, link.thread_id)
        return encounter

    async def resume_all(self) -> list[Encounter]:
        """Every encounter left open by the previous process (start-up)."""
        resumed: list[Encounter] = []
        for link in await self.links.open_links():
            encounter = await self.find(link.thread_id)
            if encounter is not None:
                resumed.append(encounter)
        return resumed

    # ------------------------------------------------------------------ turns

    async def _seat(self, encounter: Encounter, players: list[str]) -> None:
        """Make this thread's registered players the engine's party for the next turn."""
        party = await party_of(self.store, [*encounter.session.participants, *players])
        encounter.engine.bundle = replace(encounter.content, party=party)

    async def play(
        self,
        encounter: Encounter,
        lines: list[PlayerLine],
        *,
        waiting: Callable[[Event], Awaitable[None]] | None = None,
    ) -> list[Event]:
        """One turn of `lines` (a batched burst); the events it produced, in order. The
        engine holds the session's turn lock and catches up with the store itself; a turn the
        store refuses ends with one EngineError event, not an exception. `waiting` gets the
        notices of a wait for the turn lock as they happen (a thread would otherwise learn
        why nothing happened only once the turn is over), and they are not returned."""
        await self._seat(encounter, [line.player for line in lines])
        events: list[Event] = []
        async for event in encounter.engine.run_turn(encounter.session, lines):
            if waiting is not None and isinstance(event, Notice) and event.data.get("waiting"):
                await waiting(event)
            else:
                events.append(event)
        if not encounter.over:
            await self.links.touch(encounter.thread_id)
        return events

    async def end(self, encounter: Encounter) -> list[Event]:
        """End unresolved (`/encounter end`): summary written, no XP."""
        await self._seat(encounter, [])
        return await encounter.engine.end(encounter.session)

    async def retire(self, encounter: Encounter) -> None:
        """Forget a finished encounter: close its link, transcript and model."""
        self.running.pop(encounter.thread_id, None)
        await self.links.close(encounter.thread_id)
        encounter.writer.close()
        await _close_engine_parts(encounter.engine)

    async def close(self) -> None:
        for encounter in list(self.running.values()):
            encounter.writer.close()
            await _close_engine_parts(encounter.engine)
        self.running.clear()
