"""The near cache: check answers kept in each process, in front of the Redis check cache.

A check served from Redis costs a round trip, and on the hot path that round trip is most
of the request's cost. The near cache keeps the check facts of hot keys in the process and
serves them with no I/O at all, without serving a stale answer:

- Redis tells us what changed. A dedicated RESP3 connection per process asks for
  ``CLIENT TRACKING ON BCAST`` on the invalidation keys and the epoch key
  (``licensing.cache``), so every invalidation a write makes, every epoch bump and every
  flush of the database is pushed to every process. Readers never write those keys (a
  cache fill pushes nothing). Before serving
  anything, the pushes waiting on that socket are applied (a poll, no round trip). A
  write makes one more round trip after its invalidation before it answers its client
  (``licensing.cache.check_cache_forget``): Redis has written the pushes of a command by
  the end of the event-loop pass that ran it, so by then they are in every near cache's
  socket on this host, before anyone could ask for the new answer.
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
- The rate limits stay shared: a near hit counts its events locally
  (``license_service.ratelimit.LocalCounts``), and each ``PING`` goes with a script call
  that adds them to Redis's counters and reads those back.

Answers are kept as Redis answered them, or as the database did on a miss (tagged like
the entry stored in Redis), never for unknown keys (their limit is counted atomically on
every answer). An entry is made only of values the cyclic garbage collector does not
track (``Kept``: the facts pickled, the plain answer's pre-rendered body): as dicts and
lists, 100,000 entries would be walked by every full collection of the process (7,000
kept facts made a full pass 4 times longer, 12 -> 48 ms, measured in-process), and
those passes stop every thread. An entry lives at most ``CHECK_NEAR_CACHE_TTL`` seconds
and never longer than the Redis entry it was read from; at most ``CHECK_NEAR_CACHE_SIZE``
entries are kept (oldest out first).

The socket handling follows redis-py's own client-side cache
(``redis.connection.CacheProxyConnection``: ``can_read`` then
``read_response(push_request=True)`` with an invalidation push handler).
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import select
import threading
import time
from collections import deque
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final, NamedTuple

from django.conf import settings
from django.core.cache import caches
from django_redis.cache import RedisCache
from redis._parsers import _RESP3Parser

from license_service.ratelimit import (
    CACHE_RETRY_SECONDS,
    LocalCounts,
    Window,
    cache_unavailable,
    count_and_read_command,
    redis_cache,
    resp_pack,
)
from licensing.cache import EPOCH_KEY, INVALIDATION_PREFIX

logger = logging.getLogger(__name__)

# Invalidated keys remembered for the fills in flight; past this many, all fills in flight
# are refused instead.
_FORGOT_KEPT = 4096


class Kept(NamedTuple):
    """One entry. Kept as a plain tuple of these atomic values, which the garbage collector
    stops tracking (CPython untracks plain tuples only, not this class's instances)."""

    facts: bytes  # the check facts, pickled: ``data()`` unpickles them
    rendered: tuple[bytes, datetime | None] | None  # the plain answer's body, true until
    expires: float  # wall clock

    def data(self) -> Any:
        return pickle.loads(self.facts)  # noqa: S301 (pickled by this process)


_EXPIRES: Final = 2  # where a plain-tuple entry holds ``Kept.expires``


class NearCache:
    """The near cache of one process (``near_cache()``); every method is thread-safe."""

    def __init__(self, backend: RedisCache, *, sync: float, ttl: float, size: int) -> None:
        self.counts = LocalCounts()
        self._backend = backend
        self._sync_interval = sync
        self._ttl = ttl
        self._size = size
        self._lock = threading.Lock()  # the socket and the entries
        self._entries: dict[str, tuple[bytes, Any, float]] = {}  # tuple(Kept)
        self._conn: Any = None
        self._fd: int | None = None  # the channel's socket, and which channel it is
        self._tls_pending: Any = None  # TLS: its socket's count of decrypted, unread bytes
        self._channel = 0
        self._synced_at = float("-inf")  # monotonic time the last answered barrier was sent
        self._sync_sent_at = float("-inf")  # and the last one, answered or not
        self._replies: deque[tuple[str, Any]] = deque()  # what the unread replies answer
        self._down_until = 0.0
        self._seq = 0  # invalidations applied so far
        # A fill whose token is older than this could have missed an invalidation.
        self._fills_from = 0
        self._forgot: dict[str, int] = {}  # key -> _seq when last invalidated (recent ones)
        self._invalidation_prefix = backend.make_key(INVALIDATION_PREFIX).encode()
        self._epoch_key = backend.make_key(EPOCH_KEY).encode()

    # --- reads ---------------------------------------------------------------------------

    def get(
        self, key: str, windows: Sequence[Window], peek: Window
    ) -> tuple[Kept | None, int | None]:
        """What is kept for ``key`` if it can be served from here, with the request
        admitted by the local rate-limit counts, else None and a token: ask Redis (which
        counts the request), then ``put`` what it answered with that token (None: nothing
        will be kept)."""
        # The poll is a system call, which lets other threads run: made before taking the
        # lock, so they do not queue on it meanwhile. A push arriving after it is
        # concurrent with this check: either answer is right.
        channel, fd = self._channel, self._fd
        quiet = fd is not None and not _readable(fd)
        with self._lock:
            if not self._ready(quiet=quiet and channel == self._channel):
                return None, None
            found = self._entries.get(key)
            if found is not None and time.time() >= found[_EXPIRES]:
                del self._entries[key]
                found = None
            token = self._seq
        if found is None or not self.counts.admit(windows, peek):
            return None, token
        return Kept._make(found), None

    def put(self, key: str, data: dict[str, Any], token: int | None) -> None:
        """Keep facts read from Redis (or the database) after ``get`` returned ``token``;
        ``data["rendered"]``, when there, is the plain answer (body, true until)."""
        if token is None:
            return
        expires = time.time() + self._ttl
        cached_until = data.get("cached_until")
        if cached_until is not None:
            expires = min(expires, cached_until)
        kept = (pickle.dumps(data, pickle.HIGHEST_PROTOCOL), data.get("rendered"), expires)
        with self._lock:
            ready = self._ready()
            if ready and self._fills_from <= token and self._forgot.get(key, 0) <= token:
                if len(self._entries) >= self._size:
                    del self._entries[next(iter(self._entries))]
                self._entries[key] = kept

    def __len__(self) -> int:
        return len(self._entries)

    # --- the invalidation channel (called with the lock held) ----------------------------

    def _ready(self, *, quiet: bool = False) -> bool:
        """Whether entries may be served now: the channel is up, what waits on it is
        applied, and a barrier sent at most one sync interval ago has come back. ``quiet``:
        the caller has just polled the socket and found nothing on it.

        Half-way through the interval a new barrier is sent (with the flush of the locally
        counted events) and nobody waits for it: whichever request next finds its reply on
        the socket applies it. Only when no recent barrier has come back (the process was
        idle, or Redis is slow) does a request wait, for one sent there and then."""
        if cache_unavailable():
            self._drop("the cache is down")
            return False
        now = time.monotonic()
        try:
            if self._conn is None:
                if now < self._down_until:
                    return False
                self._connect()
            self._apply_pushes(quiet)
            if now - self._synced_at <= self._sync_interval:
                if not self._replies and now - self._sync_sent_at >= self._sync_interval / 2:
                    self._send_sync(now)
                return True
            self._send_sync(now)
            while self._replies:  # wait for it: read up to its PONG
                self._read_one()
        except Exception:
            self._drop("the invalidation channel failed")
            return False
        return now - self._synced_at <= self._sync_interval

    def _send_sync(self, now: float) -> None:
        """Send a barrier (``PING``) and the flush of the locally counted rate-limit events
        (one script call, counters read back), in one write; their replies are applied
        when read (``_read_one``)."""
        commands: list[list[bytes]] = []
        windows, amounts = self.counts.flush_plan()
        if windows:
            commands.append(
                count_and_read_command(
                    self._backend, windows, amounts=amounts, by_sha=False, unlimited=True
                )
            )
            self._replies.append(("flush", windows))
        commands.append([b"PING"])
        self._replies.append(("pong", now))
        self._conn.send_packed_command([resp_pack(commands)], check_health=False)
        self._sync_sent_at = now

    def _read_one(self) -> None:
        """Read one message from the channel: a push (applied by ``_invalidated``) or the
        reply of the oldest command still unanswered."""
        reply = self._conn.read_response(push_request=True)
        if reply is None:  # a push
            return
        kind, what = self._replies.popleft()
        if kind == "pong":
            self._synced_at = max(self._synced_at, what)
        else:
            self.counts.flushed(what, reply[1:])

    def _connect(self) -> None:
        pool = self._backend.client.get_client(write=True).connection_pool
        # Same address, database, credentials and timeouts as the cache's own connections;
        # RESP3 (pushes) whatever parser those use.
        kwargs = {**pool.connection_kwargs, "protocol": 3, "parser_class": _RESP3Parser}
        conn = pool.connection_class(**kwargs)
        conn.connect()
        conn._parser.set_invalidation_push_handler(self._invalidated)
        conn.send_command(
            "CLIENT",
            "TRACKING",
            "ON",
            "BCAST",
            "PREFIX",
            self._invalidation_prefix,
            "PREFIX",
            self._epoch_key,
            check_health=False,
        )
        conn.read_response()
        self._fd = conn._sock.fileno()
        self._tls_pending = getattr(conn._sock, "pending", None)
        self._channel += 1
        self._conn = conn
        self._forget_all()  # changes made while we were not listening are unknown

    def _apply_pushes(self, quiet: bool = False) -> None:
        """Apply everything waiting in the parser's buffer or on the socket (one ``poll``
        system call when there is nothing; redis-py's ``can_read`` costs several)."""
        conn, fd, pending = self._conn, self._fd, self._tls_pending
        assert fd is not None  # noqa: S101 (called with the channel open)
        while True:
            buffer = conn._parser._buffer
            if not (
                (buffer is not None and buffer.unread_bytes())
                or (not quiet and _readable(fd))
                or (pending is not None and pending())
            ):
                return
            self._read_one()
            quiet = False

    def _invalidated(self, message: list[Any]) -> None:
        """An invalidation push: the keys whose value changed, or None after a flush."""
        keys = message[1] if len(message) > 1 else None
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
        self._entries.pop(key, None)
        self._forgot[key] = self._seq
        if len(self._forgot) > _FORGOT_KEPT:  # bounded: refuse every fill in flight instead
            self._fills_from = self._seq
            self._forgot.clear()

    def _forget_all(self) -> None:
        self._seq += 1
        self._fills_from = self._seq
        self._forgot.clear()
        self._entries.clear()

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
        self._fd = self._tls_pending = None
        self._channel += 1
        self._replies.clear()
        self._synced_at = self._sync_sent_at = float("-inf")
        self._forget_all()

    def close(self) -> None:
        with self._lock:
            self._disconnect()
            self.counts.clear()


def _readable(fd: int) -> bool:
    """Whether the socket has data (or an error) waiting: one ``poll`` system call, on a
    poll object of this call's own (one object cannot be polled by two threads)."""
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(0))


# --- the process's instance ----------------------------------------------------------------

_instance: NearCache | None = None
_instance_lock = threading.Lock()


def near_cache() -> NearCache | None:
    """This process's near cache; None when it is off (``CHECK_NEAR_CACHE``) or the cache is
    not Redis (the embedded mode's cache is in-process already)."""
    global _instance
    if _instance is not None:
        return _instance
    knobs = settings.LICENSE_SERVICE
    if not knobs["CHECK_NEAR_CACHE"]:
        return None
    backend = redis_cache(caches["default"])
    if backend is None:
        return None
    with _instance_lock:
        if _instance is None:
            _instance = NearCache(
                backend,
                sync=knobs["CHECK_NEAR_CACHE_SYNC"],
                ttl=knobs["CHECK_NEAR_CACHE_TTL"],
                size=knobs["CHECK_NEAR_CACHE_SIZE"],
            )
    return _instance


def near_cache_reset() -> None:
    """Drop this process's near cache (tests; settings changed). The next call makes one."""
    global _instance
    with _instance_lock:
        if _instance is not None:
            _instance.close()
        _instance = None


def _forked() -> None:
    global _instance
    _instance = None  # the parent's socket and entries are not the child's


os.register_at_fork(after_in_child=_forked)
