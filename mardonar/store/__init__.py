"""Where sessions, the character registry and XP awards are kept.

`base` holds the `SessionStore` Protocol; each backend is one module, imported only when it
is used (`SqliteStore` and `RedisStore` are loaded on first attribute access, so
`import mardonar.store` costs nothing and never pulls in a driver).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mardonar.lazy import lazy_names
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


__getattr__ = lazy_names(
    __name__, {"SqliteStore": "mardonar.store.sqlite", "RedisStore": "mardonar.store.redis"}
)
