"""Wiring: settings + bundle → an Engine with its store, memory and model.

Every front end (plain REPL, TUI, Discord) builds its engine here, so they all run the
same parts the same way.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mardonar.config import Settings
    from mardonar.content.bundle import Bundle
    from mardonar.engine.loop import Engine, Subscriber
    from mardonar.llm.base import LLM
    from mardonar.memory.base import Memory
    from mardonar.ops.ingest import IngestStream
    from mardonar.store.base import SessionStore
    from mardonar.vtt.base import ItemRelay

DB_FILE = "mardonar.db"


@dataclass
class Runtime:
    engine: Engine
    store: SessionStore
    memory: Memory
    backend: str
    ingest: IngestStream | None = None
    """Player lines to GRAPHMCP_INGEST_STREAM (when REDIS_URL is set); also a subscriber."""

    async def close(self) -> None:
        await _close_llm(self.engine.llm)
        if self.ingest is not None:
            await self.ingest.close()
        await self.memory.close()
        await self.store.close()
        if self.engine.relay is not None:
            await self.engine.relay.aclose()

    async def replace_llm(self, llm: LLM) -> None:
        """Swap the model (resume rebuilds it with the session's own seed)."""
        old, self.engine.llm = self.engine.llm, llm
        await _close_llm(old)


async def _close_llm(llm: LLM) -> None:
    await llm.aclose()


def open_runtime(
    bundle: Bundle,
    settings: Settings,
    *,
    model: str | None,
    seed: int,
    subscribers: Iterable[Subscriber] = (),
    data_dir: Path | None = None,
    fresh_memory: bool = False,
) -> Runtime:
    """`fresh_memory`: NPCs recall nothing earlier sessions of the spec left (`FreshMemory`;
    nothing is deleted)."""
    from mardonar.engine.limits import TurnLimits
    from mardonar.engine.loop import Engine
    from mardonar.llm.select import select_llm

    folder = made_data_dir(data_dir or settings.store.data_dir)
    store = open_store(settings, folder)
    ingest = open_ingest(settings, bundle)
    if ingest is not None:
        subscribers = [*subscribers, ingest]
    memory = open_memory(settings, folder)
    if fresh_memory:
        from mardonar.memory.base import FreshMemory

        memory = FreshMemory(memory)
    llm, backend = select_llm(bundle, settings, model=model, seed=seed)
    engine = Engine(
        bundle,
        llm=llm,
        store=store,
        memory=memory,
        data_dir=folder,
        limits=TurnLimits.from_settings(settings),
        subscribers=subscribers,
        relay=open_relay(settings),
    )
    return Runtime(engine=engine, store=store, memory=memory, backend=backend, ingest=ingest)


def made_data_dir(folder: Path) -> Path:
    """`folder` (DATA_DIR), created if missing; a `ConfigError` line when it cannot be."""
    from mardonar.errors import ConfigError

    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ConfigError(
            f"DATA_DIR={folder}: cannot create it ({error.strerror}); point DATA_DIR at a "
            "writable folder"
        ) from None
    return folder


# One builder per part, each choosing its backend from the settings (CONTRACT §9): the
# embedded SQLite file under DATA_DIR unless the production service is configured.


def open_store(settings: Settings, folder: Path) -> SessionStore:
    """Sessions and registries: Redis when REDIS_URL is set, else DATA_DIR/mardonar.db."""
    wanted = settings.store
    if wanted.redis_url is not None:
        from mardonar.store.redis import RedisStore

        # Cheap: nothing connects until the first call (an unreachable Redis is then one
        # StoreUnavailable line, at start-up or for one turn).
        return RedisStore(
            wanted.redis_url,
            session_ttl=wanted.session_ttl,
            lock_timeout=wanted.turn_lock_timeout,
        )
    from mardonar.store.sqlite import SqliteStore

    return SqliteStore(folder / DB_FILE)


def open_ingest(settings: Settings, bundle: Bundle) -> IngestStream | None:
    """Player lines to GRAPHMCP_INGEST_STREAM when REDIS_URL is set (else nothing)."""
    redis_url, memory = settings.store.redis_url, settings.memory
    if redis_url is None:
        return None
    from mardonar.ops.ingest import IngestStream

    return IngestStream(
        redis_url,
        memory.ingest_stream,
        maxlen=memory.ingest_maxlen,
        spec_id=bundle.spec.id,
    )


def open_relay(settings: Settings) -> ItemRelay | None:
    """Foundry VTT: the REST API relay when VTT_RELAY_URL is set, else None (items and XP
    are recorded, not pushed)."""
    url = settings.vtt.relay_url
    if url is None:
        return None
    from mardonar.vtt.foundry import FoundryRelay

    return FoundryRelay(url)


def open_memory(settings: Settings, folder: Path) -> Memory:
    """NPC memory and lore search: GraphMCP when GRAPHMCP_URL is set, else SQLite FTS5."""
    wanted = settings.memory
    if wanted.graphmcp_url is not None:
        from mardonar.memory.graphmcp import GraphMcpMemory

        return GraphMcpMemory(
            wanted.graphmcp_url,
            score_threshold=wanted.score_threshold,
            tools=wanted.tools,
        )
    from mardonar.memory.sqlite import SqliteMemory

    return SqliteMemory(folder / DB_FILE)
