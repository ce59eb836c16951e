"""Where sessions, the character registry and XP awards are kept.

`base` holds the `SessionStore` Protocol; each backend is one module, imported only when it
is used (`SqliteStore` and `RedisStore` are loaded on first attribute access, so
`import mardonar.store` costs nothing and never pulls in a driver).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mardonar.store.base import (
    SessionStore,
    StoredSession,
    StoreUnavailable,
    TurnBusy,
    TurnConflict,
)

if TYPE_CHECKING:
    from mardonar.store.redis import RedisStore
    from mardonar.store.sqlite import SqliteStore

__all__ = [
    "RedisStore",
    "SessionStore",
    "SqliteStore",
    "StoreUnavailable",
    "StoredSession",
    "TurnBusy",
    "TurnConflict",
]


def __getattr__(name: str) -> Any:
    if name == "SqliteStore":
        from mardonar.store.sqlite import SqliteStore

        return SqliteStore
    if name == "RedisStore":
        from mardonar.store.redis import RedisStore

        return RedisStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
