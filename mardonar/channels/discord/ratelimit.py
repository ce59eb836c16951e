"""A per-user sliding-window limit on messages, so one player cannot flood a thread.

Sixty seconds of timestamps per user in a deque: at the default of 10 messages a minute that
is at most ten floats a user, cheaper than a token bucket's bookkeeping and exact.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Hashable


class RateLimiter:
    """At most `limit` events per `period` seconds per key."""

    def __init__(
        self,
        limit: int,
        *,
        period: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self.limit = limit
        self.period = period
        self._clock = clock
        self._seen: dict[Hashable, deque[float]] = {}

    def allow(self, key: Hashable) -> bool:
        """Count one event for `key`; False (and not counted) when it is over the limit."""
        now = self._clock()
        seen = self._seen.setdefault(key, deque())
        while seen and now - seen[0] >= self.period:
            seen.popleft()
        if len(seen) >= self.limit:
            return False
        seen.append(now)
        return True

    def retry_after(self, key: Hashable) -> float:
        """Seconds until `key` may send again (0 when it may now)."""
        seen = self._seen.get(key)
        if not seen or len(seen) < self.limit:
            return 0.0
        return max(self.period - (self._clock() - seen[0]), 0.0)
