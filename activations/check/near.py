"""The near cache: check answers kept in each process, in front of the Redis check cache.

A check served from Redis costs a round trip, and on the hot path that round trip is most
of the request's cost. The near cache keeps the check facts of hot keys in the process and
serves them with no I/O at all, without serving a stale answer:

- Redis tells us what changed. A dedicated connection per process (RESP2, made as the
  cache's pool makes its connections) asks for ``CLIENT TRACKING ON REDIRECT <its own id>
  BCAST`` on the invalidation keys and the epoch key (``activations.check.keys``) and
  subscribes to ``__redis__:invalidate``, so every invalidation a write makes, every epoch
  bump and every flush of the database arrives as a message to every process. Readers
  never write those keys (a cache fill pushes nothing). Before serving anything, the
  messages waiting on that socket are applied (a poll, no round trip). A write makes one
  more round trip after its invalidation before it answers its client
  (``activations.check.keys.check_cache_forget``): Redis has written the messages of a
  command by the end of the event-loop pass that ran it, so by then they are in every near
  cache's socket on this host, before anyone could ask for the new answer.
- We check the channel is alive. Nothing is served unless a ``PING`` sent on that
  connection at most ``CHECK_NEAR_CACHE_SYNC`` seconds ago has been answered (every
  change made before it was then applied). A new one is sent half-way through the
  interval and nobody waits for it: the request that next finds its ``PONG`` on the
  socket applies it. Only a request that finds no recent answer (after idling, or while
  Redis is slow) waits for one. The interval is shorter than the cache's socket timeout,
  which a write waits out when its invalidation cannot reach Redis: if Redis hangs, this
  process stops serving before the write could have answered its client. A dropped
  connection, a flush or an epoch bump empties the near cache.
- A fill never resurrects an invalidated answer: an answer read from Redis is kept only
  if no invalidation of its key (nor of everything) was applied since before the read.
- The rate limits stay shared: a near hit counts its events locally (``LocalCounts``), and
  with each ``PING`` the request that sent it also flushes them through the cache's pool
  (one script call that adds them to Redis's counters and reads those back; a subscribed
  connection cannot run scripts).

Answers are kept as Redis answered them, or as the database did on a miss (tagged like
the entry stored in Redis), never for unknown keys (their limit is counted atomically on
every answer). An entry is made only of values the cyclic garbage collector does not
track (``Kept``: the facts pickled, the plain answer's pre-rendered body): as dicts and
lists, 100,000 entries would be walked by every full collection of the process (7,000
kept facts made a full pass 4 times longer, 12 -> 48 ms, measured in-process), and
those passes stop every thread. An entry lives at most ``CHECK_NEAR_CACHE_TTL`` seconds
and never longer than the Redis entry it was read from. The entries of a process take at
most ``CHECK_NEAR_CACHE_MAX_BYTES`` (oldest out first), each accounted as its payloads'
lengths (key, pickled facts, rendered body) plus ``ENTRY_OVERHEAD`` (the objects around
them, measured); the rendered body is kept once (the pickled facts leave it out).

The channel uses redis-py's public ``Connection`` methods (``connect``, ``send_command``,
``read_response``, ``can_read(timeout=0)``, ``disconnect``), and one thing past them, in
``license_service.redis.internals``: its socket's descriptor, polled before the lock is
taken. redis-py's own client-side cache (``cache_config``) does not fit: see
ARCHITECTURE.md.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import pickle
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Final, NamedTuple

from django.conf import settings
from django.core.cache import caches

from activations.check.keys import EPOCH_KEY, INVALIDATION_PREFIX
from license_service.ratelimit import ENDS, Window
from license_service.redis.breaker import CACHE_RETRY_SECONDS, cache_failed, cache_unavailable
from license_service.redis.internals import readable, socket_fd
from license_service.redis.scripts import RedisBackend, cache_backend
from license_service.redis.transport import redis_cache

logger = logging.getLogger(__name__)

# --- rate-limit events counted in the process --------------------------------------------

# A window is counted locally only while its last known count is below limit / LOCAL_SHARE,
LOCAL_SHARE = 2
# and only up to limit / LOCAL_BATCH events (at least one) between two flushes.
LOCAL_BATCH = 16


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

    What that costs in accuracy: one process alone stays exact: its exact calls count its
    waiting events, and while exact calls are in flight (taken, not yet answered) their
    events count too, so a burst admitted here cannot pass a limit that those calls are
    about to reach. With several, events another process admitted and has not flushed
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
        self._inflight: dict[str, int] = {}  # events of exact calls not answered yet
        self._peeked: set[str] = set()  # peek windows read locally since the last flush
        # The earliest end of a known window: a flush looks for ended windows only once
        # one has ended.
        self._next_end = math.inf

    def _know(self, window: Window, count: int) -> None:
        key = window.key
        if key not in self._window:
            self._window[key] = tuple(window)  # type: ignore[assignment]  # tuple() loses the fields' types
            self._next_end = min(self._next_end, window.ends)
        self._count[key] = count

    def admit(self, windows: Sequence[Window], peek: Window) -> bool:
        """Admit one event in each window without a round trip, or say it needs one."""
        with self._lock:
            count, pending, inflight = self._count, self._pending, self._inflight
            peeked = count.get(peek.key)
            if peeked is not None and peeked >= peek.limit:
                return False
            for window in windows:
                key, limit = window.key, window.limit
                waiting = pending.get(key, 0)
                unanswered = inflight.get(key, 0)
                if (count.get(key, 0) + waiting + unanswered + 1) * LOCAL_SHARE > limit or (
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
        """The events an exact call counts per window: its own and those still waiting.
        They are in flight until the call calls ``settled``."""
        with self._lock:
            amounts = [1 + self._pending.pop(window.key, 0) for window in windows]
            inflight = self._inflight
            for window, amount in zip(windows, amounts, strict=True):
                inflight[window.key] = inflight.get(window.key, 0) + amount
            return amounts

    def settled(self, windows: Sequence[Window], amounts: Sequence[int]) -> None:
        """The exact call that ``take`` gave ``amounts`` is answered (or failed): its events
        are no longer in flight (``learned``/``untaken`` say what became of them)."""
        with self._lock:
            inflight = self._inflight
            for window, amount in zip(windows, amounts, strict=True):
                left = inflight.get(window.key, 0) - amount
                if left > 0:
                    inflight[window.key] = left
                else:
                    inflight.pop(window.key, None)

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
            for key in [key for key, window in known.items() if window[ENDS] <= now]:
                del self._count[key], known[key]
            self._next_end = min((window[ENDS] for window in known.values()), default=math.inf)

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


# --- the near cache ------------------------------------------------------------------------

# Invalidated keys remembered for the fills in flight; past this many, all fills in flight
# are refused instead.
_FORGOT_KEPT = 4096

# Bytes an entry costs beyond its payloads (key, pickled facts, body): the dict slot, the
# entry tuple, the bytes and str headers, the float, the rendered tuple and its datetime.
# Measured with tracemalloc over 10,000 entries: 335 B (bench/MEASUREMENTS.md).
ENTRY_OVERHEAD: Final = 340

_INVALIDATE_CHANNEL = b"__redis__:invalidate"


class Kept(NamedTuple):
    """One entry. Kept as a plain tuple of these atomic values, which the garbage collector
    stops tracking (CPython untracks plain tuples only, not this class's instances)."""

    facts: bytes  # the check facts without the rendered body, pickled: ``data()``
    rendered: tuple[bytes, datetime | None] | None  # the plain answer's body, true until
    expires: float  # wall clock
    size: int  # bytes accounted for it

    def data(self) -> Any:
        data = pickle.loads(self.facts)  # noqa: S301 (pickled by this process)
        if self.rendered is not None:
            data["rendered"] = self.rendered
        return data


_EXPIRES: Final = 2  # where a plain-tuple entry holds ``Kept.expires``
_SIZE: Final = 3


def entry_size(key: str, facts: bytes, rendered: tuple[bytes, Any] | None) -> int:
    """The bytes an entry is accounted for."""
    body = len(rendered[0]) if rendered is not None else 0
    return len(key) + len(facts) + body + ENTRY_OVERHEAD


class NearCache:
    """The near cache of one process (``near_cache()``); every method is thread-safe."""

    def __init__(self, backend: RedisBackend, *, sync: float, ttl: float, max_bytes: int) -> None:
        self.counts = LocalCounts()
        self._backend = backend
        self._sync_interval = sync
        self._ttl = ttl
        self._max_bytes = max_bytes
        self._bytes = 0  # accounted for the entries kept
        self._lock = threading.Lock()  # the channel and the entries
        self._entries: dict[str, tuple[bytes, Any, float, int]] = {}  # tuple(Kept)
        self._conn: Any = None
        self.client_id: int | None = None  # the channel's Redis client id
        # The channel's socket, polled before the lock is taken, and which channel it is.
        self._fd: int | None = None
        self._channel = 0
        self._synced_at = float("-inf")  # monotonic time the last answered barrier was sent
        self._sync_sent_at = float("-inf")  # and the last one, answered or not
        self._pings: deque[float] = deque()  # when each unanswered PING was sent
        self._flush_due = False
        self._down_until = 0.0
        self._seq = 0  # invalidations applied so far
        # A fill whose token is older than this could have missed an invalidation.
        self._fills_from = 0
        self._forgot: dict[str, int] = {}  # key -> _seq when last invalidated (recent ones)
        make_key = backend.backend.make_key
        self._invalidation_prefix = make_key(INVALIDATION_PREFIX).encode()
        self._epoch_key = make_key(EPOCH_KEY).encode()

    # --- reads ---------------------------------------------------------------------------

    def get(
        self, key: str, windows: Sequence[Window], peek: Window
    ) -> tuple[Kept | None, int | None]:
        """What is kept for ``key`` if it can be served from here, with the request
        admitted by the local rate-limit counts, else None and a token: ask Redis (which
        counts the request), then ``put`` what it answered with that token (None: nothing
        will be kept)."""
        ready, found, token = self._lookup(key)
        if not ready:
            return None, None
        if found is None or not self.counts.admit(windows, peek):
            return None, token
        return Kept._make(found), None

    def read(self, key: str) -> tuple[Kept | None, int | None]:
        """``get`` without rate limits: for an entry read beside a request that counts its
        own limits (a brand's catalogue, ``releases.catalog``)."""
        ready, found, token = self._lookup(key)
        if not ready:
            return None, None
        if found is None:
            return None, token
        return Kept._make(found), None

    def _lookup(self, key: str) -> tuple[bool, tuple[Any, ...] | None, int]:
        """Whether entries may be served now, the live entry of ``key`` if one is kept,
        and the token a fill would need; the locally counted events flushed when due."""
        quiet = self._quiet_channel()
        found = None
        token = 0
        with self._lock:
            ready = self._ready(quiet=quiet == self._channel)
            flush, self._flush_due = self._flush_due, False
            if ready:
                found = self._entries.get(key)
                if found is not None and time.time() >= found[_EXPIRES]:
                    self._remove(key)
                    found = None
                token = self._seq
        if flush:
            self._flush()
        return ready, found, token

    def put(self, key: str, data: Mapping[str, Any], token: int | None) -> None:
        """Keep facts read from Redis (or the database) after ``get`` returned ``token``;
        ``data["rendered"]``, when there, is the plain answer (body, true until), kept
        beside the facts, not in them."""
        if token is None:
            return
        expires = time.time() + self._ttl
        cached_until = data.get("cached_until")
        if cached_until is not None:
            expires = min(expires, cached_until)
        rendered = data.get("rendered")
        facts = {name: value for name, value in data.items() if name != "rendered"}
        pickled = pickle.dumps(facts, pickle.HIGHEST_PROTOCOL)
        size = entry_size(key, pickled, rendered)
        if size > self._max_bytes:
            return
        quiet = self._quiet_channel()
        with self._lock:
            ready = self._ready(quiet=quiet == self._channel)
            if ready and self._fills_from <= token and self._forgot.get(key, 0) <= token:
                self._remove(key)
                entries = self._entries
                while self._bytes + size > self._max_bytes:
                    self._remove(next(iter(entries)))
                entries[key] = (pickled, rendered, expires, size)
                self._bytes += size

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def kept_bytes(self) -> int:
        """The bytes accounted for the entries kept."""
        return self._bytes

    def _remove(self, key: str) -> None:
        found = self._entries.pop(key, None)
        if found is not None:
            self._bytes -= found[_SIZE]

    # --- the invalidation channel (called with the lock held, but the first) -------------

    def _quiet_channel(self) -> int:
        """Called before taking the lock: the channel whose socket was just polled and found
        quiet, else -1. The poll is a system call, which lets other threads run: made
        before the lock, they do not queue on it meanwhile. A message arriving after it is
        concurrent with the caller's request: either answer is right."""
        channel, fd = self._channel, self._fd
        return channel if fd is not None and not readable(fd) else -1

    def _ready(self, *, quiet: bool = False) -> bool:
        """Whether entries may be served now: the channel is up, what waits on it is
        applied, and a barrier sent at most one sync interval ago has come back. ``quiet``:
        the caller has just polled the channel's socket and found nothing on it (and every
        read of the channel ends by draining the parser's buffer, so nothing waits there).

        Half-way through the interval a new barrier is sent (and the locally counted events
        are flushed by the caller) and nobody waits for it: whichever request next finds
        its reply on the socket applies it. Only when no recent barrier has come back (the
        process was idle, or Redis is slow) does a request wait, for one sent there and
        then."""
        if cache_unavailable():
            self._drop("the cache is down")
            return False
        now = time.monotonic()
        try:
            if self._conn is None:
                if now < self._down_until:
                    return False
                self._connect()
            if not quiet:
                self._apply_messages()
            if now - self._synced_at <= self._sync_interval:
                if not self._pings and now - self._sync_sent_at >= self._sync_interval / 2:
                    self._send_sync(now)
                return True
            self._send_sync(now)
            while self._pings:  # wait for it: read up to its pong
                self._read_one()
            self._apply_messages()  # what came in the same read, left in the buffer
        except Exception:
            self._drop("the invalidation channel failed")
            return False
        return now - self._synced_at <= self._sync_interval

    def _send_sync(self, now: float) -> None:
        """Send a barrier (``PING``); its reply is applied when read (``_read_one``). The
        locally counted events are due for a flush."""
        self._conn.send_command("PING", check_health=False)
        self._pings.append(now)
        self._sync_sent_at = now
        self._flush_due = True

    def _flush(self) -> None:
        """Add the locally counted events to Redis's counters and read those back (through
        the cache's pool; without the lock). A failed flush loses them (fail open)."""
        windows, amounts = self.counts.flush_plan()
        if not windows:
            return
        try:
            read = self._backend.count_and_read(windows, amounts=amounts, unlimited=True)
        except Exception:
            cache_failed("near cache flush")
            return
        self.counts.flushed(windows, read.counts)

    def _read_one(self) -> None:
        """Read one message from the channel: an invalidation, or the pong of the oldest
        barrier still unanswered."""
        reply = self._conn.read_response()
        kind = reply[0]
        if kind == b"message":
            if reply[1] == _INVALIDATE_CHANNEL:
                self._invalidated(reply[2])
        elif kind == b"pong":
            self._synced_at = max(self._synced_at, self._pings.popleft())

    def _connect(self) -> None:
        pool = self._backend.redis.connection_pool
        # Same address, database, credentials and timeouts as the cache's own connections;
        # RESP2, whatever those use (invalidations come as pub/sub messages).
        conn = pool.connection_class(**{**pool.connection_kwargs, "protocol": 2})
        conn.connect()
        conn.send_command("CLIENT", "ID", check_health=False)
        client_id = int(conn.read_response())
        conn.send_command(
            "CLIENT",
            "TRACKING",
            "ON",
            "REDIRECT",
            client_id,
            "BCAST",
            "PREFIX",
            self._invalidation_prefix,
            "PREFIX",
            self._epoch_key,
            check_health=False,
        )
        conn.read_response()
        conn.send_command("SUBSCRIBE", _INVALIDATE_CHANNEL, check_health=False)
        conn.read_response()  # the subscription's confirmation
        self.client_id = client_id
        self._conn = conn
        self._fd = socket_fd(conn)
        self._channel += 1
        self._forget_all()  # changes made while we were not listening are unknown

    def _apply_messages(self) -> None:
        """Apply everything waiting in the parser's buffer or on the socket (``can_read``:
        one ``poll`` when there is nothing)."""
        conn = self._conn
        while conn.can_read(timeout=0):
            self._read_one()

    def _invalidated(self, keys: list[Any] | None) -> None:
        """An invalidation: the keys whose value changed, or None after a flush."""
        if keys is None:
            self._forget_all()
            self.counts.clear()  # the counters were flushed too
            return
        prefix, size = self._invalidation_prefix, len(self._invalidation_prefix)
        for raw in keys:
            name = raw if isinstance(raw, bytes) else str(raw).encode()
            if name.startswith(prefix):
                self._forget(name[size:].decode())
            elif name == self._epoch_key:
                self._forget_all()

    def _forget(self, key: str) -> None:
        self._seq += 1
        self._remove(key)
        self._forgot[key] = self._seq
        if len(self._forgot) > _FORGOT_KEPT:  # bounded: refuse every fill in flight instead
            self._fills_from = self._seq
            self._forgot.clear()

    def _forget_all(self) -> None:
        self._seq += 1
        self._fills_from = self._seq
        self._forgot.clear()
        self._entries.clear()
        self._bytes = 0

    def _drop(self, why: str) -> None:
        """Stop serving until the channel is made again (a few seconds later)."""
        if self._conn is None and not self._entries:
            return
        logger.warning("near cache off for %ss: %s", CACHE_RETRY_SECONDS, why, exc_info=True)
        self._disconnect()
        self._down_until = time.monotonic() + CACHE_RETRY_SECONDS

    def _disconnect(self) -> None:
        """Close the channel and forget everything it vouched for."""
        if self._conn is not None:
            with contextlib.suppress(Exception):  # it may be broken already
                self._conn.disconnect()
        self._conn = None
        self.client_id = None
        self._fd = None
        self._channel += 1
        self._pings.clear()
        self._synced_at = self._sync_sent_at = float("-inf")
        self._forget_all()

    def close(self) -> None:
        with self._lock:
            self._disconnect()
            self.counts.clear()


# --- the process's instance ----------------------------------------------------------------

_instance: NearCache | None = None
_instance_lock = threading.Lock()


def near_cache() -> NearCache | None:
    """This process's near cache; None when it is off (``CHECK_NEAR_CACHE``) or the cache is
    not Redis (the embedded mode's cache is in-process already)."""
    global _instance  # noqa: PLW0603 (the process's one instance, read on every check)
    if _instance is not None:
        return _instance
    knobs = settings.LICENSE_SERVICE
    if not knobs["CHECK_NEAR_CACHE"]:
        return None
    if redis_cache(caches["default"]) is None:
        return None
    backend = cache_backend()
    assert isinstance(backend, RedisBackend)  # noqa: S101 (a Redis cache has one)
    with _instance_lock:
        if _instance is None:
            _instance = NearCache(
                backend,
                sync=knobs["CHECK_NEAR_CACHE_SYNC"],
                ttl=knobs["CHECK_NEAR_CACHE_TTL"],
                max_bytes=knobs["CHECK_NEAR_CACHE_MAX_BYTES"],
            )
    return _instance


def near_cache_reset() -> None:
    """Drop this process's near cache (tests; settings changed). The next call makes one."""
    global _instance  # noqa: PLW0603 (the same instance)
    with _instance_lock:
        if _instance is not None:
            _instance.close()
        _instance = None


def _forked() -> None:
    global _instance  # noqa: PLW0603 (the same instance)
    _instance = None  # the parent's socket and entries are not the child's


os.register_at_fork(after_in_child=_forked)
