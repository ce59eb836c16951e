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

import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar, cast

from mardonar.netreason import REFUSED, error_phrase, os_reason
from mardonar.store.base import StoredSession, StoreUnavailable, TurnConflict
from mardonar.store.redis_lock import LOCK_LEASE, RedisTurnLock
from mardonar.urls import redact_url

if TYPE_CHECKING:
    import redis.asyncio as aioredis
    from redis.commands.core import AsyncScript

__all__ = ["PREFIX", "RedisStore", "redis_client", "redis_unavailable", "redis_version"]

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

T = TypeVar("T")


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

    def turn_lock(
        self, session_id: str, *, on_wait: Callable[[str], None] | None = None
    ) -> AbstractAsyncContextManager[None]:
        """A lease across every process that shares this Redis (see the Protocol and
        `store/redis_lock.py`): waits up to `lock_wait`, lapses `lock_lease` after its holder
        stops renewing it, and is taken over at once from a holder that provably died."""
        lock = RedisTurnLock(self._call, wait=self.lock_wait, lease=self.lock_lease)
        return lock.hold(f"{PREFIX}lock:session:{session_id}", session_id, on_wait=on_wait)

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
