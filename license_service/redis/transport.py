"""One way to send commands to the cache's Redis in one round trip.

Everything goes through django-redis's client (``backend.client.get_client()``) and its
connection pool (its ``max_connections``, health checks and fork handling), with redis-py's
public API: ``pipeline(transaction=False)`` for a batch of commands, ``Script`` for a Lua
script (it retries once with ``SCRIPT LOAD`` on NOSCRIPT).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.core.cache.backends.base import BaseCache
from django_redis.cache import RedisCache
from redis import Redis
from redis.commands.core import Script


def redis_cache(backend: BaseCache) -> RedisCache | None:
    """The backend if it is django-redis (its raw client can run scripts), else None."""
    return backend if isinstance(backend, RedisCache) else None


def redis_client(backend: RedisCache) -> Redis:
    """The pooled redis-py client of a django-redis backend (its primary)."""
    return backend.client.get_client(write=True)


def redis_pipeline(redis: Redis, commands: Sequence[Sequence[bytes]]) -> list[Any]:
    """The replies of ``commands``, sent in one round trip (a pipeline, not a transaction);
    raises on any error."""
    pipe = redis.pipeline(transaction=False)
    for command in commands:
        pipe.execute_command(*command)
    return pipe.execute()


def redis_script(script: Script, keys: Sequence[bytes], args: Sequence[bytes]) -> Any:
    """The reply of one call of a script made by ``register_script`` (one round trip; two
    the first time on a server)."""
    return script(keys=keys, args=args)
