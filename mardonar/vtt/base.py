"""What the engine needs from a virtual tabletop: find things, give items, add XP.

Every method returns a `RelayResult`, never raises: a relay that is down, slow or refusing
is an outcome the engine records (the grant stays pending), not an error that ends a turn.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

__all__ = ["ItemRelay", "RelayResult"]


@dataclass(frozen=True, slots=True)
class RelayResult:
    """The answer to one relay call."""

    ok: bool
    uuid: str = ""
    """For a lookup: the uuid found (an actor's or an item's)."""
    reason: str = ""
    """Why it failed, in words fit for a summary line; never a secret."""
    relay_down: bool = False
    """The relay (or the Foundry world behind it) cannot take any request right now:
    unreachable, timing out, refusing the API key or without a connected world. The caller
    stops trying the rest of a batch and keeps it pending."""

    @classmethod
    def found(cls, uuid: str) -> RelayResult:
        return cls(ok=True, uuid=uuid)

    @classmethod
    def failed(cls, reason: str, *, relay_down: bool = False) -> RelayResult:
        return cls(ok=False, reason=reason, relay_down=relay_down)


@runtime_checkable
class ItemRelay(Protocol):
    """A way into the Foundry world (one file per implementation, see foundry.py)."""

    shown: str
    """Where the relay is, fit to print (no credentials, no query)."""

    async def find_item(self, *, uuid: str | None, name: str) -> RelayResult:
        """The item by its uuid when one is given and exists, else by its exact name."""
        ...

    async def find_actor(self, name: str) -> RelayResult:
        """The world actor whose name is exactly `name` (case-insensitive)."""
        ...

    async def give_item(self, actor_uuid: str, item_uuid: str) -> RelayResult:
        """Put one copy of the item on the actor."""
        ...

    async def add_xp(self, actor_uuid: str, amount: int) -> RelayResult:
        """Add `amount` to the actor's experience points."""
        ...

    async def aclose(self) -> None:
        """Release connections; calling it twice is harmless."""
        ...
