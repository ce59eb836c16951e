"""One way to open a headless engine: real SQLite, private databases in RAM, thrown away.

Replay, explore, `mardonar test` and the golden recorder each play many throwaway sessions.
Each session gets a fresh engine with its own store and memory — NPC memory would otherwise
leak between sessions, and session ids are per-second timestamps, so sessions sharing one
database would collide — as private SQLite databases in RAM, each a copy of an image: the
migrated store (made once per process by `SqliteStore.in_memory`), and the migrated memory
with the lore indexed (made once per lore by `Scratch`). Only the summary and tally files go
to a folder, one per session, under one throwaway folder per command, in RAM (/dev/shm) when
there is one. So a harness never touches the user's data.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mardonar.content.bundle import Bundle
    from mardonar.content.models import Lore as LoreDoc
    from mardonar.engine.loop import Engine, Subscriber
    from mardonar.llm.base import LLM

__all__ = ["Scratch", "scratch", "scratch_root"]


def scratch_root() -> str | None:
    """Where the throwaway summary and tally files go: RAM (/dev/shm) when there is one,
    since each is written with an fsync and then thrown away; else the system temp folder."""
    shm = Path("/dev/shm")
    return str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None


class Scratch:
    """The throwaway folder and the memory images the sessions of one command share.

    Forked workers (`mardonar replay --jobs`) each use their own copy, as the parent left it
    when it forked; they share the folder, so a session's folder is named by process too."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._memory_images: dict[tuple[LoreDoc, ...], bytes] = {}
        self._count = 0

    async def memory_image(self, bundle: Bundle | None) -> bytes:
        """The migrated memory with `bundle`'s lore indexed (made once per lore)."""
        from mardonar.memory.sqlite import SqliteMemory

        # The specs of one repository share its lore, hence its memory image.
        key = bundle.lore if bundle is not None else ()
        if key not in self._memory_images:
            self._memory_images[key] = await SqliteMemory.lore_image(key)
        return self._memory_images[key]

    @asynccontextmanager
    async def engine(
        self,
        bundle: Bundle,
        *,
        llm: LLM,
        subscribers: Iterable[Subscriber] = (),
    ) -> AsyncIterator[tuple[Engine, Path]]:
        """A fresh engine over throwaway databases in RAM, and its session's data folder;
        on exit the databases are closed and the folder deleted (the model is the caller's)."""
        from mardonar.engine.loop import Engine
        from mardonar.memory.sqlite import SqliteMemory
        from mardonar.store.sqlite import SqliteStore

        image = await self.memory_image(bundle)
        self._count += 1
        # Forked workers share the folder and each counts from where the parent was.
        data = self.folder / f"session-{os.getpid()}-{self._count}"
        data.mkdir()
        store = SqliteStore.in_memory()
        memory = SqliteMemory.in_memory(image)
        engine = Engine(
            bundle,
            llm=llm,
            store=store,
            memory=memory,
            data_dir=data,
            subscribers=subscribers,
        )
        try:
            yield engine, data
        finally:
            await memory.close()
            await store.close()
            # Freed at once rather than with the command: /dev/shm is small in some containers.
            shutil.rmtree(data, ignore_errors=True)


@contextmanager
def scratch(prefix: str) -> Iterator[Scratch]:
    """A `Scratch` over a throwaway folder named `prefix…`, deleted on exit."""
    with tempfile.TemporaryDirectory(prefix=prefix, dir=scratch_root()) as folder:
        yield Scratch(Path(folder))
