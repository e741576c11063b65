"""Read replica routing (optional: only when ``DATABASE_REPLICA_URL`` is set).

Only product checks read from the replica: they are the bulk of the traffic, they are
read-only, and a cache miss there is the one read that can tolerate a little replication
lag. Everything else uses the primary:

- writes, and ``select_for_update`` (Django routes locking reads as writes);
- every read inside a transaction on the primary (it must see its own uncommitted rows);
- every read after the request's first write (read-your-writes: a check with
  ``instance_identifier`` refreshes ``last_seen_at`` and then reads on the primary);
- every request that is not marked as replica-safe.

``ReplicaReadsMiddleware`` marks requests to ``REPLICA_READ_PATHS`` (the product check);
code can mark a block explicitly with ``with replica_reads():``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connections
from django.http import HttpRequest, HttpResponseBase

PRIMARY = "default"
REPLICA = "replica"


@dataclass
class _ReplicaScope:
    wrote: bool = False
    used_replica: bool = False


_scope: ContextVar[_ReplicaScope | None] = ContextVar("replica_scope", default=None)


@contextmanager
def replica_reads() -> Iterator[_ReplicaScope]:
    """Reads in this block may go to the replica, until the block's first write."""
    scope = _ReplicaScope()
    token = _scope.set(scope)
    try:
        yield scope
    finally:
        _scope.reset(token)


def replica_was_used() -> bool:
    """Whether the current replica scope read from the replica. A cache filled from a
    replica read may be stale by the replication lag: cache it briefly."""
    scope = _scope.get()
    return scope is not None and scope.used_replica


class PrimaryReplicaRouter:
    """Installed by the settings only when a replica is configured."""

    def db_for_read(self, model: Any, **hints: Any) -> str:
        scope = _scope.get()
        if scope is None or scope.wrote or REPLICA not in connections:
            return PRIMARY
        if connections[PRIMARY].in_atomic_block:
            return PRIMARY
        scope.used_replica = True
        return REPLICA

    def db_for_write(self, model: Any, **hints: Any) -> str:
        scope = _scope.get()
        if scope is not None:
            scope.wrote = True
        return PRIMARY

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool:
        return True  # one data set, two copies

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool:
        return db == PRIMARY  # the replica receives the schema by replication


class ReplicaReadsMiddleware:
    """Marks product-check requests as replica-safe (a prefix test; nothing else)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]):
        self.get_response = get_response
        self.prefixes = tuple(settings.REPLICA_READ_PATHS)

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if request.path_info.startswith(self.prefixes):
            with replica_reads():
                return self.get_response(request)
        return self.get_response(request)
