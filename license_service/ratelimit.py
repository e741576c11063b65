"""Rate limits on an atomic cache counter (Redis ``INCR`` in production).

DRF's stock throttles read a list of timestamps, append and write it back, so concurrent
requests all see room. Here each event is one atomic increment of a fixed-window counter
(``cache.incr``, and ``cache.add`` to open a window): N concurrent events are counted N
times, so exactly ``limit`` of them pass in a window, across every process sharing the
cache. A fixed window lets up to twice the rate through across a window boundary; for
abuse protection that is the right trade for one round trip per event.

Rates are strings ``"<count>/<period>"``, period ``s``, ``m``, ``h`` or ``d`` (or a word
starting with one of those, as in DRF: ``"20/hour"``), optionally a multiple of one
(``"30/10m"``: 30 per ten-minute window), read from settings at call time.

The cache is an optimisation, never a dependency: if it cannot be reached, limits fail open
(the request is allowed and a warning logged) and for ``CACHE_RETRY_SECONDS`` this process
stops asking it, so a dead Redis costs one socket timeout, not one per cache call.

The product check needs its counters and its cache entry in one round trip:
``cache_count_and_read`` counts events and reads keys in a single Lua script on Redis (with
django-redis's key names and value encoding, so ``cache.get`` and ``cache.incr`` see the
same values; one Redis server, as django-redis's default client uses, not a cluster), and
falls back to the portable calls on any other backend (the in-process cache of the
embedded mode) with the same results.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import math
import os
import re
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Final, NamedTuple

from django.core.cache import cache, caches
from django.core.cache.backends.base import BaseCache
from django.core.exceptions import ImproperlyConfigured
from django_redis.cache import RedisCache
from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, ResponseError

from license_service.errors import Throttled

logger = logging.getLogger(__name__)

CACHE_RETRY_SECONDS = 5.0
_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}

_cache_down_until = 0.0


def cache_unavailable() -> bool:
    """True while this process treats the cache as down (after a failed call)."""
    return time.monotonic() < _cache_down_until


def cache_failed(what: str) -> None:
    """Record a failed cache call: skip the cache for a few seconds, fail open."""
    global _cache_down_until
    if not cache_unavailable():
        logger.warning("cache unreachable during %s; failing open", what)
    _cache_down_until = time.monotonic() + CACHE_RETRY_SECONDS


def cache_breaker_reset() -> None:
    """Forget a recorded failure (tests; a cache that is known to be back)."""
    global _cache_down_until
    _cache_down_until = 0.0


@dataclass(frozen=True, slots=True)
class Rate:
    limit: int
    period: int  # seconds


_RATE = re.compile(r"\s*(\d+)\s*/\s*(\d*)\s*([smhd])[a-z]*\s*", re.IGNORECASE | re.ASCII)


@lru_cache(maxsize=64)
def parse_rate(value: str) -> Rate:
    """``"600/m"`` -> Rate(600, 60), ``"30/10m"`` -> Rate(30, 600). Raises
    ImproperlyConfigured on anything else."""
    match = _RATE.fullmatch(value)
    multiple = int(match.group(2) or 1) if match else 0
    if match is None or multiple == 0:
        raise ImproperlyConfigured(f"Invalid rate {value!r}: use '<count>/[<n>]<s|m|h|d>'.")
    return Rate(limit=int(match.group(1)), period=multiple * _PERIODS[match.group(3).lower()])


class Window(NamedTuple):
    """The counter of one (scope, identity) in one fixed window: ``starts <= t < ends``
    (wall clock, whole seconds). A tuple of atomic values, which the garbage collector
    would stop tracking, were it a plain tuple (CPython untracks only those): processes
    keep thousands of windows alive for their whole period, so ``rate_window`` and
    ``LocalCounts`` keep them as plain tuples (``tuple(window)``, ``Window._make``);
    tracked, they would lengthen every full collection."""

    key: str
    limit: int
    timeout: int  # seconds a new counter lives in the cache: the period, plus one
    starts: int
    ends: int

    @property
    def retry_after(self) -> int:
        """Whole seconds until the window ends (at least 1): a throttled call's wait."""
        return max(1, math.ceil(self.ends - time.time()))

    def exceeded(self, count: Any) -> bool:
        """Whether a counter value read from the cache is already past the limit."""
        return isinstance(count, int) and count > self.limit

    def reached(self, count: Any) -> bool:
        """Whether one more event would be past the limit."""
        return isinstance(count, int) and count >= self.limit


# Where a window kept as a plain tuple holds its bounds (``Window``'s field order).
_STARTS: Final = 3
_ENDS: Final = 4

# The windows made lately, per (scope, identity, rate): a window is the same object for its
# whole period, so the check path (three windows per request) rarely builds one. Bounded:
# emptied when full (a burst of new identities costs a rebuild, nothing else).
_recent_windows: dict[tuple[str, str, str], tuple[str, int, int, int, int]] = {}
_RECENT_WINDOWS_KEPT = 16_384


def rate_window(scope: str, identity: str, rate: str, *, now: float | None = None) -> Window:
    """The window of ``identity`` in ``scope`` at ``now`` (default: the current time)."""
    now = time.time() if now is None else now
    recent = (scope, identity, rate)
    kept = _recent_windows.get(recent)
    if kept is not None and kept[_STARTS] <= now < kept[_ENDS]:
        return Window._make(kept)
    parsed = parse_rate(rate)
    index = int(now // parsed.period)
    window = Window(
        key=f"rl:{scope}:{index}:{identity}",
        limit=parsed.limit,
        timeout=parsed.period + 1,
        starts=index * parsed.period,
        ends=(index + 1) * parsed.period,
    )
    if len(_recent_windows) >= _RECENT_WINDOWS_KEPT:
        _recent_windows.clear()
    _recent_windows[recent] = tuple(window)  # type: ignore[assignment]
    return window


def rate_limit_hit(scope: str, identity: str, rate: str) -> None:
    """Count one event of ``identity`` in ``scope``; raise Throttled once more than the
    rate's count were counted in the current window."""
    window = rate_window(scope, identity, rate)
    count = _increment(window)
    if window.exceeded(count):
        raise Throttled(window.retry_after)


def rate_limit_spent(scope: str, identity: str, rate: str) -> Window | None:
    """The window if ``identity`` has used up its events in it, without counting one (for
    limits that count only some outcomes, such as unknown keys); None while there is room
    (or the cache cannot tell: fail open)."""
    window = rate_window(scope, identity, rate)
    return window if window.reached(cache_get(window.key, "rate limit")) else None


def cache_get(key: str, what: str) -> Any:
    """``cache.get`` that fails open: None when the cache is down."""
    if cache_unavailable():
        return None
    try:
        return cache.get(key)
    except Exception:
        cache_failed(what)
        return None


def _increment(window: Window, amount: int = 1) -> int | None:
    """The counter after these ``amount`` events, or None when the cache cannot count
    (fail open)."""
    if cache_unavailable():
        return None
    count: Any = None
    try:
        try:
            count = cache.incr(window.key, amount)
        except ValueError:  # first event of the window
            added = cache.add(window.key, amount, timeout=window.timeout)
            if added is True:
                count = amount
            elif added is False:  # another request opened the window between our calls
                count = cache.incr(window.key, amount)
    except ValueError:  # the window closed between add and incr: a new one starts
        return None
    except Exception:
        count = None
    if not isinstance(count, int):
        # django-redis with IGNORE_EXCEPTIONS answers None instead of raising.
        cache_failed("rate limit")
        return None
    return count


# --- one round trip: count, then read ------------------------------------------------------


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
    """What ``cache_count_and_read`` found: the first window past its limit (nothing was
    read nor written then, and the windows after it were not counted), else each window's
    counter after this call and the values of the reads and then of the stamps, decoded as
    ``cache.get`` would."""

    throttled: Window | None
    values: list[Any]
    counts: list[int] = field(default_factory=list)


# KEYS: the windows, the reads, the stamps. ARGV: how many windows and reads; then
# (timeout, limit, amount) per window (amount 0: a gate, read the counter, count nothing,
# and stop if it has no room for one more event); then (value, timeout or 0, force 0|1)
# per stamp. Replies {0, counts..., values...}, or {n} when window n (1-based) stopped the
# call: then nothing after that window was counted, read or written.
_COUNT_AND_READ = """
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
_COUNT_AND_READ_BYTES = _COUNT_AND_READ.encode()
# Redis names scripts by their SHA-1.
_COUNT_AND_READ_SHA_BYTES = hashlib.sha1(_COUNT_AND_READ_BYTES).hexdigest().encode()  # noqa: S324
_EVALSHA = b"EVALSHA"


def redis_cache(backend: BaseCache) -> RedisCache | None:
    """The backend if it is django-redis (its raw client can run scripts), else None."""
    return backend if isinstance(backend, RedisCache) else None


def cache_count_and_read(
    windows: Sequence[Window],
    reads: Sequence[str],
    stamps: Sequence[Stamp],
    what: str,
    *,
    amounts: Sequence[int] = (),
) -> CacheRead | None:
    """Count events in each window, in order (``amounts[i]`` of them in window i, one by
    default), stopping at the first past its limit; then read ``reads`` and ``stamps``.
    A window with amount 0 is a gate: its counter is read, not counted, and the call stops
    there if it has no room for one more event (``Window.reached``). One round trip on
    Redis, all of it atomic; a call that stops writes nothing but the counters before.

    None when the cache cannot be reached (fail open: nothing counted, nothing read).
    """
    if cache_unavailable():
        return None
    backend = caches["default"]
    try:
        redis_backend = redis_cache(backend)
        if redis_backend is not None:
            return _redis_count_and_read(redis_backend, windows, reads, stamps, amounts)
        return _portable_count_and_read(backend, windows, reads, stamps, amounts)
    except Exception:
        cache_failed(what)
        return None


def _redis_count_and_read(
    backend: RedisCache,
    windows: Sequence[Window],
    reads: Sequence[str],
    stamps: Sequence[Stamp],
    amounts: Sequence[int],
) -> CacheRead:
    command = count_and_read_command(backend, windows, reads, stamps, amounts)
    client = backend.client
    redis = client.get_client(write=True)
    try:
        reply = redis_pipeline(redis, [command])[0]
    except NoScriptError:  # first call on this server, or after a restart
        reply = redis_pipeline(redis, [[b"SCRIPT", b"LOAD", _COUNT_AND_READ_BYTES], command])[1]
    if reply[0]:
        return CacheRead(throttled=windows[reply[0] - 1], values=[])
    decode = client.decode
    split = len(windows) + 1
    return CacheRead(
        throttled=None,
        values=[None if value is None else decode(value) for value in reply[split:]],
        counts=reply[1:split],
    )


def count_and_read_command(
    backend: RedisCache,
    windows: Sequence[Window],
    reads: Sequence[str] = (),
    stamps: Sequence[Stamp] = (),
    amounts: Sequence[int] = (),
    *,
    by_sha: bool = True,
    unlimited: bool = False,
) -> list[bytes]:
    """The script call of ``cache_count_and_read`` (``EVALSHA``; ``EVAL`` with the script's
    text when ``by_sha`` is false, for a connection that cannot retry on NOSCRIPT).
    ``unlimited``: count every event, whatever the windows' limits."""
    # The cache's own key names (Django's KEY_FUNCTION, KEY_PREFIX, VERSION), as
    # ``make_key`` builds them, without its layers: a flush names hundreds of windows.
    key_func, prefix, version = backend.key_func, backend.key_prefix, backend.version
    names = [window.key for window in windows]
    names += reads
    names += [stamp.key for stamp in stamps]
    if by_sha:
        command = [_EVALSHA, _COUNT_AND_READ_SHA_BYTES, b"%d" % len(names)]
    else:
        command = [b"EVAL", _COUNT_AND_READ_BYTES, b"%d" % len(names)]
    command += [key_func(name, prefix, version).encode() for name in names]
    command += (b"%d" % len(windows), b"%d" % len(reads))
    no_limit = b"%d" % _NO_LIMIT
    for i, window in enumerate(windows):
        amount = amounts[i] if amounts else 1
        limit = no_limit if unlimited else b"%d" % window.limit
        command += (b"%d" % window.timeout, limit, b"%d" % amount)
    for stamp in stamps:
        force = b"1" if stamp.force else b"0"
        command += (b"%d" % stamp.value, b"%d" % (stamp.timeout or 0), force)
    return command


def resp_pack(commands: Sequence[Sequence[bytes]]) -> bytes:
    """Commands in Redis's wire format, ready to send as one write."""
    return b"".join(
        b"*%d\r\n" % len(command)
        + b"".join(b"$%d\r\n%b\r\n" % (len(part), part) for part in command)
        for command in commands
    )


def redis_pipeline(redis: Redis, commands: Sequence[Sequence[bytes]]) -> list[Any]:
    """The replies of ``commands``, sent in one round trip (a pipeline, not a transaction)
    on this thread's own connection; raises on any error.

    The hot path's round trips go here because redis-py's generic path spends more CPU
    than the rest of a cache hit: argument encoding, the retry wrapper, response
    callbacks, the pool's lock and its poll of the connection before every command.
    Instead, a connection found closed (Redis restarted since its last use) is made again
    and the commands sent again, once: a refused connection costs little, a timeout is not
    retried, and the commands sent here may run twice (counters then count one more).
    """
    return _call(redis, commands, wait=True)


def redis_send(redis: Redis, commands: Sequence[Sequence[bytes]]) -> None:
    """Send ``commands`` on this thread's connection without waiting for their replies:
    for writes whose outcome changes nothing for the caller (storing a cache entry). The
    replies are read, and dropped, before this thread's next call on the connection, by
    when they have long arrived: the caller saves a blocking wait, not the write."""
    _call(redis, commands, wait=False)


def _call(redis: Redis, commands: Sequence[Sequence[bytes]], *, wait: bool) -> list[Any]:
    packed = resp_pack(commands)
    held = _thread_connection(redis)
    try:
        return held.send(packed, len(commands), wait=wait)
    except RedisConnectionError:
        return held.send(packed, len(commands), wait=wait)


class _Held:
    """A thread's connection, and how many replies sent without waiting it has yet to read."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool
        self.forks = _forks
        self.connection = pool.connection_class(**pool.connection_kwargs)
        self.unread = 0

    def send(self, packed: bytes, replies: int, *, wait: bool) -> list[Any]:
        """The connection is dropped on any error but the error reply of a lone command
        (after which nothing is left unread), and made again at the next call."""
        connection = self.connection
        try:
            while self.unread:
                self.unread -= 1
                with contextlib.suppress(ResponseError):  # a cache write nobody waits for
                    connection.read_response()
            connection.send_packed_command([packed], check_health=False)
            if not wait:
                self.unread = replies
                return []
            return [connection.read_response() for _ in range(replies)]
        except ResponseError:
            if replies > 1:
                self._drop()
            raise
        except BaseException:
            self._drop()
            raise

    def _drop(self) -> None:
        self.connection.disconnect()
        self.unread = 0


_local = threading.local()
_forks = 0


def _forked() -> None:
    global _forks
    _forks += 1  # a connection made before the fork is the parent's


os.register_at_fork(after_in_child=_forked)


def _thread_connection(redis: Redis) -> _Held:
    """This thread's connection to the cache's Redis, made as its pool makes them (same
    address, database, credentials, TLS and socket timeouts), outside the pool."""
    pool = redis.connection_pool
    held: _Held | None = getattr(_local, "held", None)
    if held is None or held.pool is not pool or held.forks != _forks:
        held = _Held(pool)
        _local.held = held
    return held


def _portable_count_and_read(
    backend: BaseCache,
    windows: Sequence[Window],
    reads: Sequence[str],
    stamps: Sequence[Stamp],
    amounts: Sequence[int],
) -> CacheRead | None:
    """The same with portable cache calls: each counter atomic, the whole not (the cache of
    one process, where that is enough)."""
    counts = []
    for i, window in enumerate(windows):
        amount = amounts[i] if amounts else 1
        count = _increment(window, amount) if amount else backend.get(window.key, 0)
        if count is None and cache_unavailable():
            return None
        if window.exceeded(count) or (not amount and window.reached(count)):
            return CacheRead(throttled=window, values=[])
        counts.append(count if isinstance(count, int) else 0)
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
    return CacheRead(throttled=None, values=values, counts=counts)


# --- counting without a round trip ---------------------------------------------------------

# A window is counted locally only while its last known count is below limit / LOCAL_SHARE,
LOCAL_SHARE = 2
# and only up to limit / LOCAL_BATCH events (at least one) between two flushes.
LOCAL_BATCH = 16
# Flushes never stop at a limit: every pending event is counted.
_NO_LIMIT = 2**62


class LocalCounts:
    """Rate-limit events a process admits without a round trip, counted later.

    Each window's counter is known as last read from the cache (a lower bound: counters
    only grow within a window; a window not read yet counts from 0). A request may be
    admitted here while, for each of its windows, that count plus this process's uncounted
    events stays below half the limit, and at most ``limit / LOCAL_BATCH`` events wait per
    window; its ``peek`` window (the unknown-key budget) must not be known to be spent.
    The events wait in ``pending`` until the next ``flush_plan``/``flushed`` pair (every
    sync of the near cache) or the next exact call on the same window, which counts them
    with its own (``take``).

    What that costs in accuracy: one process alone stays exact (its exact calls count its
    waiting events). With several, events another process admitted and has not flushed
    yet are not in the count a process reads: a window can let through at most
    limit / LOCAL_BATCH events per other process more than its limit, per sync interval
    of the near cache. The brute-force limit is not counted here (unknown keys are always
    counted atomically); its counter is only read.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # Per window key: the count last read, and the window. Kept in separate dicts of
        # plain values, so that updating a count allocates nothing the cyclic garbage
        # collector must track: long-lived tracked objects made per request trigger its
        # full passes, the p99's worst enemy in a worker process.
        self._count: dict[str, int] = {}
        self._window: dict[str, tuple[str, int, int, int, int]] = {}  # tuple(Window)
        self._pending: dict[str, int] = {}
        self._peeked: set[str] = set()  # peek windows read locally since the last flush
        # The earliest end of a known window: a flush looks for ended windows only once
        # one has ended.
        self._next_end = math.inf

    def _know(self, window: Window, count: int) -> None:
        key = window.key
        if key not in self._window:
            self._window[key] = tuple(window)  # type: ignore[assignment]
            self._next_end = min(self._next_end, window.ends)
        self._count[key] = count

    def admit(self, windows: Sequence[Window], peek: Window) -> bool:
        """Admit one event in each window without a round trip, or say it needs one."""
        with self._lock:
            count, pending = self._count, self._pending
            peeked = count.get(peek.key)
            if peeked is not None and peeked >= peek.limit:
                return False
            for window in windows:
                key, limit = window.key, window.limit
                waiting = pending.get(key, 0)
                if (count.get(key, 0) + waiting + 1) * LOCAL_SHARE > limit or (
                    waiting >= max(1, limit // LOCAL_BATCH)
                ):
                    return False
            # A window not seen yet (a new one, or new here) counts from 0 until the next
            # flush reads it: the batch bound above holds whatever it really is.
            for window in windows:
                key = window.key
                if key not in count:
                    self._know(window, 0)
                pending[key] = pending.get(key, 0) + 1
            if peeked is None:
                self._know(peek, 0)
            self._peeked.add(peek.key)
            return True

    def take(self, windows: Sequence[Window]) -> list[int]:
        """The events an exact call counts per window: its own and those still waiting."""
        with self._lock:
            return [1 + self._pending.pop(window.key, 0) for window in windows]

    def untaken(self, windows: Sequence[Window], amounts: Sequence[int]) -> None:
        """``take`` gave these, but the exact call stopped before counting them (at a window
        past its limit): the events admitted here wait again; the call's own is dropped."""
        with self._lock:
            pending = self._pending
            for window, amount in zip(windows, amounts, strict=True):
                if amount > 1 and window.key in self._window:
                    pending[window.key] = pending.get(window.key, 0) + amount - 1

    def learned(self, windows: Sequence[Window], counts: Sequence[Any]) -> None:
        """Counters as the cache returned them (after this process's events in them)."""
        with self._lock:
            for window, count in zip(windows, counts, strict=False):
                if isinstance(count, int):
                    self._know(window, count)

    def flush_plan(self) -> tuple[list[Window], list[int]]:
        """What a flush counts and reads: every window with waiting events (to be counted
        without a limit: they were admitted), and every peek window read locally (amount
        0). The waiting events leave ``pending``: a failed flush loses them (fail open)."""
        with self._lock:
            windows: list[Window] = []
            amounts: list[int] = []
            known = self._window
            for key, amount in (*self._pending.items(), *((key, 0) for key in self._peeked)):
                window = known.get(key)
                if window is not None:
                    windows.append(Window._make(window))
                    amounts.append(amount)
            self._pending.clear()
            self._peeked.clear()
            return windows, amounts

    def flushed(self, windows: Sequence[Window], counts: Sequence[Any]) -> None:
        """Record a flush's counts and forget the windows that have ended."""
        now = time.time()
        with self._lock:
            for window, count in zip(windows, counts, strict=False):
                if window.key in self._count and isinstance(count, int):
                    self._count[window.key] = count
            if now < self._next_end:  # nothing has ended: no need to look
                return
            known = self._window
            for key in [key for key, window in known.items() if window[_ENDS] <= now]:
                del self._count[key], known[key]
            self._next_end = min((window[_ENDS] for window in known.values()), default=math.inf)

    def distrust(self, window: Window) -> None:
        """This window was counted elsewhere (by an exact call whose count we do not see):
        exact calls only, until one reads its count."""
        with self._lock:
            self._know(window, window.limit)

    def clear(self) -> None:
        """Forget every count (the cache was flushed or cannot be trusted)."""
        with self._lock:
            self._count.clear()
            self._window.clear()
            self._next_end = math.inf
            self._pending.clear()
            self._peeked.clear()
