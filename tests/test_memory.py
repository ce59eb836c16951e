"""The Memory contract, run against every backend in tests/backends.py.

The tests at the end (marked "SQLite only") cover what only the embedded backend has: its
FTS5 query builder, fuzzed against a real FTS5 table, and sharing the file with the store.
"""

# Test functions take the imported `memory` fixture as an argument, which ruff reads as a
# redefinition.
# ruff: noqa: F811

from __future__ import annotations

import asyncio
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mardonar.content.models import Lore
from mardonar.memory.base import MAX_FACT_CHARS, Memory, MemoryHit
from tests.backends import MemoryFactory, memory, opened  # noqa: F401  (the fixture)

SCOPE = "goblin-toll-bridge"

NASTY_QUERIES = [
    "",
    "   ",
    '"',
    '"unbalanced quote',
    "''",
    "*",
    "bridge*",
    "*bridge",
    "(",
    ")",
    "(bridge",
    "bridge)",
    "NEAR(bridge troll)",
    "NEAR(bridge troll, 2)",
    "bridge NEAR troll",
    "-bridge",
    "bridge -troll",
    "AND",
    "OR OR OR",
    "NOT bridge",
    "bridge AND",
    "fact:bridge",
    "title:troll",
    "{fact}: bridge",
    "^bridge",
    "+bridge",
    "bridge + troll",
    "a:b:c",
    "\\",
    "%",
    "_",
    "\x00",
    "\n\t",
    "Über die Brücke ✓ 🐸",
    "what does Grukk know about the bridge?",
    "x" * 2000,
    " ".join(f"w{i}" for i in range(500)),
]


def test_recall_returns_only_this_npcs_memories(memory: MemoryFactory) -> None:
    async def scenario() -> None:
        async with opened(memory) as m:
            await m.remember(
                scope=SCOPE, session_id="s1", npc="grukk", fact="The bridge was built by dwarves"
            )
            await m.remember(
                scope=SCOPE, session_id="s1", npc="troll", fact="Grukk owes me twelve gold"
            )
            await m.remember(
                scope=SCOPE,
                session_id="s1",
                npc="troll",
                fact="The troll hides the bridge key",
                kind="encounter-log",
            )
            for query in ("", "gold", "owes twelve gold", "troll key bridge", "dwarves"):
                hits = await m.recall(scope=SCOPE, session_id="s1", npc="grukk", query=query)
                assert [hit.fact for hit in hits] == ["The bridge was built by dwarves"]
                assert {hit.npc for hit in hits} == {"grukk"}
            assert await m.recall(scope=SCOPE, session_id="s1", npc="nobody") == []

    asyncio.run(scenario())


def test_recall_is_scoped_to_the_session_plus_encounter_logs(memory: MemoryFactory) -> None:
    async def scenario() -> None:
        async with opened(memory) as m:
            for kind in ("seed", "fact", "witnessed", "encounter-log"):
                await m.remember(
                    scope=SCOPE,
                    session_id="earlier",
                    npc="grukk",
                    fact=f"Grukk's {kind} memory of the bridge",
                    kind=kind,
                    turn=3,
                )
            await m.remember(
                scope="haunted-mill",
                session_id="elsewhere",
                npc="grukk",
                fact="A log from another spec",
                kind="encounter-log",
            )
            for query in ("", "bridge memory", "log spec"):
                hits = await m.recall(scope=SCOPE, session_id="later", npc="grukk", query=query)
                assert [(hit.fact, hit.kind, hit.turn) for hit in hits] == [
                    ("Grukk's encounter-log memory of the bridge", "encounter-log", 3)
                ]
            same = await m.recall(scope=SCOPE, session_id="earlier", npc="grukk")
            assert {hit.kind for hit in same} == {"seed", "fact", "witnessed", "encounter-log"}

    asyncio.run(scenario())


def test_recall_ranks_matches_first_then_the_most_recent(memory: MemoryFactory) -> None:
    facts = [
        "The bridge was built by dwarves",
        "Grukk owes the troll a debt of twelve gold",
        "Aria threatened Grukk with a dagger",
        "Grukk likes shiny buttons",
        "The troll under the bridge snores at noon",
    ]

    async def scenario() -> None:
        async with opened(memory) as m:
            for turn, fact in enumerate(facts, start=1):
                await m.remember(scope=SCOPE, session_id="s1", npc="grukk", fact=fact, turn=turn)

            recent = await m.recall(scope=SCOPE, session_id="s1", npc="grukk")
            assert [hit.fact for hit in recent] == facts[::-1]

            hits = await m.recall(
                scope=SCOPE, session_id="s1", npc="grukk", query="What about the troll's debt?"
            )
            assert hits[0].fact == facts[1]  # matches "troll" and "debt"
            assert hits[1].fact == facts[4]  # matches "troll" only
            assert hits[0].score > hits[1].score > 0
            # The rest fill the limit, most recent first, marked as not matching.
            assert [hit.fact for hit in hits[2:]] == [facts[3], facts[2], facts[0]]
            assert all(hit.score == 0.0 for hit in hits[2:])
            assert all(isinstance(hit, MemoryHit) for hit in hits)

            limited = await m.recall(scope=SCOPE, session_id="s1", npc="grukk", limit=2)
            assert [hit.fact for hit in limited] == [facts[4], facts[3]]
            assert await m.recall(scope=SCOPE, session_id="s1", npc="grukk", limit=0) == []

    asyncio.run(scenario())


def test_recall_finds_word_forms(memory: MemoryFactory) -> None:
    async def scenario() -> None:
        async with opened(memory) as m:
            await m.remember(scope=SCOPE, session_id="s1", npc="grukk", fact="Old news")
            await m.remember(
                scope=SCOPE, session_id="s1", npc="grukk", fact="Travellers crossed the bridges"
            )
            await m.remember(scope=SCOPE, session_id="s1", npc="grukk", fact="Newer news")
            hits = await m.recall(scope=SCOPE, session_id="s1", npc="grukk", query="BRIDGE")
            assert hits[0].fact == "Travellers crossed the bridges"

    asyncio.run(scenario())


def test_remember_bounds_and_validates(memory: MemoryFactory) -> None:
    async def scenario() -> None:
        async with opened(memory) as m:
            longest = "x" * MAX_FACT_CHARS
            await m.remember(scope=SCOPE, session_id="s1", npc="grukk", fact=longest)
            for bad in ("x" * (MAX_FACT_CHARS + 1), "", "   "):
                with pytest.raises(ValueError):
                    await m.remember(scope=SCOPE, session_id="s1", npc="grukk", fact=bad)
            with pytest.raises(ValueError):
                await m.remember(
                    scope=SCOPE, session_id="s1", npc="grukk", fact="ok", kind="gossip"
                )
            hits = await m.recall(scope=SCOPE, session_id="s1", npc="grukk")
            assert [hit.fact for hit in hits] == [longest]

    asyncio.run(scenario())


def test_remembering_the_same_fact_twice_keeps_one(memory: MemoryFactory) -> None:
    """Seeding the spec's `knows` again on resume must not duplicate them."""

    async def scenario() -> None:
        async with opened(memory) as m:
            for _ in range(3):
                await m.remember(
                    scope=SCOPE, session_id="s1", npc="grukk", fact="Dwarves", kind="seed"
                )
            await m.remember(scope=SCOPE, session_id="s1", npc="grukk", fact="Dwarves")
            hits = await m.recall(scope=SCOPE, session_id="s1", npc="grukk")
            assert sorted(hit.kind for hit in hits) == ["fact", "seed"]

    asyncio.run(scenario())


@pytest.mark.parametrize("query", NASTY_QUERIES)
def test_queries_are_words_never_syntax(memory: MemoryFactory, query: str) -> None:
    async def scenario() -> None:
        async with opened(memory) as m:
            await m.remember(scope=SCOPE, session_id="s1", npc="grukk", fact="The bridge")
            await m.index_lore([_lore("trolls", "Trolls", ["troll"], "Trolls live under bridges.")])
            hits = await m.recall(scope=SCOPE, session_id="s1", npc="grukk", query=query)
            assert [hit.fact for hit in hits] == ["The bridge"]
            await m.search_lore(query)

    asyncio.run(scenario())


def _lore(lore_id: str, title: str, keywords: list[str], body: str) -> Lore:
    return Lore(id=lore_id, title=title, keywords=tuple(keywords), body=body)


LIBRARY = [
    _lore(
        "rivers",
        "Rivers of the Reach",
        ["river", "ford"],
        "The Grey River runs south. Its fords are shallow in summer. Fishermen say a troll"
        " once lived under the old mill bridge, but nobody has seen one for years.",
    ),
    _lore(
        "trolls",
        "Trolls",
        ["troll", "bridge troll"],
        "Trolls are huge, patient and hungry. They regrow lost limbs and fear fire.",
    ),
    _lore(
        "goblins",
        "Goblins of the Marsh",
        ["goblin", "toll"],
        "Goblins extort travellers at bridges and pay their debts to whoever is bigger.",
    ),
]


def test_lore_search_ranks_title_and_keyword_matches_first(memory: MemoryFactory) -> None:
    async def scenario() -> None:
        async with opened(memory) as m:
            await m.index_lore(LIBRARY)
            hits = await m.search_lore("Tell me about the troll")
            assert [hit.lore_id for hit in hits] == ["trolls", "rivers"]
            assert hits[0].title == "Trolls"
            assert hits[0].score > hits[1].score > 0
            assert "troll" in hits[1].snippet.lower()

            assert [hit.lore_id for hit in await m.search_lore("toll")] == ["goblins"]
            assert [hit.lore_id for hit in await m.search_lore("fords")] == ["rivers"]
            assert len(await m.search_lore("troll goblin river", limit=2)) == 2
            assert await m.search_lore("dragons") == []
            assert await m.search_lore("") == []

    asyncio.run(scenario())


def test_index_lore_replaces_the_index(memory: MemoryFactory) -> None:
    async def scenario() -> None:
        async with opened(memory) as m:
            await m.index_lore(LIBRARY)
            await m.index_lore([_lore("dragons", "Dragons", ["dragon"], "They hoard gold.")])
            assert await m.search_lore("troll") == []
            hits = await m.search_lore("gold")
            assert [(hit.lore_id, hit.title) for hit in hits] == [("dragons", "Dragons")]
            assert "gold" in hits[0].snippet
            await m.index_lore([])
            assert await m.search_lore("gold") == []

    asyncio.run(scenario())


def test_memory_persists_across_close_and_reopen(memory: MemoryFactory) -> None:
    async def write() -> None:
        async with opened(memory) as m:
            await m.remember(
                scope=SCOPE, session_id="s1", npc="grukk", fact="Aria paid", kind="encounter-log"
            )
            await m.index_lore(LIBRARY)

    async def read() -> None:
        async with opened(memory) as m:
            assert isinstance(m, Memory)
            hits = await m.recall(scope=SCOPE, session_id="s2", npc="grukk", query="paid")
            assert [hit.fact for hit in hits] == ["Aria paid"]
            assert [hit.lore_id for hit in await m.search_lore("goblin")] == ["goblins"]

    asyncio.run(write())
    asyncio.run(read())


def test_close_twice_is_harmless(memory: MemoryFactory) -> None:
    async def scenario() -> None:
        m = memory()
        await m.close()
        await m.close()

    asyncio.run(scenario())


# ------------------------------------------------------------------------------ SQLite only


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_sqlite_fts_query_is_always_valid_fts5(text: str) -> None:
    from mardonar.memory.sqlite import fts_query

    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE VIRTUAL TABLE t USING fts5(body, tokenize = 'porter unicode61')")
    conn.execute("INSERT INTO t VALUES ('the goblin bridge')")
    query = fts_query(text)
    if query is not None:
        conn.execute("SELECT * FROM t WHERE t MATCH ?", (query,)).fetchall()
    conn.close()


def test_sqlite_store_and_memory_share_one_file(tmp_path: Path) -> None:
    from mardonar.memory.sqlite import SqliteMemory
    from mardonar.store.sqlite import SqliteStore

    path = tmp_path / "data" / "mardonar.db"

    async def scenario() -> None:
        async with opened(lambda: SqliteStore(path)) as s, opened(lambda: SqliteMemory(path)) as m:
            await s.save_session(
                "s1", spec_id=SCOPE, status="active", turn=0, data="{}", expected_turn=None
            )
            await m.remember(scope=SCOPE, session_id="s1", npc="grukk", fact="Dwarves")
            assert await s.load_session("s1") is not None
            assert len(await m.recall(scope=SCOPE, session_id="s1", npc="grukk")) == 1

    asyncio.run(scenario())
    with closing(sqlite3.connect(path)) as conn:
        versions = dict(conn.execute("SELECT component, version FROM mardonar_schema"))
    assert versions == {"store": 1, "memory": 2}


def test_an_edited_lore_file_is_indexed_again_even_with_the_same_id(tmp_path: Path) -> None:
    """Session starts skip re-indexing unchanged lore by a digest: any edit must show."""
    from mardonar.memory.sqlite import SqliteMemory

    path = tmp_path / "mardonar.db"

    async def scenario() -> None:
        async with opened(lambda: SqliteMemory(path)) as m:
            await m.index_lore([_lore("trolls", "Trolls", ["troll"], "Trolls live under bridges.")])
            await m.index_lore([_lore("trolls", "Trolls", ["troll"], "Trolls live under bridges.")])
            await m.index_lore([_lore("trolls", "Trolls", ["troll"], "Trolls hoard cheese.")])
            assert [hit.lore_id for hit in await m.search_lore("cheese")] == ["trolls"]
            assert await m.search_lore("bridges") == []
        async with opened(lambda: SqliteMemory(path)) as m:  # the digest outlives the process
            await m.index_lore([_lore("trolls", "Trolls", ["ogre"], "Trolls hoard cheese.")])
            assert [hit.lore_id for hit in await m.search_lore("ogre")] == ["trolls"]

    asyncio.run(scenario())


def test_a_memory_file_of_the_first_schema_is_upgraded_with_nothing_lost(tmp_path: Path) -> None:
    from mardonar.memory.sqlite import _MEMORY_MIGRATIONS, SqliteMemory
    from mardonar.store.sqlite import migrate

    path = tmp_path / "mardonar.db"
    with closing(sqlite3.connect(path, isolation_level=None)) as conn:
        migrate(conn, "memory", _MEMORY_MIGRATIONS[:1], path)
        conn.execute(
            "INSERT INTO memories (scope, session_id, npc, kind, fact, turn, created_at)"
            " VALUES (?, 's1', 'grukk', 'encounter-log', 'Aria paid the toll', 1, 'then')",
            (SCOPE,),
        )
        conn.execute(
            "INSERT INTO lore_fts (lore_id, title, keywords, body)"
            " VALUES ('trolls', 'Trolls', 'troll', 'Trolls live under bridges.')"
        )

    async def scenario() -> None:
        async with opened(lambda: SqliteMemory(path)) as m:
            hits = await m.recall(scope=SCOPE, session_id="s2", npc="grukk", query="toll")
            assert [hit.fact for hit in hits] == ["Aria paid the toll"]
            assert [hit.lore_id for hit in await m.search_lore("bridges")] == ["trolls"]
            await m.index_lore([_lore("trolls", "Trolls", ["troll"], "Trolls hoard cheese.")])
            assert [hit.lore_id for hit in await m.search_lore("cheese")] == ["trolls"]

    asyncio.run(scenario())
    with closing(sqlite3.connect(path)) as conn:
        versions = dict(conn.execute("SELECT component, version FROM mardonar_schema"))
    assert versions == {"memory": 2}
