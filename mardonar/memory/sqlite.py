"""The embedded memory: NPC memories and lore search with SQLite FTS5, in DATA_DIR/mardonar.db.

The tables live in the same file as the store (CONTRACT.md §10 puts sessions, registries and
NPC memory in one `mardonar.db`), but this class opens its own connection to it. The store
and the memory are independent Protocols that a deployment may mix — a Redis store with
this memory, or this store with GraphMCP — so each owns its connection, its tables and its
schema version (`migrate(..., "memory", ...)`). WAL mode lets the two connections read at
once, and `busy_timeout` queues their (short, single-statement) writes.

Ranking is FTS5's bm25. Queries are never passed through as FTS syntax: the words are pulled
out and each is quoted, so a player's `"`, `*`, `(`, `NEAR` or `-` is just text.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from mardonar.memory.base import LoreHit, MemoryHit, NewMemory, check_memory
from mardonar.store.sqlite import Migration, SqliteBacked, utc_now, write_transaction

if TYPE_CHECKING:
    from mardonar.content.models import Lore

__all__ = ["SqliteMemory", "fts_query"]

MAX_LIMIT = 100
"""Most hits one call returns, whatever the caller asks for."""
MAX_QUERY_WORDS = 32
"""Words of a query used for matching: bounds the cost of a pasted wall of text."""
SNIPPET_TOKENS = 32
"""Length of a lore snippet in tokens (FTS5 allows at most 64)."""
LORE_WEIGHTS = (0.0, 10.0, 5.0, 1.0)
"""bm25 column weights for (lore_id, title, keywords, body): a word in the title or the
keywords says what a file is about; the same word in the body may be a passing mention."""

_TOKENIZER = "porter unicode61 remove_diacritics 2"  # "bridges" finds "bridge", "Élan" "elan"

_MEMORY_MIGRATIONS: Sequence[Migration] = (
    (
        """
        CREATE TABLE memories (
            id INTEGER PRIMARY KEY,
            scope TEXT NOT NULL,
            session_id TEXT NOT NULL,
            npc TEXT NOT NULL,
            kind TEXT NOT NULL,
            fact TEXT NOT NULL,
            turn INTEGER NOT NULL,
            created_at TEXT NOT NULL,
            UNIQUE (scope, session_id, npc, kind, fact)
        )
        """,
        "CREATE INDEX memories_by_npc ON memories (scope, npc, session_id)",
        # External content: the text is stored once (in memories); triggers keep the index.
        f"""
        CREATE VIRTUAL TABLE memories_fts USING fts5(
            fact, content = 'memories', content_rowid = 'id', tokenize = '{_TOKENIZER}'
        )
        """,
        """
        CREATE TRIGGER memories_after_insert AFTER INSERT ON memories BEGIN
            INSERT INTO memories_fts (rowid, fact) VALUES (new.id, new.fact);
        END
        """,
        """
        CREATE TRIGGER memories_after_delete AFTER DELETE ON memories BEGIN
            INSERT INTO memories_fts (memories_fts, rowid, fact)
            VALUES ('delete', old.id, old.fact);
        END
        """,
        f"""
        CREATE VIRTUAL TABLE lore_fts USING fts5(
            lore_id UNINDEXED, title, keywords, body, tokenize = '{_TOKENIZER}'
        )
        """,
    ),
    (
        # What the lore index holds, as a digest: every session start checks it against
        # the repository's lore with one row read instead of the whole index.
        "CREATE TABLE lore_index (digest TEXT NOT NULL)",
    ),
)

# Runs of letters and digits (not `_`, which the FTS tokenizer would split on anyway).
_WORD = re.compile(r"[^\W_]+")

# Words that would make nearly every memory "match" a question like "what does Grukk know
# about the bridge?". Dropped unless the query has nothing else.
_STOPWORD_TEXT = """
    a about above after again against all am an and any are as at be because been before
    being below between both but by can could did do does doing down during each few for from
    further had has have having he her here hers herself him himself his how i if in into is it
    its itself just know me more most my myself no nor not now of off on once only or other our
    ours ourselves out over own same she should so some such tell than that the their theirs
    them themselves then there these they this those through to too under until up very was we
    were what when where which while who whom why will with would you your yours yourself
    yourselves
"""
STOPWORDS = frozenset(_STOPWORD_TEXT.split())

# Whose memories an NPC may recall: its own, from this session, plus its encounter logs
# from any session of the same spec. Parameters: scope, npc, session_id.
_VISIBLE = "m.scope = ? AND m.npc = ? AND (m.session_id = ? OR m.kind = 'encounter-log')"


def fts_query(text: str) -> str | None:
    """Turn free text into a safe FTS5 query: the OR of its distinct words, each quoted.

    Stopwords and single letters (the `s` of "troll's") are left out when other words
    remain. Returns None when the text has no words. Quoting makes FTS operators (`AND`,
    `NEAR`, `*`, `-`, `:` …) plain words, and a word never contains `"`, so this cannot raise.
    """
    words = list(dict.fromkeys(word.lower() for word in _WORD.findall(text)))
    if not words:
        return None
    meaningful = [w for w in words if w not in STOPWORDS and not (len(w) == 1 and w.isalpha())]
    words = meaningful or words
    return " OR ".join(f'"{word}"' for word in words[:MAX_QUERY_WORDS])


class SqliteMemory(SqliteBacked):
    """`Memory` on SQLite FTS5, in its own connection to the embedded database file."""

    component = "memory"
    migrations = _MEMORY_MIGRATIONS

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
        """Store a memory; an identical one (same NPC, session, kind, fact) is kept once."""
        fact = check_memory(scope=scope, session_id=session_id, npc=npc, fact=fact, kind=kind)
        # One statement (its trigger indexes the fact): a transaction of its own.
        with self._connection() as conn:
            conn.execute(
                "INSERT INTO memories (scope, session_id, npc, kind, fact, turn, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (scope, session_id, npc, kind, fact, int(turn), utc_now()),
            )

    async def remember_many(self, memories: Iterable[NewMemory]) -> None:
        """`remember` each of `memories` in one transaction (see `remember_all`): all of them
        are checked first, so a bad one stores none."""
        now = utc_now()
        rows = [
            (
                item.scope,
                item.session_id,
                item.npc,
                item.kind,
                check_memory(
                    scope=item.scope,
                    session_id=item.session_id,
                    npc=item.npc,
                    fact=item.fact,
                    kind=item.kind,
                ),
                int(item.turn),
                now,
            )
            for item in memories
        ]
        if not rows:
            return
        with self._connection() as conn, write_transaction(conn):
            conn.executemany(
                "INSERT INTO memories (scope, session_id, npc, kind, fact, turn, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                rows,
            )

    async def recall(
        self, *, scope: str, session_id: str, npc: str, query: str = "", limit: int = 8
    ) -> list[MemoryHit]:
        """This NPC's memories: matches of `query` by bm25, then the most recent others."""
        limit = min(limit, MAX_LIMIT)
        if limit <= 0:
            return []
        match = fts_query(query)
        visible = (scope, npc, session_id)
        hits: list[MemoryHit] = []
        seen: list[int] = []
        with self._connection() as conn:
            if match is not None:
                rows = conn.execute(
                    "SELECT m.id, m.npc, m.fact, m.kind, m.turn, bm25(memories_fts)"
                    " FROM memories_fts JOIN memories AS m ON m.id = memories_fts.rowid"
                    f" WHERE memories_fts MATCH ? AND {_VISIBLE}"
                    " ORDER BY bm25(memories_fts), m.id DESC LIMIT ?",
                    (match, *visible, limit),
                ).fetchall()
                for id_, *fields, rank in rows:
                    seen.append(int(id_))
                    hits.append(_memory_hit(*fields, score=-float(rank)))
            if len(hits) < limit:
                exclude = f" AND m.id NOT IN ({', '.join('?' * len(seen))})" if seen else ""
                rows = conn.execute(
                    "SELECT m.npc, m.fact, m.kind, m.turn FROM memories AS m"
                    f" WHERE {_VISIBLE}{exclude} ORDER BY m.id DESC LIMIT ?",
                    (*visible, *seen, limit - len(hits)),
                ).fetchall()
                hits.extend(_memory_hit(*fields, score=0.0) for fields in rows)
        return hits

    async def carried_over(self, *, scope: str, session_id: str) -> tuple[int, int]:
        """How many memories other sessions of `scope` carry into `session_id` (their
        `encounter-log`s, see `recall`), and from how many sessions."""
        with self._connection() as conn:
            facts, sessions = conn.execute(
                "SELECT COUNT(*), COUNT(DISTINCT session_id) FROM memories"
                " WHERE scope = ? AND kind = 'encounter-log' AND session_id != ?",
                (scope, session_id),
            ).fetchone()
        return int(facts), int(sessions)

    # ------------------------------------------------------------------------ lore

    async def index_lore(self, lore: Iterable[Lore]) -> None:
        """Replace the lore index with `lore` in one transaction (the last of a repeated id
        wins)."""
        # Read everything before touching the index: a failing iterable changes nothing.
        entries = {item.id: item for item in lore}
        rows = [
            (item.id, item.title, ", ".join(item.keywords), item.body) for item in entries.values()
        ]
        digest = hashlib.blake2b(
            json.dumps(rows, ensure_ascii=False).encode(), digest_size=16
        ).hexdigest()
        with self._connection() as conn:
            # Every session start indexes the lore, which has rarely changed since the last
            # one: comparing digests is far cheaper than rewriting the index (and committing).
            if conn.execute("SELECT digest FROM lore_index").fetchall() == [(digest,)]:
                return
            with write_transaction(conn):
                conn.execute("DELETE FROM lore_fts")
                conn.executemany(
                    "INSERT INTO lore_fts (lore_id, title, keywords, body) VALUES (?, ?, ?, ?)",
                    rows,
                )
                conn.execute("DELETE FROM lore_index")
                conn.execute("INSERT INTO lore_index (digest) VALUES (?)", (digest,))

    @classmethod
    async def lore_image(cls, lore: Iterable[Lore]) -> bytes:
        """The migrated memory with `lore` indexed, as an image for `in_memory`: what a run
        of many throwaway sessions over one repository (replay, explore) starts each from."""
        memory = cls.in_memory()
        try:
            await memory.index_lore(lore)
            return memory.image()
        finally:
            await memory.close()

    async def search_lore(self, query: str, limit: int = 3) -> list[LoreHit]:
        """Lore matching any word of `query`: files whose title or keywords match first, then
        by bm25 with the title and keywords weighted up."""
        limit = min(limit, MAX_LIMIT)
        match = fts_query(query)
        if match is None or limit <= 0:
            return []
        weights = ", ".join(str(weight) for weight in LORE_WEIGHTS)
        # bm25 alone cannot promise "title or keyword match first": its IDF is floored to
        # ~0 for a word found in more than half of the files, which is most words when a
        # repository has three lore files. The explicit tier keeps the ranking an author
        # expects at any size; bm25 orders files within a tier.
        in_head = f"{{title keywords}} : ({match})"
        with self._connection() as conn:
            rows = conn.execute(
                "SELECT lore_id, title,"
                f" snippet(lore_fts, 3, '', '', '…', {SNIPPET_TOKENS}),"
                f" bm25(lore_fts, {weights}) AS rank,"
                " rowid IN (SELECT rowid FROM lore_fts WHERE lore_fts MATCH ?) AS in_head"
                " FROM lore_fts WHERE lore_fts MATCH ?"
                " ORDER BY in_head DESC, rank, lore_id LIMIT ?",
                (in_head, match, limit),
            ).fetchall()
        return [
            LoreHit(
                lore_id=str(lore_id),
                title=str(title),
                snippet=str(snippet or title),  # an empty body has no snippet; say something
                score=-float(rank),
            )
            for lore_id, title, snippet, rank, _in_head in rows
        ]


def _memory_hit(npc: Any, fact: Any, kind: Any, turn: Any, *, score: float) -> MemoryHit:
    return MemoryHit(npc=str(npc), fact=str(fact), kind=str(kind), turn=int(turn), score=score)
