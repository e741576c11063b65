"""One way to send commands to the cache's Redis in one round trip.

Every command goes through django-redis's client (``backend.client.get_client()``) on a
connection lent by its pool (its ``max_connections``, reconnection and fork handling), with
redis-py's public ``ConnectionPool`` and ``Connection`` methods only: ``get_connection``,
``pack_commands``, ``send_packed_command``, ``read_response``, ``disconnect``, ``release``.

Not ``Redis.pipeline()`` nor ``Script.__call__`` themselves, measured (bench/MEASUREMENTS.md,
scripts/measure_check_transport.py): on redis-py 7.4.1 their generic path (retry wrapper,
argument encoding, response callbacks, event hooks) costs about 2.5 times a round trip on
this machine (120 µs against 48-55 µs for the count-and-read), and the check's Redis hit
and miss pay it on every request. A Lua script keeps ``register_script``'s ``Script`` (its
SHA-1 and text); a server that forgot it (NOSCRIPT, after a restart) is sent
``SCRIPT LOAD`` and the call made again, as ``Script.__call__`` does.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.core.cache.backends.base import BaseCache
from django_redis.cache import RedisCache
from redis import Redis
from redis.commands.core import Script
from redis.exceptions import NoScriptError, ResponseError


def redis_cache(backend: BaseCache) -> RedisCache | None:
    """The backend if it is django-redis (its raw client can run scripts), else None."""
    return backend if isinstance(backend, RedisCache) else None


def redis_client(backend: RedisCache) -> Redis:
    """The pooled redis-py client of a django-redis backend (its primary)."""
    client: Redis = backend.client.get_client(write=True)  # django-redis is unannotated
    return client


def redis_pipeline(redis: Redis, commands: Sequence[Sequence[bytes | str]]) -> list[Any]:
    """The replies of ``commands``, sent in one write and read in one round trip (a
    pipeline, not a transaction) on a connection of the client's pool; raises the first
    error reply after reading them all, or a connection error (the connection is then
    dropped, and the pool makes a new one for its next user)."""
    pool = redis.connection_pool
    connection = pool.get_connection()
    try:
        packed = connection.pack_commands(commands)  # type: ignore[no-untyped-call]  # unannotated upstream
        connection.send_packed_command(packed, check_health=False)  # type: ignore[no-untyped-call]  # unannotated upstream
        replies: list[Any] = []
        error: ResponseError | None = None
        for _ in commands:
            try:
                replies.append(connection.read_response())  # type: ignore[no-untyped-call]  # unannotated upstream
            except ResponseError as exc:  # the connection is still in step
                error = error or exc
                replies.append(exc)
    except BaseException:
        connection.disconnect()  # type: ignore[no-untyped-call]  # unannotated upstream
        raise
    finally:
        pool.release(connection)
    if error is not None:
        raise error
    return replies


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
