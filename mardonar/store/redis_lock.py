"""The Redis turn lock: one turn of a session at a time across every process on one Redis.

Why it is built the way it is (docs/redis.md has the key and a redis-cli example):

* **A lease, renewed.** `SET NX PX` with a 30 s lease that a keeper task renews every third
  of it while the turn runs: a long LLM call keeps the lock, a holder that died loses it
  within one lease, and nothing needs a clock shared between machines.
* **The value names the holder** (host, pid, the pid's start time, the boot id and pid
  namespace), so a waiter can say who it waits for, and take the lock over at once from a
  holder on this machine that provably no longer runs: what a lock restored by Redis'
  append-only file after a restart, or left by a SIGKILLed process, needs. A holder this
  process cannot check (another machine or container) is waited for until its lease lapses:
  two live processes must never both hold a turn lock.
* **Every step is one small Lua script** (take, take over, renew, release), each comparing
  the value it expects, so a lapsed lock taken by another turn is never renewed or released
  by the one that lost it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

from mardonar.store.base import StoreUnavailable, TurnBusy

if TYPE_CHECKING:
    import redis.asyncio as aioredis

__all__ = ["LOCK_LEASE", "Holder", "RedisTurnLock"]

log = logging.getLogger("mardonar.store.redis")  # the name operators' log filters know

RedisCall = Callable[[Callable[["aioredis.Redis"], Awaitable[Any]]], Awaitable[Any]]
"""The store's way to run one Redis operation (`RedisStore._call`): Redis failures come
back as `StoreUnavailable`, naming REDIS_URL."""

LOCK_LEASE = 30.0
"""Seconds a turn lock lasts unless its holder renews it (every third of that, so a keeper
that misses two renewals on a busy machine still holds it). It bounds how long a lock left
by a holder this process cannot check (another machine) outlives that holder."""

_POLL = 0.1
"""Seconds between two tries of a waiting turn (one tiny script each)."""

# KEYS: the lock. ARGV: our holder value, lease in ms. {1} when taken, else {0, holder, pttl}.
_ACQUIRE_SCRIPT = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return {1} end
return {0, redis.call('GET', KEYS[1]) or '', redis.call('PTTL', KEYS[1])}
"""

# KEYS: the lock. ARGV: the holder value seen, ours, lease in ms. 1 when taken over, else 0.
_TAKE_OVER_SCRIPT = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
"""

# KEYS: the lock. ARGV: our holder value, lease in ms. 1 when renewed, 0 when not ours.
_RENEW_SCRIPT = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
return redis.call('PEXPIRE', KEYS[1], ARGV[2])
"""

# KEYS: the lock. ARGV: our holder value. 1 when released, 0 when it was not ours (any more).
_RELEASE_SCRIPT = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
return redis.call('DEL', KEYS[1])
"""

_HELD: set[str] = set()
"""Tokens of the turn locks this process holds right now: a lock that names this process
but is not among them was left behind (a cancelled acquire) and may be taken over."""


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None


def _pid_space() -> str | None:
    """Which process-id space this process lives in: the kernel's boot id and the pid
    namespace (containers on one host share the kernel but not pids). None where there is
    no /proc to tell (then no holder is ever judged gone; its lease lapses instead)."""
    boot = _read("/proc/sys/kernel/random/boot_id")
    try:
        namespace = os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        return None
    return f"{boot}/{namespace}" if boot else None


def _started(pid: int) -> str | None:
    """When process `pid` started (clock ticks since boot, /proc/PID/stat field 22): with
    the pid it names one process, even after the pid is reused."""
    stat = _read(f"/proc/{pid}/stat")
    if stat is None:
        return None
    # The command name (field 2) may contain spaces and parentheses: split after its ")".
    fields = stat.rpartition(")")[2].split()
    return fields[19] if len(fields) > 19 else None


@dataclass(frozen=True)
class Holder:
    """Who holds a turn lock: the key's value, so a waiter can say who and check them."""

    token: str
    host: str
    pid: int
    space: str | None
    started: str | None
    since: str

    @classmethod
    def here(cls) -> Self:
        pid = os.getpid()
        return cls(
            token=uuid.uuid4().hex,
            host=socket.gethostname(),
            pid=pid,
            space=_pid_space(),
            started=_started(pid),
            since=datetime.now(UTC).isoformat(timespec="microseconds"),
        )

    def encode(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def decode(cls, value: str) -> Self | None:
        """The holder a lock value names; None for a value this version did not write (an
        older Mardonar's bare token): such a lock is waited for until its lease lapses."""
        try:
            fields = json.loads(value)
            return cls(
                token=str(fields["token"]),
                host=str(fields["host"]),
                pid=int(fields["pid"]),
                space=None if fields["space"] is None else str(fields["space"]),
                started=None if fields["started"] is None else str(fields["started"]),
                since=str(fields["since"]),
            )
        except (ValueError, TypeError, KeyError):
            return None

    def describe(self) -> str:
        return f"process {self.pid} on {self.host} (since {self.since[:19].replace('T', ' ')} UTC)"

    def gone(self) -> bool:
        """True only when this holder provably no longer runs: it lived in this process-id
        space and its process has exited (or the pid now names a younger process), or it is
        this process and not among the locks it holds. Anything this process cannot check
        (another machine or container, no /proc) is alive until its lease lapses: two live
        processes must never both hold a turn lock."""
        if self.space is None or self.space != _pid_space():
            return False
        if self.pid == os.getpid():
            return self.token not in _HELD
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            pass  # it exists, under another user
        started = _started(self.pid)
        return started is not None and self.started is not None and started != self.started


class RedisTurnLock:
    """The turn locks of one store: `hold(key, session_id)` is the store's `turn_lock`."""

    def __init__(self, call: RedisCall, *, wait: float, lease: float) -> None:
        self._call = call
        self.wait = wait
        """Seconds a turn waits for another turn of the same session before `TurnBusy`."""
        self.lease = lease
        """Seconds the lock outlives a holder that stopped renewing it."""

    @asynccontextmanager
    async def hold(
        self, key: str, session_id: str, *, on_wait: Callable[[str], None] | None = None
    ) -> AsyncIterator[None]:
        """A lease across every process that shares this Redis (see the Protocol).

        The key's value names its holder (`Holder`); the lease lasts `lease` seconds and
        a keeper task renews it every third of that while the turn runs, so a long LLM call
        keeps it and a holder that died loses it within one lease. A waiter that finds the
        holder provably gone (same machine, its process no longer runs) takes the lock over
        at once: that is what a lock brought back by Redis' append-only file after a restart,
        or left by a SIGKILLed process, needs. `on_wait` hears why and for how long it waits."""
        mine = Holder.here()
        value = mine.encode()
        await self._acquire(key, session_id, value, on_wait)
        _HELD.add(mine.token)
        keeper = asyncio.create_task(self._keep_alive(key, value, session_id))
        try:
            yield
        finally:
            _HELD.discard(mine.token)
            keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keeper
            try:
                released = await self._call(
                    lambda client: client.eval(_RELEASE_SCRIPT, 1, key, value)
                )
                if not released:
                    # Lapsed while Redis was unreachable, and maybe taken since: the save's
                    # compare-and-set already kept that other turn from being overwritten.
                    log.warning(
                        "the turn lock of session %s had expired before release", session_id
                    )
            except StoreUnavailable:
                pass  # Redis is down: the lease lapses on its own

    async def _acquire(
        self, key: str, session_id: str, value: str, on_wait: Callable[[str], None] | None
    ) -> None:
        lease_ms = str(int(self.lease * 1000))
        deadline = time.monotonic() + self.wait
        told: str | None = None
        while True:
            found: list[Any] = await self._call(
                lambda client: client.eval(_ACQUIRE_SCRIPT, 1, key, value, lease_ms)
            )
            if int(found[0]) == 1:
                return
            held_by, left_ms = str(found[1] or ""), int(found[2] or 0)
            if not held_by:
                continue  # it lapsed between the two commands of the script: try again
            holder = Holder.decode(held_by)
            if holder is not None and holder.gone():

                async def take_over(client: aioredis.Redis, seen: str = held_by) -> Any:
                    return await client.eval(_TAKE_OVER_SCRIPT, 1, key, seen, value, lease_ms)

                took = await self._call(take_over)
                if took:
                    log.warning(
                        "took over the turn lock of session %s from %s, which no longer runs",
                        session_id,
                        holder.describe(),
                    )
                    if on_wait is not None:
                        on_wait(
                            f"the turn lock of session {session_id} was left by "
                            f"{holder.describe()}, which no longer runs; taken over"
                        )
                    return
                continue  # someone else took it over first: look at the new holder
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TurnBusy(
                    f"another turn of session {session_id} is still being played (waited "
                    f"{self.wait:g} s); send your line again in a moment"
                )
            if held_by != told:  # once per holder, not once per poll
                told = held_by
                if on_wait is not None:
                    on_wait(self._waiting(session_id, holder, left_ms, remaining))
            await asyncio.sleep(min(_POLL, remaining))

    def _waiting(
        self, session_id: str, holder: Holder | None, left_ms: int, remaining: float
    ) -> str:
        """Why a turn waits and for how long, in one line."""
        lapse = max(left_ms, 0) / 1000
        who = holder.describe() if holder is not None else "a holder this Mardonar cannot name"
        return (
            f"waiting up to {remaining:.0f} s for the turn lock of session {session_id}: "
            f"{who} holds it (a turn in progress there); it is renewed while that turn "
            f"runs and lapses within {lapse:.0f} s if its holder is gone"
        )

    async def _keep_alive(self, key: str, value: str, session_id: str) -> None:
        lease_ms = str(int(self.lease * 1000))
        while True:
            await asyncio.sleep(self.lease / 3)
            try:
                renewed = await self._call(
                    lambda client: client.eval(_RENEW_SCRIPT, 1, key, value, lease_ms)
                )
            except StoreUnavailable as error:
                log.warning("could not renew the turn lock of session %s: %s", session_id, error)
                continue
            if not renewed:
                log.warning("the turn lock of session %s lapsed and is no longer ours", session_id)
