"""The embedded store: sessions, registries and awards in DATA_DIR/mardonar.db (stdlib sqlite3).

Why it is built the way it is:

* **One connection, statements inline.** Each call is a single indexed statement that takes
  well under a millisecond, so handing it to a thread pool would cost more than it saves.
  The connection may be used from other threads (a TUI worker, `asyncio.to_thread`), so it
  is opened with `check_same_thread=False` and every use holds a lock.
* **WAL + busy_timeout.** Readers never block the writer, and a second process (a `play` and
  a `tally` at once, or the memory's own connection to the same file) waits up to 5 s for
  the write lock instead of failing at once.
* **Every write is one transaction.** A crash leaves the previous state or the new one,
  never half. A write of one statement (a save, a registry entry, an award) is a transaction
  of its own, which takes the write lock before it reads anything; several statements go in a
  `BEGIN IMMEDIATE` transaction, which takes the write lock up front: a deferred transaction
  that reads and then writes cannot be retried by the busy handler in WAL mode and would fail
  with SQLITE_BUSY under contention. No BEGIN/COMMIT around a single statement: statements,
  not fsyncs, are most of the cost on a fast disk.
* **Versioned schema.** `migrate()` applies numbered steps once, recorded per component in a
  `mardonar_schema` table. (SQLite's `user_version` is one number per file, and this file is
  shared by two independent components — this store and the NPC memory — that each need
  their own migration counter.)
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self

from mardonar.errors import ConfigError
from mardonar.store.base import StoredSession, StoreUnavailable, TurnConflict

__all__ = ["SqliteStore", "connect", "migrate", "unusable", "utc_now", "write_transaction"]

BUSY_TIMEOUT_MS = 5000
"""How long a writer waits for another connection's write lock before giving up."""

_IN_MEMORY = ":memory:"

Migration = Sequence[str]
"""One schema step: statements run together in one transaction."""

_STORE_MIGRATIONS: Sequence[Migration] = (
    (
        """
        CREATE TABLE sessions (
            id TEXT PRIMARY KEY,
            spec_id TEXT NOT NULL,
            status TEXT NOT NULL,
            turn INTEGER NOT NULL,
            data TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            save_seq INTEGER NOT NULL
        )
        """,
        # save_seq orders saves exactly; clock readings tie (Windows ticks every ~15 ms).
        "CREATE INDEX sessions_by_spec ON sessions (spec_id, save_seq)",
        "CREATE INDEX sessions_by_seq ON sessions (save_seq)",
        """
        CREATE TABLE characters (
            player_id TEXT PRIMARY KEY,
            data TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )
        """,
        """
        CREATE TABLE awards (
            encounter_id TEXT NOT NULL,
            player_id TEXT NOT NULL,
            xp INTEGER NOT NULL,
            items TEXT NOT NULL,
            awarded_at TEXT NOT NULL,
            PRIMARY KEY (encounter_id, player_id)
        )
        """,
    ),
)


def utc_now() -> str:
    """The current time as ISO-8601 UTC, e.g. `2025-01-31T12:00:00.123456+00:00`."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


def connect(path: Path) -> sqlite3.Connection:
    """Open (creating it and its folder if needed) a database file the way Mardonar uses it.

    Raises `ConfigError` naming the file when it cannot be opened or is not a database.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: no implicit transactions; write_transaction() opens them.
        conn = sqlite3.connect(
            path, isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT_MS / 1000
        )
    except OSError as error:
        raise ConfigError(f"cannot open the database {path}: {error}; check DATA_DIR") from None
    except sqlite3.Error as error:
        raise unusable(path, error) from None
    try:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA journal_mode = WAL")
        # FULL: a committed turn survives a power cut too; one fsync per turn is cheap.
        conn.execute("PRAGMA synchronous = FULL")
    except sqlite3.Error as error:
        conn.close()
        raise unusable(path, error) from None
    return conn


def unusable(path: Path, error: sqlite3.Error) -> ConfigError:
    """The one line for a database file SQLite refused, saying what is wrong and the fix.

    Only a file that is not an SQLite database (or a damaged one) is worth moving aside;
    a full disk, a read-only file or folder, or a lock held elsewhere leave a healthy
    database that must be kept: the fix is to the disk, the permissions or the other process.
    """
    name = str(getattr(error, "sqlite_errorname", ""))
    said = str(error)
    folder = path.parent
    if name.startswith("SQLITE_FULL"):
        return ConfigError(
            f"{path}: the disk is full ({said}); free some space on the disk holding {folder} "
            "and run the command again — the database is intact, keep it"
        )
    if name.startswith(("SQLITE_READONLY", "SQLITE_PERM", "SQLITE_CANTOPEN")):
        if name.endswith("DIRECTORY") or not path.exists():
            where = f"the folder {folder}"
        else:
            where = f"{path} and its folder {folder} (SQLite writes {path.name}-wal beside it)"
        return ConfigError(
            f"{path}: cannot write to it ({said}); make {where} writable by this user (check "
            "the permissions, and that the disk is not mounted read-only) or point DATA_DIR "
            "at a writable folder — the database itself is not damaged, keep it"
        )
    if name.startswith("SQLITE_IOERR"):
        return ConfigError(
            f"{path}: the disk failed to read or write it ({said}); check that the disk holding "
            f"{folder} is not full, read-only or failing, then run the command again — the "
            "database was not changed, keep it"
        )
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
        return ConfigError(
            f"{path} is locked by another process ({said}, waited {BUSY_TIMEOUT_MS // 1000} s); "
            "let the other mardonar using it finish, then run the command again"
        )
    if name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB")):
        return ConfigError(
            f"{path} is not a usable Mardonar database ({said}); move it aside to start afresh"
        )
    return ConfigError(f"cannot use the database {path} ({said}); check DATA_DIR")


@contextmanager
def write_transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """Run the block as one transaction holding the write lock: all of it, or none of it."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
        conn.execute("COMMIT")
    except BaseException:
        # Also after a failed COMMIT: a transaction left open would refuse the next BEGIN.
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def migrate(
    conn: sqlite3.Connection, component: str, migrations: Sequence[Migration], path: Path
) -> None:
    """Bring `component`'s tables up to `len(migrations)`, applying each missing step once.

    Runs in one write transaction, so two processes opening a fresh file at the same moment
    cannot both apply a step. A file written by a newer Mardonar is refused with a
    `ConfigError` rather than misread.
    """
    try:
        with write_transaction(conn):
            conn.execute(
                "CREATE TABLE IF NOT EXISTS mardonar_schema"
                " (component TEXT PRIMARY KEY, version INTEGER NOT NULL)"
            )
            row = conn.execute(
                "SELECT version FROM mardonar_schema WHERE component = ?", (component,)
            ).fetchone()
            version = int(row[0]) if row else 0
            if version > len(migrations):
                raise ConfigError(
                    f"{path} was written by a newer Mardonar ({component} schema {version},"
                    f" this version knows {len(migrations)}); upgrade Mardonar"
                )
            for step in migrations[version:]:
                for statement in step:
                    conn.execute(statement)
            conn.execute(
                "INSERT INTO mardonar_schema (component, version) VALUES (?, ?)"
                " ON CONFLICT (component) DO UPDATE SET version = excluded.version",
                (component, len(migrations)),
            )
    except sqlite3.Error as error:
        raise unusable(path, error) from None


_EMPTY_IMAGES: dict[type[SqliteBacked], bytes] = {}


class SqliteBacked:
    """One locked connection to a Mardonar database file, migrated for one component.

    Statements are sub-millisecond, so they run inline on the event loop; the lock makes the
    object safe to share with other threads all the same. The store and the memory each hold
    one (see mardonar/memory/sqlite.py for why they are separate).
    """

    component: str = ""
    migrations: Sequence[Migration] = ()

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = connect(self.path)
        try:
            migrate(self._conn, self.component, self.migrations, self.path)
        except BaseException:
            self._conn.close()
            raise

    @classmethod
    def in_memory(cls, image: bytes | None = None) -> Self:
        """A private database in RAM for a throwaway session (replay): the same tables and
        statements as on a file, without the file, its WAL or its fsyncs, and gone on close.

        `image` (another one's `image()`) starts it as a copy of that database — migrated,
        perhaps with data — instead of migrating an empty one: a copy costs microseconds,
        the migration a dozen statements."""
        if image is None:
            # The migrated empty schema is a constant of the code: built once per process.
            image = _EMPTY_IMAGES.get(cls)
            if image is None:
                with sqlite3.connect(_IN_MEMORY, isolation_level=None) as conn:
                    migrate(conn, cls.component, cls.migrations, Path(_IN_MEMORY))
                    image = _EMPTY_IMAGES[cls] = conn.serialize()
                conn.close()
        backed = cls.__new__(cls)
        backed.path = Path(_IN_MEMORY)
        backed._lock = threading.Lock()
        conn = sqlite3.connect(_IN_MEMORY, isolation_level=None, check_same_thread=False)
        try:
            conn.deserialize(image)
        except BaseException:
            conn.close()
            raise
        backed._conn = conn
        return backed

    def image(self) -> bytes:
        """The whole database as bytes, for `in_memory(image)`."""
        with self._connection() as conn:
            return conn.serialize()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.path)!r})"

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            if self._conn is None:
                raise RuntimeError(f"{self!r} is closed")
            yield self._conn

    async def close(self) -> None:
        """Close the connection; calling it twice is harmless."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


class SqliteStore(SqliteBacked):
    """`SessionStore` on an embedded SQLite file (DATA_DIR/mardonar.db by convention)."""

    component = "store"
    migrations = _STORE_MIGRATIONS

    async def check(self) -> str:
        """See `SessionStore.check`: a statement on the open connection."""
        try:
            with self._connection() as conn:
                conn.execute("SELECT 1").fetchone()
        except (RuntimeError, sqlite3.Error) as error:  # RuntimeError: the store was closed
            raise StoreUnavailable(
                f"the session database {self.path} cannot be read ({error}); check DATA_DIR"
            ) from error
        return f"SQLite {sqlite3.sqlite_version} at {self.path}"

    # ------------------------------------------------------------------------ sessions

    @asynccontextmanager
    async def turn_lock(
        self, session_id: str, *, on_wait: Callable[[str], None] | None = None
    ) -> AsyncIterator[None]:
        """One turn of a session at a time within this process.

        Another process on the same file is kept out by the compare-and-set on the turn
        number in `save_session` (the embedded store is one machine's, not a cluster's).
        Nothing of this lock is in the file, so a process that dies (even SIGKILLed) leaves
        none behind: the kernel drops its SQLite file locks with it.
        """
        locks: dict[str, asyncio.Lock] = self.__dict__.setdefault("_turn_locks", {})
        lock = locks.setdefault(session_id, asyncio.Lock())
        if lock.locked() and on_wait is not None:
            on_wait(f"waiting for the turn this process is playing in session {session_id}")
        async with lock:
            yield

    async def load_session(self, session_id: str) -> StoredSession | None:
        """The stored session, or None if there is none with this id."""
        with self._connection() as conn:
            row = conn.execute(f"{_SESSION_SELECT} WHERE id = ?", (session_id,)).fetchone()
        return _session(row) if row else None

    async def save_session(
        self,
        session_id: str,
        *,
        spec_id: str,
        status: str,
        turn: int,
        data: str,
        expected_turn: int | None,
    ) -> None:
        """Create (`expected_turn=None`) or compare-and-set on the turn; see the Protocol."""
        # One statement, so one transaction of its own that takes the write lock before it
        # reads the next save_seq (a turn is saved twice: the fewer statements, the better).
        with self._connection() as conn:
            now = utc_now()
            if expected_turn is None:
                cursor = conn.execute(
                    "INSERT INTO sessions (id, spec_id, status, turn, data, updated_at, save_seq)"
                    f" VALUES (?, ?, ?, ?, ?, ?, {_NEXT_SEQ}) ON CONFLICT (id) DO NOTHING",
                    (session_id, spec_id, status, turn, data, now),
                )
                if cursor.rowcount != 1:
                    raise TurnConflict(f"session {session_id!r} already exists")
                return
            cursor = conn.execute(
                "UPDATE sessions SET spec_id = ?, status = ?, turn = ?, data = ?,"
                f" updated_at = ?, save_seq = {_NEXT_SEQ} WHERE id = ? AND turn = ?",
                (spec_id, status, turn, data, now, session_id, expected_turn),
            )
            if cursor.rowcount != 1:
                row = conn.execute(
                    "SELECT turn FROM sessions WHERE id = ?", (session_id,)
                ).fetchone()
                found = "does not exist" if row is None else f"is at turn {row[0]}"
                raise TurnConflict(f"session {session_id!r} {found}, not at turn {expected_turn}")

    async def latest_session(
        self, spec_id: str, *, status: str | None = "active"
    ) -> StoredSession | None:
        """The most recently saved session of `spec_id` (with `status`, unless None)."""
        query = f"{_SESSION_SELECT} WHERE spec_id = ?"
        params: tuple[str, ...] = (spec_id,)
        if status is not None:
            query += " AND status = ?"
            params += (status,)
        with self._connection() as conn:
            row = conn.execute(f"{query} ORDER BY save_seq DESC LIMIT 1", params).fetchone()
        return _session(row) if row else None

    async def list_sessions(self, spec_id: str | None = None) -> list[StoredSession]:
        """Every session (of `spec_id`, unless None), most recently saved first."""
        with self._connection() as conn:
            if spec_id is None:
                rows = conn.execute(f"{_SESSION_SELECT} ORDER BY save_seq DESC").fetchall()
            else:
                rows = conn.execute(
                    f"{_SESSION_SELECT} WHERE spec_id = ? ORDER BY save_seq DESC", (spec_id,)
                ).fetchall()
        return [_session(row) for row in rows]

    # ------------------------------------------------------------------------ registry

    async def get_character(self, player_id: str) -> dict[str, Any] | None:
        """The character registered for a player, or None."""
        with self._connection() as conn:
            row = conn.execute(
                "SELECT data FROM characters WHERE player_id = ?", (player_id,)
            ).fetchone()
        return _json_object(row[0]) if row else None

    async def set_character(self, player_id: str, character: dict[str, Any]) -> None:
        """Register (or replace) a player's character."""
        data = json.dumps(character, ensure_ascii=False, sort_keys=True)  # TypeError first
        with self._connection() as conn:
            conn.execute(
                "INSERT INTO characters (player_id, data, updated_at) VALUES (?, ?, ?)"
                " ON CONFLICT (player_id) DO UPDATE"
                " SET data = excluded.data, updated_at = excluded.updated_at",
                (player_id, data, utc_now()),
            )

    async def list_characters(self) -> dict[str, dict[str, Any]]:
        """Every registered character, by player id."""
        with self._connection() as conn:
            rows = conn.execute(
                "SELECT player_id, data FROM characters ORDER BY player_id"
            ).fetchall()
        return {str(player_id): _json_object(data) for player_id, data in rows}

    # ------------------------------------------------------------------------ awards

    async def record_award(
        self, encounter_id: str, player_id: str, *, xp: int, items: list[str]
    ) -> bool:
        """Record an award once; False if `(encounter_id, player_id)` already has one."""
        if xp < 0:
            raise ValueError(f"xp must be 0 or more, not {xp}")
        encoded = json.dumps([str(item) for item in items], ensure_ascii=False)
        with self._connection() as conn:
            cursor = conn.execute(
                "INSERT INTO awards (encounter_id, player_id, xp, items, awarded_at)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (encounter_id, player_id, xp, encoded, utc_now()),
            )
            return cursor.rowcount == 1

    async def awards(self, encounter_id: str) -> dict[str, dict[str, Any]]:
        """The awards of an encounter: `{player_id: {"xp": int, "items": [...]}}`."""
        with self._connection() as conn:
            rows = conn.execute(
                "SELECT player_id, xp, items FROM awards WHERE encounter_id = ? ORDER BY player_id",
                (encounter_id,),
            ).fetchall()
        return {
            str(player_id): {"xp": int(xp), "items": list(json.loads(items))}
            for player_id, xp, items in rows
        }


_SESSION_SELECT = "SELECT id, spec_id, status, turn, data, updated_at FROM sessions"
_NEXT_SEQ = "(SELECT COALESCE(MAX(save_seq), 0) + 1 FROM sessions)"


def _session(row: tuple[Any, ...]) -> StoredSession:
    id_, spec_id, status, turn, data, updated_at = row
    return StoredSession(
        id=str(id_),
        spec_id=str(spec_id),
        status=str(status),
        turn=int(turn),
        data=str(data),
        updated_at=str(updated_at),
    )


def _json_object(text: str) -> dict[str, Any]:
    value = json.loads(text)
    if not isinstance(value, dict):
        raise ValueError("a stored character is not a JSON object")
    return value
