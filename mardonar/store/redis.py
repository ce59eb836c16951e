"""The production store: sessions, registry and awards in Redis (`REDIS_URL`, redis.asyncio).

Why it is built the way it is (docs/redis.md has the key layout and redis-cli examples):

* **Everything under `mardonar:`.** The database may be shared with other apps (the old bot,
  GraphMCP's ingest stream); this store reads and writes no key outside its prefix.
* **One Lua script per save.** The compare-and-set on the turn number, the write, the sliding
  TTL, the save counter and both indexes change together or not at all: a script runs
  atomically, and unlike WATCH/MULTI it needs no retry loop under contention.
* **Save order, not clocks.** `latest_session` ranks by an `INCR` counter used as the
  sorted-set score, so two saves in the same millisecond still have an order.
* **Indexes forget expired sessions lazily.** A session hash expires on its own; its index
  entry is dropped the next time a read meets it. Each index also carries the sliding TTL of
  its newest member, so an idle deployment ends with no session keys at all.
* **Lazy and self-healing.** Nothing connects until the first call; redis-py's pool opens a
  new connection after a failure, so the store works again as soon as Redis is back. Every
  Redis failure becomes `StoreUnavailable`: one line naming REDIS_URL (password masked).
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
from typing import TYPE_CHECKING, Any, Self, TypeVar, cast

from mardonar.netreason import REFUSED, error_phrase, os_reason
from mardonar.store.base import StoredSession, StoreUnavailable, TurnBusy, TurnConflict
from mardonar.urls import redact_url

if TYPE_CHECKING:
    import redis.asyncio as aioredis
    from redis.commands.core import AsyncScript

__all__ = ["PREFIX", "Holder", "RedisStore", "redis_unavailable"]

log = logging.getLogger(__name__)

PREFIX = "mardonar:"
"""Every key this store touches starts with it (see docs/redis.md)."""

SOCKET_TIMEOUT = 5.0
"""Seconds for one connect or one reply; a turn reports a dead Redis within this, not never."""

_FIRST_BATCH = 4
_INDEX_BATCH = 64
"""Sessions fetched per round trip while walking an index newest first: a few at first
(`latest_session` usually wants the first), then more."""

_FIELDS = ("spec_id", "status", "turn", "data", "updated_at")

# KEYS: session hash, save counter, index of all sessions, index of the spec's sessions.
# ARGV: id, spec_id, status, turn, data, updated_at, ttl in ms, expected turn ("" = create).
# Returns {1, seq} when written, {0, stored turn or ""} on a conflict (nothing written).
_SAVE_SCRIPT = """
local current = redis.call('HGET', KEYS[1], 'turn')
if ARGV[8] == '' then
  if current then return {0, current} end
elseif current ~= ARGV[8] then
  return {0, current or ''}
end
local seq = redis.call('INCR', KEYS[2])
redis.call('HSET', KEYS[1], 'spec_id', ARGV[2], 'status', ARGV[3], 'turn', ARGV[4],
           'data', ARGV[5], 'updated_at', ARGV[6], 'seq', seq)
redis.call('PEXPIRE', KEYS[1], ARGV[7])
redis.call('ZADD', KEYS[3], seq, ARGV[1])
redis.call('ZADD', KEYS[4], seq, ARGV[1])
redis.call('PEXPIRE', KEYS[3], ARGV[7])
redis.call('PEXPIRE', KEYS[4], ARGV[7])
return {1, seq}
"""

# KEYS: the index to walk. ARGV: session key prefix, spec id, status ("" = any).
# Returns {id, spec_id, status, turn, data, updated_at} of the newest match, or nil; index
# entries of expired sessions met on the way are removed. One round trip instead of a walk
# from the client (what `--resume` and every Discord message ask). The session keys are
# built inside the script, so this is for a standalone Redis, not a cluster.
_LATEST_SCRIPT = """
local start = 0
while true do
  local ids = redis.call('ZREVRANGE', KEYS[1], start, start + 63)
  if #ids == 0 then return nil end
  local gone = 0
  for _, id in ipairs(ids) do
    local key = ARGV[1] .. id
    local row = redis.call('HMGET', key, 'spec_id', 'status')
    if not row[1] then
      redis.call('ZREM', KEYS[1], id)
      gone = gone + 1
    elseif (ARGV[2] == '' or row[1] == ARGV[2]) and (ARGV[3] == '' or row[2] == ARGV[3]) then
      local f = redis.call('HMGET', key, 'spec_id', 'status', 'turn', 'data', 'updated_at')
      return {id, f[1], f[2] or '', f[3], f[4], f[5] or ''}
    end
  end
  start = start + #ids - gone
end
"""

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

T = TypeVar("T")


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
            since=_utc_now(),
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


def redis_unavailable(url: str, error: BaseException, *, what: str = "REDIS_URL") -> str:
    """The one line shown when Redis fails: the setting, the (redacted) URL, the fix."""
    reason = _phrase(error)
    return (
        f"Redis is unavailable ({what}={redact_url(url)}: {reason}); "
        f"start Redis or fix {what}; nothing was saved"
    )


def _phrase(error: BaseException) -> str:
    """redis-py's message as a short phrase ("Error 111 connecting to h:p. Connect call
    failed ('h', p)." says less than "connection refused"), in `netreason`'s words."""
    lowered = str(error).lower()
    if "connection refused" in lowered or "connect call failed" in lowered:
        return REFUSED
    if "timeout" in lowered or "timed out" in lowered or type(error).__name__ == "TimeoutError":
        return "timed out"
    return os_reason(error) or error_phrase(error).rstrip(".")


def redis_client(url: str, *, timeout: float = SOCKET_TIMEOUT, retries: int = 2) -> aioredis.Redis:
    """A client that fails fast and reconnects by itself (the pool replaces dead connections).

    `mardonar doctor` asks for `retries=0` and its --timeout: it reports what it finds, where
    the store rides over a blip."""
    import redis.asyncio as aioredis
    from redis.asyncio.retry import Retry
    from redis.backoff import ExponentialBackoff

    return aioredis.from_url(
        url,
        decode_responses=True,
        socket_connect_timeout=timeout,
        socket_timeout=timeout,
        # Two quick retries ride over a dropped connection (Redis restarted: the first
        # command on a stale pooled connection fails, the retry reconnects); a Redis that
        # is really down is reported in well under a second rather than after 10 s of backoff.
        retry=Retry(ExponentialBackoff(cap=0.2, base=0.05), retries),
    )


async def redis_version(client: aioredis.Redis) -> str:
    """The version of the Redis that answers `client` (INFO server): one round trip that
    proves the server is reachable and accepts the credentials."""
    info: dict[str, Any] = await client.info("server")
    return str(info.get("redis_version", "unknown version"))


class RedisStore:
    """`SessionStore` on Redis; the key layout is in docs/redis.md."""

    def __init__(
        self,
        url: str,
        *,
        session_ttl: int = 43_200,
        lock_timeout: float = 180.0,
        lock_wait: float | None = None,
        lock_lease: float = LOCK_LEASE,
    ) -> None:
        """`lock_wait` bounds how long a turn waits for another turn of the same session
        (default `lock_timeout`, MARDONAR_TURN_LOCK_TIMEOUT: above the worst LLM latency, so
        a live holder's turn ends first); `lock_lease` is how long a lock outlives a holder
        that stopped renewing it (never more than `lock_timeout`)."""
        self.url = url
        self.session_ttl = session_ttl
        self.lock_timeout = lock_timeout
        self.lock_wait = lock_timeout if lock_wait is None else lock_wait
        self.lock_lease = min(lock_lease, lock_timeout)
        self._client: aioredis.Redis | None = None
        self._save_script: AsyncScript | None = None
        self._latest_script: AsyncScript | None = None

    def __repr__(self) -> str:
        return f"RedisStore({redact_url(self.url)!r})"

    # ------------------------------------------------------------------ plumbing

    def _redis(self) -> aioredis.Redis:
        if self._client is None:
            try:
                self._client = redis_client(self.url)
            except ValueError as error:  # a malformed URL: redis-py says what is wrong
                raise StoreUnavailable(redis_unavailable(self.url, error)) from None
        return self._client

    async def _call(self, operation: Callable[[aioredis.Redis], Awaitable[T]]) -> T:
        """Run one Redis operation; any Redis failure becomes `StoreUnavailable`."""
        from redis.exceptions import RedisError

        client = self._redis()
        try:
            return await operation(client)
        except RedisError as error:
            raise StoreUnavailable(redis_unavailable(self.url, error)) from None
        except OSError as error:  # a socket error redis-py did not wrap
            raise StoreUnavailable(redis_unavailable(self.url, error)) from None

    async def check(self) -> str:
        """See `SessionStore.check`: the server's version, or `StoreUnavailable`."""
        version = await self._call(redis_version)
        return f"Redis {version} at {redact_url(self.url)}"

    @staticmethod
    def _session_key(session_id: str) -> str:
        return f"{PREFIX}session:{session_id}"

    @staticmethod
    def _index_key(spec_id: str | None) -> str:
        return f"{PREFIX}sessions" if spec_id is None else f"{PREFIX}sessions:{spec_id}"

    # ------------------------------------------------------------------ sessions

    async def load_session(self, session_id: str) -> StoredSession | None:
        """The stored session, or None if there is none with this id (or it expired)."""

        async def load(client: aioredis.Redis) -> list[str | None]:
            # decode_responses=True: every reply is str, which redis-py's types cannot know.
            return cast(
                "list[str | None]", await client.hmget(self._session_key(session_id), list(_FIELDS))
            )

        return _stored(session_id, await self._call(load))

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
        """Create (`expected_turn=None`) or compare-and-set on the turn; see the Protocol.

        One Lua script: the check, the write, the TTL and the indexes happen atomically."""

        async def save(client: aioredis.Redis) -> list[Any]:
            if self._save_script is None:
                # Script re-sends its source when the server forgot it (Redis restarted).
                self._save_script = client.register_script(_SAVE_SCRIPT)
            keys = [
                self._session_key(session_id),
                f"{PREFIX}save_seq",
                self._index_key(None),
                self._index_key(spec_id),
            ]
            args = [
                session_id,
                spec_id,
                status,
                str(int(turn)),
                data,
                _utc_now(),
                str(self.session_ttl * 1000),
                "" if expected_turn is None else str(int(expected_turn)),
            ]
            result: list[Any] = await self._save_script(keys=keys, args=args, client=client)
            return result

        written, found = await self._call(save)
        if int(written) == 1:
            return
        if expected_turn is None:
            raise TurnConflict(f"session {session_id!r} already exists")
        state = "does not exist" if found in ("", None) else f"is at turn {found}"
        raise TurnConflict(f"session {session_id!r} {state}, not at turn {expected_turn}")

    async def _walk(
        self, spec_id: str | None, fields: tuple[str, ...]
    ) -> AsyncIterator[tuple[str, list[str | None]]]:
        """`(id, fields)` of an index's sessions, most recently saved first; entries whose
        session expired are dropped from the index on the way."""
        index = self._index_key(spec_id)
        start, size = 0, _FIRST_BATCH
        while True:

            async def batch(
                client: aioredis.Redis, start: int = start, size: int = size
            ) -> list[Any]:
                ids = cast("list[str]", await client.zrevrange(index, start, start + size - 1))
                if not ids:
                    return []
                pipe = client.pipeline(transaction=False)
                for session_id in ids:
                    pipe.hmget(self._session_key(session_id), list(fields))
                rows: list[list[str | None]] = await pipe.execute()
                return list(zip(ids, rows, strict=True))

            pairs: list[tuple[str, list[str | None]]] = await self._call(batch)
            if not pairs:
                return
            gone = [session_id for session_id, row in pairs if row[0] is None]
            if gone:  # before yielding: a caller that stops at the first match still cleans up

                async def forget(client: aioredis.Redis, gone: list[str] = gone) -> int:
                    return await client.zrem(index, *gone)

                await self._call(forget)
            for session_id, row in pairs:
                # The spec's index may still list a session saved since under another spec.
                if row[0] is not None and (spec_id is None or row[0] == spec_id):
                    yield session_id, row
            start += size - len(gone)
            size = min(size * 4, _INDEX_BATCH)

    async def latest_session(
        self, spec_id: str, *, status: str | None = "active"
    ) -> StoredSession | None:
        """The most recently saved session of `spec_id` (with `status`, unless None)."""

        async def latest(client: aioredis.Redis) -> list[str] | None:
            if self._latest_script is None:
                self._latest_script = client.register_script(_LATEST_SCRIPT)
            found: list[str] | None = await self._latest_script(
                keys=[self._index_key(spec_id)],
                args=[self._session_key(""), spec_id, status or ""],
                client=client,
            )
            return found

        found = await self._call(latest)
        if not found:
            return None
        session_id, *row = found
        return _stored(session_id, list(row))

    async def list_sessions(self, spec_id: str | None = None) -> list[StoredSession]:
        """Every session (of `spec_id`, unless None), most recently saved first."""
        found = [_stored(session_id, row) async for session_id, row in self._walk(spec_id, _FIELDS)]
        return [stored for stored in found if stored is not None]

    @asynccontextmanager
    async def turn_lock(
        self, session_id: str, *, on_wait: Callable[[str], None] | None = None
    ) -> AsyncIterator[None]:
        """A lease across every process that shares this Redis (see the Protocol).

        The key's value names its holder (`Holder`); the lease lasts `lock_lease` seconds and
        a keeper task renews it every third of that while the turn runs, so a long LLM call
        keeps it and a holder that died loses it within one lease. A waiter that finds the
        holder provably gone (same machine, its process no longer runs) takes the lock over
        at once: that is what a lock brought back by Redis' append-only file after a restart,
        or left by a SIGKILLed process, needs. `on_wait` hears why and for how long it waits."""
        key = f"{PREFIX}lock:session:{session_id}"
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
        lease_ms = str(int(self.lock_lease * 1000))
        deadline = time.monotonic() + self.lock_wait
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
                    f"{self.lock_wait:g} s); send your line again in a moment"
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
        lease_ms = str(int(self.lock_lease * 1000))
        while True:
            await asyncio.sleep(self.lock_lease / 3)
            try:
                renewed = await self._call(
                    lambda client: client.eval(_RENEW_SCRIPT, 1, key, value, lease_ms)
                )
            except StoreUnavailable as error:
                log.warning("could not renew the turn lock of session %s: %s", session_id, error)
                continue
            if not renewed:
                log.warning("the turn lock of session %s lapsed and is no longer ours", session_id)

    # ------------------------------------------------------------------ registry

    async def get_character(self, player_id: str) -> dict[str, Any] | None:
        """The character registered for a player, or None."""

        async def get(client: aioredis.Redis) -> str | None:
            return cast("str | None", await client.hget(f"{PREFIX}characters", player_id))

        found = await self._call(get)
        return _json_object(found) if found is not None else None

    async def set_character(self, player_id: str, character: dict[str, Any]) -> None:
        """Register (or replace) a player's character."""
        data = json.dumps(character, ensure_ascii=False, sort_keys=True)  # TypeError first

        async def put(client: aioredis.Redis) -> int:
            return await client.hset(f"{PREFIX}characters", player_id, data)

        await self._call(put)

    async def list_characters(self) -> dict[str, dict[str, Any]]:
        """Every registered character, by player id."""

        async def everyone(client: aioredis.Redis) -> dict[str, str]:
            return cast("dict[str, str]", await client.hgetall(f"{PREFIX}characters"))

        found = await self._call(everyone)
        return {player: _json_object(found[player]) for player in sorted(found)}

    # ------------------------------------------------------------------ awards

    async def record_award(
        self, encounter_id: str, player_id: str, *, xp: int, items: list[str]
    ) -> bool:
        """Record an award once (HSETNX); False if `(encounter_id, player_id)` has one."""
        if xp < 0:
            raise ValueError(f"xp must be 0 or more, not {xp}")
        award = json.dumps(
            {"xp": int(xp), "items": [str(item) for item in items], "awarded_at": _utc_now()},
            ensure_ascii=False,
        )

        async def record(client: aioredis.Redis) -> int:
            return await client.hsetnx(f"{PREFIX}awards:{encounter_id}", player_id, award)

        return bool(await self._call(record))

    async def awards(self, encounter_id: str) -> dict[str, dict[str, Any]]:
        """The awards of an encounter: `{player_id: {"xp": int, "items": [...]}}`."""

        async def everyone(client: aioredis.Redis) -> dict[str, str]:
            return cast("dict[str, str]", await client.hgetall(f"{PREFIX}awards:{encounter_id}"))

        found = await self._call(everyone)
        result: dict[str, dict[str, Any]] = {}
        for player in sorted(found):
            award = json.loads(found[player])
            result[player] = {"xp": int(award["xp"]), "items": list(award["items"])}
        return result

    async def close(self) -> None:
        """Close the connection pool; calling it twice is harmless."""
        client, self._client = self._client, None
        self._save_script = self._latest_script = None
        if client is not None:
            with contextlib.suppress(Exception):  # closing a pool whose server is gone
                await client.aclose()


def _utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def _stored(session_id: str, row: list[str | None]) -> StoredSession | None:
    spec_id, status, turn, data, updated_at = row
    if spec_id is None or turn is None or data is None:
        return None  # expired (or never written)
    return StoredSession(
        id=session_id,
        spec_id=spec_id,
        status=status or "",
        turn=int(turn),
        data=data,
        updated_at=updated_at or "",
    )


def _json_object(text: str) -> dict[str, Any]:
    value = json.loads(text)
    if not isinstance(value, dict):
        raise ValueError("a stored character is not a JSON object")
    return value
