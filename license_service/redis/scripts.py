"""Counting and reading in one round trip: the count-and-read script, and the cache
backends that run it.

``CountAndRead.run`` counts events in rate-limit windows and reads keys in a single Lua
script on Redis (with django-redis's key names and value encoding, so ``cache.get`` and
``cache.incr`` see the same values; one Redis server, as django-redis's default client
uses, not a cluster), and does the same with portable calls on any other backend (the
in-process cache of the embedded mode). ``cache_backend`` picks one per cache backend,
once; callers never branch on the backend.

A window here is anything with a ``key``, a ``limit`` and a ``timeout`` (seconds a new
counter lives): ``license_service.ratelimit.Window``.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from django.core.cache import caches
from django.core.cache.backends.base import BaseCache
from django_redis.cache import RedisCache

from license_service.redis.transport import (
    redis_cache,
    redis_client,
    redis_pipeline,
    redis_script,
    redis_send,
)

# Flushes of locally counted events never stop at a limit: every pending event is counted.
NO_LIMIT = 2**62


class Counted(Protocol):
    """A rate-limit window as the script sees it."""

    @property
    def key(self) -> str: ...
    @property
    def limit(self) -> int: ...
    @property
    def timeout(self) -> int: ...


@dataclass(frozen=True, slots=True)
class Stamp:
    """A key a reader must never find empty: when it is missing (or always, with ``force``)
    ``value`` is written and returned, atomically with the read. ``timeout`` in seconds,
    None for no expiry."""

    key: str
    value: int
    timeout: int | None
    force: bool = False


@dataclass(frozen=True, slots=True)
class CacheRead:
    """What a count-and-read found: the index of the first window past its limit (nothing
    was read nor written then, and the windows after it were not counted), else each
    window's counter after this call and the values of the reads and then of the stamps,
    decoded as ``cache.get`` would."""

    stopped_at: int | None
    values: list[Any]
    counts: list[int] = field(default_factory=list)


# KEYS: the windows, the reads, the stamps. ARGV: how many windows and reads; then
# (timeout, limit, amount) per window (amount 0: a gate, read the counter, count nothing,
# and stop if it has no room for one more event); then (value, timeout or 0, force 0|1)
# per stamp. Replies {0, counts..., values...}, or {n} when window n (1-based) stopped the
# call: then nothing after that window was counted, read or written.
COUNT_AND_READ = """
local windows, reads = tonumber(ARGV[1]), tonumber(ARGV[2])
local counts, out = {}, {}
local a = 3
for i = 1, windows do
  local amount = tonumber(ARGV[a + 2])
  local count, room
  if amount == 0 then
    count, room = tonumber(redis.call('GET', KEYS[i])) or 0, 1
  else
    count, room = redis.call('INCRBY', KEYS[i], amount), 0
    if count == amount then redis.call('EXPIRE', KEYS[i], ARGV[a]) end
  end
  if count + room > tonumber(ARGV[a + 1]) then return {i} end
  counts[i] = count
  a = a + 3
end
for i = windows + 1, windows + reads do
  out[#out + 1] = redis.call('GET', KEYS[i])
end
for i = windows + reads + 1, #KEYS do
  local value = false
  if ARGV[a + 2] == '0' then value = redis.call('GET', KEYS[i]) end
  if not value then
    value = ARGV[a]
    if ARGV[a + 1] == '0' then
      redis.call('SET', KEYS[i], value)
    else
      redis.call('SET', KEYS[i], value, 'EX', ARGV[a + 1])
    end
  end
  out[#out + 1] = value
  a = a + 3
end
local reply = {0}
for i = 1, windows do reply[#reply + 1] = counts[i] end
for i = 1, #out do reply[#reply + 1] = out[i] end
return reply
"""


@dataclass(frozen=True, slots=True)
class Write:
    """Set ``key`` to ``value`` for ``timeout`` seconds (None: no expiry)."""

    key: str
    value: Any
    timeout: int | None


@dataclass(frozen=True, slots=True)
class Delete:
    key: str


@dataclass(frozen=True, slots=True)
class Touch:
    """Let ``key`` live ``timeout`` more seconds (if it exists)."""

    key: str
    timeout: int


Operation = Write | Delete | Touch


class CacheBackend(Protocol):
    """What the check path asks of the cache, whichever it is."""

    def count_and_read(
        self,
        windows: Sequence[Counted],
        reads: Sequence[str] = (),
        stamps: Sequence[Stamp] = (),
        amounts: Sequence[int] = (),
        *,
        unlimited: bool = False,
    ) -> CacheRead:
        """Count ``amounts[i]`` events (one by default; 0: a gate, read only, stop if it has
        no room for one more) in each window in order, stopping at the first past its limit
        (never with ``unlimited``); then read ``reads`` and ``stamps``. Raises on errors."""
        ...

    def write(
        self, operations: Sequence[Operation], *, barrier: bool = False, wait: bool = True
    ) -> None:
        """Run ``operations`` in order (one round trip on Redis). ``barrier``: one more
        round trip after them (a Redis event-loop pass: what they pushed to tracking clients
        has been written). ``wait=False``: send them, without waiting for Redis's replies
        (a cache fill; an error then goes unseen). Raises on errors."""
        ...


def count_and_read_call(  # noqa: PLR0913 (the script's input groups; no wrapper per check)
    backend: KeyNaming,
    windows: Sequence[Counted],
    reads: Sequence[str] = (),
    stamps: Sequence[Stamp] = (),
    amounts: Sequence[int] = (),
    *,
    unlimited: bool = False,
) -> tuple[list[bytes], list[bytes]]:
    """The count-and-read script's KEYS and ARGV, keys named as the cache names them."""
    # The cache's own key names (Django's KEY_FUNCTION, KEY_PREFIX, VERSION), as
    # ``make_key`` builds them, without its layers: a flush names hundreds of windows.
    key_func, prefix, version = backend.key_func, backend.key_prefix, backend.version
    names = [window.key for window in windows]
    names += reads
    names += [stamp.key for stamp in stamps]
    keys = [key_func(name, prefix, version).encode() for name in names]
    args = [b"%d" % len(windows), b"%d" % len(reads)]
    no_limit = b"%d" % NO_LIMIT
    for i, window in enumerate(windows):
        amount = amounts[i] if amounts else 1
        limit = no_limit if unlimited else b"%d" % window.limit
        args += (b"%d" % window.timeout, limit, b"%d" % amount)
    for stamp in stamps:
        force = b"1" if stamp.force else b"0"
        args += (b"%d" % stamp.value, b"%d" % (stamp.timeout or 0), force)
    return keys, args


class KeyNaming(Protocol):
    """How a Django cache names its keys (``BaseCache.make_key``'s parts)."""

    key_func: Any
    key_prefix: str
    version: int


class RedisBackend:
    """The count-and-read as one Lua script on django-redis's pooled client."""

    def __init__(self, backend: RedisCache) -> None:
        self.backend = backend
        self.redis = redis_client(backend)
        self._script = self.redis.register_script(COUNT_AND_READ)

    def count_and_read(
        self,
        windows: Sequence[Counted],
        reads: Sequence[str] = (),
        stamps: Sequence[Stamp] = (),
        amounts: Sequence[int] = (),
        *,
        unlimited: bool = False,
    ) -> CacheRead:
        keys, args = count_and_read_call(
            self.backend, windows, reads, stamps, amounts, unlimited=unlimited
        )
        reply = redis_script(self._script, keys, args)
        if reply[0]:
            return CacheRead(stopped_at=reply[0] - 1, values=[])
        decode = self.backend.client.decode
        split = len(windows) + 1
        return CacheRead(
            stopped_at=None,
            values=[None if value is None else decode(value) for value in reply[split:]],
            counts=reply[1:split],
        )

    def write(
        self, operations: Sequence[Operation], *, barrier: bool = False, wait: bool = True
    ) -> None:
        backend = self.backend
        encode = backend.client.encode
        key_func, prefix, version = backend.key_func, backend.key_prefix, backend.version
        commands: list[list[bytes]] = []
        for operation in operations:
            name = key_func(operation.key, prefix, version).encode()
            if isinstance(operation, Write):
                value = encode(operation.value, allow_int=True)
                value = value if isinstance(value, bytes) else b"%d" % value
                command = [b"SET", name, value]
                if operation.timeout is not None:
                    command += (b"EX", b"%d" % operation.timeout)
                commands.append(command)
            elif isinstance(operation, Delete):
                commands.append([b"DEL", name])
            else:
                commands.append([b"EXPIRE", name, b"%d" % operation.timeout])
        if not wait:
            redis_send(self.redis, commands)
            return
        redis_pipeline(self.redis, commands)
        if barrier:
            # Redis writes the invalidation pushes of a command by the end of the
            # event-loop pass that ran it, not necessarily before its reply; a command
            # sent after that reply runs in a later pass.
            redis_pipeline(self.redis, [[b"PING"]])


class LocalBackend:
    """The same with portable cache calls: each counter atomic, the whole not (the cache of
    one process, where that is enough)."""

    def __init__(self, backend: BaseCache) -> None:
        self.backend = backend

    def _increment(self, window: Counted, amount: int) -> int:
        backend = self.backend
        try:
            return backend.incr(window.key, amount)
        except ValueError:  # first event of the window
            if backend.add(window.key, amount, timeout=window.timeout):
                return amount
            return backend.incr(window.key, amount)  # opened meanwhile

    def count_and_read(
        self,
        windows: Sequence[Counted],
        reads: Sequence[str] = (),
        stamps: Sequence[Stamp] = (),
        amounts: Sequence[int] = (),
        *,
        unlimited: bool = False,
    ) -> CacheRead:
        backend = self.backend
        counts = []
        for i, window in enumerate(windows):
            amount = amounts[i] if amounts else 1
            count = self._increment(window, amount) if amount else backend.get(window.key, 0)
            count = count if isinstance(count, int) else 0
            if not unlimited and count + (0 if amount else 1) > window.limit:
                return CacheRead(stopped_at=i, values=[])
            counts.append(count)
        found = backend.get_many([*reads, *(stamp.key for stamp in stamps)])
        values = [found.get(key) for key in reads]
        for stamp in stamps:
            value = found.get(stamp.key)
            if stamp.force:
                backend.set(stamp.key, stamp.value, timeout=stamp.timeout)
                value = stamp.value
            elif value is None:
                if backend.add(stamp.key, stamp.value, timeout=stamp.timeout):
                    value = stamp.value
                else:  # written by another request meanwhile
                    value = backend.get(stamp.key, stamp.value)
            values.append(value)
        return CacheRead(stopped_at=None, values=values, counts=counts)

    def write(
        self, operations: Sequence[Operation], *, barrier: bool = False, wait: bool = True
    ) -> None:
        backend = self.backend
        for operation in operations:
            if isinstance(operation, Write):
                backend.set(operation.key, operation.value, timeout=operation.timeout)
            elif isinstance(operation, Delete):
                backend.delete(operation.key)
            else:
                backend.touch(operation.key, operation.timeout)


_backends: weakref.WeakKeyDictionary[BaseCache, CacheBackend] = weakref.WeakKeyDictionary()


def cache_backend() -> CacheBackend:
    """The count-and-read backend of the default cache (made once per cache object)."""
    cache = caches["default"]
    found = _backends.get(cache)
    if found is None:
        redis_backend = redis_cache(cache)
        found = RedisBackend(redis_backend) if redis_backend else LocalBackend(cache)
        _backends[cache] = found
    return found
