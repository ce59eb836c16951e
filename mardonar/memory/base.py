"""What the engine needs from memory: what each NPC remembers, and search over the lore.

One Protocol, one file per backend (`sqlite.py`, FTS5 in the embedded database; GraphMCP in
production). The same test suite (`tests/test_memory.py`) runs against every backend, so the
docstrings below are the contract.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from mardonar.content.models import Lore

__all__ = [
    "MAX_FACT_CHARS",
    "MEMORY_KINDS",
    "FreshMemory",
    "LoreHit",
    "Memory",
    "MemoryHit",
    "NewMemory",
    "check_memory",
    "memory_note",
    "remember_all",
]

MAX_FACT_CHARS = 500
"""Longest fact accepted: a memory is a sentence or two, not a transcript."""

MEMORY_KINDS = frozenset({"seed", "fact", "witnessed", "encounter-log"})
"""`seed`: the spec says the NPC knows it; `fact`: the GM's `remember` tool; `witnessed`:
something the NPC saw happen; `encounter-log`: written at resolve, and the only kind an NPC
carries into later sessions of the same spec."""


@dataclass(frozen=True)
class MemoryHit:
    """One recalled memory."""

    npc: str
    fact: str
    kind: str
    turn: int
    score: float
    """Relevance to the query, higher is better; 0.0 when it did not match the query."""


@dataclass(frozen=True)
class LoreHit:
    """One lore file found by `search_lore`."""

    lore_id: str
    title: str
    snippet: str
    """A short excerpt of the body around the matched words."""
    score: float
    """Relevance, higher is better."""


@dataclass(frozen=True)
class NewMemory:
    """The arguments of one `Memory.remember` call, for `remember_all`."""

    scope: str
    session_id: str
    npc: str
    fact: str
    kind: str = "fact"
    turn: int = 0


async def remember_all(memory: Memory, memories: Iterable[NewMemory]) -> None:
    """`memory.remember` each of `memories`, in order. A backend may offer
    `remember_many(memories)` to store them in one write (the embedded one: one transaction,
    so one fsync, for every fact the spec seeds at a session's start); with the same
    outcome, every memory validated before any is stored."""
    batch = list(memories)
    remember_many = getattr(memory, "remember_many", None)
    if remember_many is not None:
        await remember_many(batch)
        return
    for item in batch:
        await memory.remember(
            scope=item.scope,
            session_id=item.session_id,
            npc=item.npc,
            fact=item.fact,
            kind=item.kind,
            turn=item.turn,
        )


def check_memory(*, scope: str, session_id: str, npc: str, fact: str, kind: str) -> str:
    """Validate a memory for `Memory.remember` and return the fact stripped.

    Shared by every backend so that they refuse exactly the same inputs (with ValueError).
    """
    for name, value in (("scope", scope), ("session_id", session_id), ("npc", npc)):
        if not value:
            raise ValueError(f"a memory needs a {name}")
    if kind not in MEMORY_KINDS:
        raise ValueError(
            f"unknown memory kind {kind!r}: use one of {', '.join(sorted(MEMORY_KINDS))}"
        )
    fact = fact.strip()
    if not fact:
        raise ValueError("a memory needs a fact")
    if len(fact) > MAX_FACT_CHARS:
        raise ValueError(f"a fact is at most {MAX_FACT_CHARS} characters (got {len(fact)})")
    return fact


@runtime_checkable
class Memory(Protocol):
    """NPC memory, scoped by spec (`scope`) and session, and lore search."""

    async def remember(
        self,
        *,
        scope: str,
        session_id: str,
        npc: str,
        fact: str,
        kind: str = "fact",
        turn: int = 0,
    ) -> None:
        """Store a memory of `npc` in session `session_id` of spec `scope`.

        `kind` is one of `MEMORY_KINDS`. A fact longer than `MAX_FACT_CHARS`, empty, or of an
        unknown kind is refused with ValueError (see `check_memory`). Remembering a fact this
        NPC already holds with the same kind in the same session is a no-op, so seeding the
        spec's `knows` again on resume does not duplicate them.
        """
        ...

    async def recall(
        self, *, scope: str, session_id: str, npc: str, query: str = "", limit: int = 8
    ) -> list[MemoryHit]:
        """What `npc` remembers: at most `limit` memories, best first.

        Only this NPC's memories — never another NPC's — from this session, plus its
        `encounter-log` memories from other sessions of the same scope. Memories matching any
        word of `query` come first, most relevant first (ties: most recent first); the rest
        of `limit` is filled with the most recent others (score 0.0). With an empty query,
        simply the most recent first. The query is plain words: quotes, operators and other
        punctuation are ignored, never an error.
        """
        ...

    async def index_lore(self, lore: Iterable[Lore]) -> None:
        """Replace the whole lore index with `lore` (title, keywords and body are searched)."""
        ...

    async def search_lore(self, query: str, limit: int = 3) -> list[LoreHit]:
        """Lore matching any word of `query`, best first; a title or keyword match outranks a
        mention in the body. Punctuation in the query is ignored, never an error."""
        ...

    async def close(self) -> None:
        """Release connections; calling it twice is harmless."""
        ...


class FreshMemory:
    """`memory` for one session that starts clean (`mardonar play --fresh-memory`).

    Nothing is deleted: this session's memories are kept under a scope of their own
    (`<spec>@fresh:<session>`), so what earlier sessions of the spec left (their
    `encounter-log`s) is not recalled here, and what this one leaves is not recalled by
    later sessions either. Lore is shared as ever."""

    def __init__(self, memory: Memory) -> None:
        self.inner = memory

    @staticmethod
    def scope_of(scope: str, session_id: str) -> str:
        return f"{scope}@fresh:{session_id}"

    async def remember(
        self,
        *,
        scope: str,
        session_id: str,
        npc: str,
        fact: str,
        kind: str = "fact",
        turn: int = 0,
    ) -> None:
        await self.inner.remember(
            scope=self.scope_of(scope, session_id),
            session_id=session_id,
            npc=npc,
            fact=fact,
            kind=kind,
            turn=turn,
        )

    async def remember_many(self, memories: Iterable[NewMemory]) -> None:
        await remember_all(
            self.inner,
            (replace(item, scope=self.scope_of(item.scope, item.session_id)) for item in memories),
        )

    async def recall(
        self, *, scope: str, session_id: str, npc: str, query: str = "", limit: int = 8
    ) -> list[MemoryHit]:
        return await self.inner.recall(
            scope=self.scope_of(scope, session_id),
            session_id=session_id,
            npc=npc,
            query=query,
            limit=limit,
        )

    async def index_lore(self, lore: Iterable[Lore]) -> None:
        await self.inner.index_lore(lore)

    async def search_lore(self, query: str, limit: int = 3) -> list[LoreHit]:
        return await self.inner.search_lore(query, limit)

    async def close(self) -> None:
        await self.inner.close()


async def memory_note(memory: Memory, *, scope: str, session_id: str) -> str | None:
    """The start-up line saying what NPC memory carries into this session from earlier ones
    (a seeded playtest plays differently when it does), or None when nothing is carried.
    Backends that cannot count (GraphMCP) say nothing."""
    fresh = isinstance(memory, FreshMemory)
    source = memory.inner if isinstance(memory, FreshMemory) else memory
    count = getattr(source, "carried_over", None)
    if count is None:
        return None
    facts, sessions = await count(scope=scope, session_id=session_id)
    if not facts:
        return None
    earlier = (
        f"{facts} {'fact' if facts == 1 else 'facts'} from {sessions} earlier "
        f"{'session' if sessions == 1 else 'sessions'} of this spec"
    )
    if fresh:
        return f"NPC memory: starting clean (--fresh-memory); {earlier} kept, not recalled"
    return f"NPC memory: {earlier} remembered (--fresh-memory to start clean)"
