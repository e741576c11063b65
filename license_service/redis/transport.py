"""One way to send commands to the cache's Redis in one round trip.

Every command goes through django-redis's client (``backend.client.get_client()``), on a
connection borrowed from its pool (its ``max_connections``, address, credentials, TLS and
socket timeouts) with redis-py's public ``ConnectionPool`` and ``Connection`` methods only:
``get_connection``, ``send_packed_command``, ``read_response``, ``disconnect``, ``release``.

Four things are this module's own, each measured (bench/MEASUREMENTS.md,
scripts/measure_check_transport.py, ``python -m bench.profile``):

- Not ``Redis.pipeline()`` nor ``Script.__call__``: on redis-py 7.4.1 their generic path
  (retry wrapper, argument encoding, response callbacks, event hooks) costs about 2.5 times
  a round trip, and the check's Redis hit and miss pay it on every request. A Lua script
  keeps ``register_script``'s ``Script`` (its SHA-1 and text); a server that forgot it
  (NOSCRIPT, after a restart) is sent ``SCRIPT LOAD`` and the call made again, as
  ``Script.__call__`` does.
- Each thread keeps the connection it borrowed (given back to the pool when the thread
  ends, or when the cache's pool changes): borrowing and returning one per call (the pool's
  lock and its poll of the connection) cost about a third of a miss's Redis time. A
  connection found closed (Redis restarted, the client killed) is made again and the
  commands sent again, once; they may then run twice (a counter counts one more).
- A cache fill is sent without waiting for its reply (``redis_send``): read, and dropped,
  before the thread's next call.
- Commands are packed by ``resp_pack`` (the RESP wire format: arrays of bulk strings),
  not ``Connection.pack_commands``, whose encoder costs more than the rest of the call.
"""

from __future__ import annotations

import contextlib
import os
import threading
import weakref
from collections.abc import Sequence
from typing import Any

from django.core.cache.backends.base import BaseCache
from django_redis.cache import RedisCache
from redis import Redis
from redis.commands.core import Script
from redis.connection import ConnectionPool
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, ResponseError


def redis_cache(backend: BaseCache) -> RedisCache | None:
    """The backend if it is django-redis (its raw client can run scripts), else None."""
    return backend if isinstance(backend, RedisCache) else None


def redis_client(backend: RedisCache) -> Redis:
    """The pooled redis-py client of a django-redis backend (its primary)."""
    client: Redis = backend.client.get_client(write=True)
    return client


def resp_pack(commands: Sequence[Sequence[bytes | str]]) -> bytes:
    """Commands in Redis's wire format (RESP arrays of bulk strings), as one write."""
    out = bytearray()
    for command in commands:
        out += b"*%d\r\n" % len(command)
        for part in command:
            raw = part.encode() if isinstance(part, str) else part
            out += b"$%d\r\n%b\r\n" % (len(raw), raw)
    return bytes(out)


class _Borrowed:
    """A thread's connection, borrowed from ``pool`` in process ``pid``, and how many
    replies of commands sent without waiting it has yet to read."""

    __slots__ = ("connection", "given_back", "pid", "pool", "unread")

    def __init__(self, pool: ConnectionPool) -> None:
        self.pool = pool
        self.pid = os.getpid()
        self.connection: Any = pool.get_connection()
        self.unread = 0
        # Given back when the thread ends (its Thread object is collected).
        self.given_back = weakref.finalize(
            threading.current_thread(), pool.release, self.connection
        )

    def give_back(self) -> None:
        self.given_back()  # runs pool.release once, and never again at thread end

    def round_trip(self, packed: bytes, replies: int, *, wait: bool) -> list[Any]:
        """Send ``packed`` (``replies`` commands) and read their replies, or leave them to
        be read (and dropped) before the next call (``wait=False``). The connection is
        closed on any error but error replies, and made again at the next call."""
        connection = self.connection
        try:
            while self.unread:  # the replies of writes nobody waited for
                self.unread -= 1
                with contextlib.suppress(ResponseError):
                    connection.read_response()
            connection.send_packed_command([packed], check_health=False)
            if not wait:
                self.unread = replies
                return []
            read: list[Any] = []
            error: ResponseError | None = None
            for _ in range(replies):
                try:
                    read.append(connection.read_response())
                except ResponseError as exc:  # the connection is still in step
                    error = error or exc
                    read.append(exc)
        except BaseException:
            self.unread = 0
            connection.disconnect()
            raise
        if error is not None:
            raise error
        return read


_local = threading.local()


def _borrowed(redis: Redis) -> _Borrowed:
    """This thread's connection to ``redis``'s server, borrowed from its pool."""
    pool = redis.connection_pool
    held: _Borrowed | None = getattr(_local, "held", None)
    if held is None or held.pool is not pool or held.pid != os.getpid():
        if held is not None and held.pid == os.getpid():
            _local.held = None  # given back: never used again, even if borrowing fails
            held.give_back()  # the cache's pool changed (settings, tests)
        held = _Borrowed(pool)  # after a fork, the parent's is not ours: never used again
        _local.held = held
    return held


def redis_pipeline(redis: Redis, commands: Sequence[Sequence[bytes | str]]) -> list[Any]:
    """The replies of ``commands``, sent in one write and read in one round trip (a
    pipeline, not a transaction) on this thread's connection; raises the first error reply
    after reading them all, or a connection error (the connection is then closed, and made
    again at the next call)."""
    return _send(redis, commands, wait=True)


def redis_send(redis: Redis, commands: Sequence[Sequence[bytes | str]]) -> None:
    """Send ``commands`` without waiting for their replies, for writes whose outcome
    changes nothing for the caller (a cache fill): the replies are read, and dropped,
    before this thread's next call, by when they have long arrived."""
    _send(redis, commands, wait=False)


def _send(redis: Redis, commands: Sequence[Sequence[bytes | str]], *, wait: bool) -> list[Any]:
    packed = resp_pack(commands)
    held = _borrowed(redis)
    try:
        return held.round_trip(packed, len(commands), wait=wait)
    except RedisConnectionError:  # closed since its last use: once more, on a new one
        return held.round_trip(packed, len(commands), wait=wait)


def redis_script(script: Script, keys: Sequence[bytes], args: Sequence[bytes]) -> Any:
    """The reply of one call of a script made by ``register_script`` (one round trip; two
    more the first time on a server)."""
    redis = script.registered_client
    call: list[bytes | str] = [b"EVALSHA", script.sha, b"%d" % len(keys), *keys, *args]
    try:
        return redis_pipeline(redis, [call])[0]
    except NoScriptError:  # first call on this server, or after a restart
        redis.script_load(script.script)  # the same text: the same SHA-1
        return redis_pipeline(redis, [call])[0]
