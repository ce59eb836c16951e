"""Player lines to GraphMCP's ingest stream: `XADD GRAPHMCP_INGEST_STREAM MAXLEN ~ N * ...`.

An engine subscriber (`Engine.subscribers`), so it sees every `PlayerSaid` as it happens.
Subscribers are synchronous and run inside the turn, so the subscriber only puts the line
on a bounded queue; a background task does the network I/O. A slow or dead Redis therefore
never delays or breaks a turn: while Redis is down lines wait in the queue (the oldest are
dropped past `QUEUE_LIMIT`), the failure is logged once per outage, and sending resumes by
itself when Redis is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from mardonar.engine.events import Event, PlayerSaid
from mardonar.engine.loop import publishing_for
from mardonar.store.redis import redis_client, redis_unavailable

if TYPE_CHECKING:
    import redis.asyncio as aioredis

__all__ = ["IngestStream"]

log = logging.getLogger(__name__)

QUEUE_LIMIT = 1000
"""Lines held while Redis is unreachable; beyond it the oldest are dropped (and logged)."""

RETRY_DELAYS = (0.5, 1.0, 2.0, 5.0)
"""Seconds between attempts while Redis is down: quick at first, then every 5 s."""

CLOSE_GRACE = 2.0
"""Seconds `close()` spends sending what is still queued before giving up on it."""

Fields = dict[str, str]


class IngestStream:
    """Call it with engine events; it appends each player line to a Redis stream."""

    def __init__(self, url: str, stream: str, *, maxlen: int, spec_id: str) -> None:
        self.url = url
        self.stream = stream
        self.maxlen = maxlen
        self.spec_id = spec_id
        self._queue: asyncio.Queue[Fields] | None = None
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: aioredis.Redis | None = None
        self._dropped = 0
        self.sent = 0
        """Lines appended so far (for tests and the log)."""

    def __repr__(self) -> str:
        return f"IngestStream({self.stream!r})"

    def __call__(self, event: Event) -> None:
        if not isinstance(event, PlayerSaid):
            return
        session = publishing_for()
        fields: Fields = {
            "session": session.id if session is not None else "",
            "spec": session.spec_id if session is not None else self.spec_id,
            "turn": str(event.turn),
            "player": event.player,
            "text": event.text,
            "at": datetime.now(UTC).isoformat(timespec="milliseconds"),
        }
        try:
            queue = self._running_queue()
        except RuntimeError:  # published outside an event loop: nothing can send it
            return
        if queue.full():
            queue.get_nowait()
            self._dropped += 1
            if self._dropped == 1:
                log.warning(
                    "the ingest queue of %s is full (Redis down?); dropping the oldest lines",
                    self.stream,
                )
        queue.put_nowait(fields)

    def _running_queue(self) -> asyncio.Queue[Fields]:
        loop = asyncio.get_running_loop()
        if self._loop is not loop or self._queue is None or self._task is None:
            # First line, or a new event loop (each asyncio.run has its own; a client and a
            # task never outlive theirs).
            self._loop = loop
            self._queue = asyncio.Queue(QUEUE_LIMIT)
            self._client = None
            self._task = loop.create_task(self._send_forever(self._queue))
        return self._queue

    async def _send_forever(self, queue: asyncio.Queue[Fields]) -> None:
        failing = False
        while True:
            fields = await queue.get()
            attempt = 0
            while True:
                try:
                    await self._send(fields)
                except Exception as error:  # any failure: the turn must go on
                    if not failing:
                        failing = True
                        log.warning(
                            "player lines are not reaching the stream %s: %s",
                            self.stream,
                            redis_unavailable(self.url, error).removesuffix("; nothing was saved"),
                        )
                    await asyncio.sleep(RETRY_DELAYS[min(attempt, len(RETRY_DELAYS) - 1)])
                    attempt += 1
                    continue
                if failing:
                    failing = False
                    log.warning("player lines reach the stream %s again", self.stream)
                break
            queue.task_done()

    async def _send(self, fields: Fields) -> None:
        if self._client is None:
            self._client = redis_client(self.url)
        await self._client.xadd(
            self.stream,
            dict(fields),  # type: ignore[arg-type]  # redis-py's value type is invariant
            maxlen=self.maxlen,
            approximate=True,
        )
        self.sent += 1

    async def flush(self, timeout: float = CLOSE_GRACE) -> bool:
        """Wait until every queued line is sent (True), or `timeout` seconds (False)."""
        if self._queue is None or self._loop is not asyncio.get_running_loop():
            return True
        try:
            await asyncio.wait_for(self._queue.join(), timeout)
        except TimeoutError:
            return False
        return True

    async def close(self) -> None:
        """Send what is queued (for up to CLOSE_GRACE seconds), then stop; twice is harmless."""
        if not await self.flush():
            assert self._queue is not None
            log.warning(
                "%d player line(s) were not sent to the stream %s", self._queue.qsize(), self.stream
            )
        task, self._task = self._task, None
        if task is not None and self._loop is asyncio.get_running_loop():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(Exception):
                await client.aclose()
        self._queue = None
