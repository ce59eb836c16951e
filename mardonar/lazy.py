"""Names of a package whose modules load on first use (a module `__getattr__`, PEP 562).

store/ and memory/ name their backends (`SqliteStore`, `RedisStore`, `GraphMcpMemory`, ...)
at the package, but importing the package must not import a driver or an MCP client: the
Protocols are what most modules need, and `mardonar --help` stays fast.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_names(package: str, homes: Mapping[str, str]) -> Callable[[str], Any]:
    """A module `__getattr__` for `package`: each name of `homes` is imported from its
    module (`{"SqliteStore": "mardonar.store.sqlite"}`) when it is first asked for."""

    def __getattr__(name: str) -> Any:
        home = homes.get(name)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(home), name)

    return __getattr__
