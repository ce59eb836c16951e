"""Bursts of messages into turns: items for one key are collected until a quiet window
passes with nothing new, then handed over together.

Pure asyncio (no Discord): the key is a thread id, an item a player's line. Flushes of one
key run one after another, in order, so turns of a thread never interleave in this process
(the store's turn lock does the same across processes).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")

log = logging.getLogger(__name__)


class Batcher(Generic[K, T]):
    """Collects items per key; `flush(key, items)` runs after `window` seconds of quiet.

    A burst that reaches `max_items` is flushed at once, so a table that never pauses still
    gets turns (and a prompt never grows without bound).
    """

    def __init__(
        self,
        window: float,
        flush: Callable[[K, list[T]], Awaitable[None]],
        *,
        max_items: int = 20,
    ) -> None:
        self.window = window
        self.max_items = max_items
        self._flush = flush
        self._pending: dict[K, list[T]] = {}
        self._timers: dict[K, asyncio.TimerHandle] = {}
        self._locks: dict[K, asyncio.Lock] = {}
        self._running: set[asyncio.Task[None]] = set()

    def add(self, key: K, item: T) -> None:
        """Queue `item`; the quiet window of `key` starts again."""
        self._pending.setdefault(key, []).append(item)
        timer = self._timers.pop(key, None)
        if timer is not None:
            timer.cancel()
        if len(self._pending[key]) >= self.max_items:
            self._fire(key)
            return
        loop = asyncio.get_running_loop()
        self._timers[key] = loop.call_later(self.window, self._fire, key)

    @property
    def busy(self) -> bool:
        """Anything queued or being flushed (shutdown and tests wait for False)."""
        return bool(self._timers or self._running or any(self._pending.values()))

    def pending(self, key: K) -> int:
        """Items of `key` waiting for their window to close."""
        return len(self._pending.get(key, ()))

    def _fire(self, key: K) -> None:
        self._timers.pop(key, None)
        items = self._pending.pop(key, [])
        if not items:
            return
        task = asyncio.get_running_loop().create_task(self._run(key, items))
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def _run(self, key: K, items: list[T]) -> None:
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            try:
                await self._flush(key, items)
            except Exception:  # a failed turn must not take the batcher down with it
                log.exception("a batched turn failed")

    async def drain(self) -> None:
        """Flush everything queued now and wait for every flush to finish (shutdown)."""
        for key in list(self._timers):
            timer = self._timers.pop(key)
            timer.cancel()
            self._fire(key)
        for key in [k for k, items in self._pending.items() if items]:
            self._fire(key)
        while self._running:
            await asyncio.gather(*list(self._running), return_exceptions=True)
