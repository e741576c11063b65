"""The check's cache keys, and their invalidation (read first: every other room of the
check names these keys).

The check answer is cached per license key (all its entitlements), as one entry holding
the facts (or None for an unknown key) tagged with the key's *generation* and the cache's
*epoch* as they were before the database was read. An entry is served only while both
tags are still current (``check_entry_fresh``), so:

- Every service that can change an answer sends ``licensing.signals.check_answer_changed``
  inside its transaction (the activations services call ``check_cache_forget_on_commit``
  directly); ``check_answer_changed_received`` (connected in ``ActivationsConfig.ready``)
  defers ``check_cache_forget`` to the commit. After commit, ``check_cache_forget`` gives
  the key a new generation (and drops its entry). A check that read the database before
  the commit and stores its answer after the invalidation ran stores it under the old
  generation: never served.
- The same invalidation writes the key's *invalidation key*, which nothing else writes:
  every process's near cache (``activations.check.near``) is told of it by Redis, and of
  nothing a reader does.
- If that invalidation cannot reach the cache, the process remembers it, and its next
  successful cache contact gives the whole cache a new epoch: every entry written before
  is dead, whichever key it belongs to (a Redis that comes back with its data after a
  network blip must not serve what changed meanwhile).

Generations and epochs are ``new_stamp()`` values (time in nanoseconds and random bits),
never counters: a counter whose key was evicted starts again at 1 and could make an old
entry current again; a stamp is never reused. Readers never tag with a missing value
either: a reader that finds no generation (or epoch) writes a fresh one, atomically with
its read (``license_service.redis.scripts.Stamp``), so an evicted generation only costs a
miss. A generation lives as long as the entries that may carry it (it is refreshed when
an entry is stored).

Cache errors are swallowed: Redis being down must not fail a write.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from typing import Any

from django.conf import settings
from django.db import transaction

from license_service.redis.breaker import cache_breaker_reset, cache_failed, cache_unavailable
from license_service.redis.scripts import Delete, Operation, Touch, Write, cache_backend

logger = logging.getLogger(__name__)

CHECK_PREFIX = "check:v5:"  # v5: lean facts again (the EDD catalogue is its own entry)
GENERATION_PREFIX = "check:gen:v2:"
EPOCH_KEY = "check:epoch:v2"
# Written only by invalidations (never by readers): what near caches listen to
# (activations.check.near), so that cache fills push nothing.
INVALIDATION_PREFIX = "check:inv:v2:"

# A generation outlives the entries tagged with it by this much (seconds).
GENERATION_MARGIN = 60


def check_cache_key(key: str) -> str:
    return CHECK_PREFIX + key


def check_generation_key(key: str) -> str:
    return GENERATION_PREFIX + key


def check_invalidation_key(key: str) -> str:
    return INVALIDATION_PREFIX + key


def generation_timeout() -> int:
    knobs = settings.LICENSE_SERVICE
    timeout: int = max(knobs["CHECK_CACHE_TTL"], knobs["CHECK_NEGATIVE_CACHE_TTL"])
    return timeout + GENERATION_MARGIN


def new_stamp() -> int:
    """A value no generation or epoch ever had: nanoseconds since 1970, then 16 random bits
    (two processes in the same nanosecond). Unique, not secret: the process's PRNG (which
    Python reseeds in a forked child) spares every check a system call."""
    return (time.time_ns() << 16) | random.getrandbits(16)


def check_entry(data: Any, *, generation: int, epoch: int) -> tuple[int, int, Any]:
    """What is stored: the facts (None: unknown key) with the tags read before loading them."""
    return (generation, epoch, data)


def check_entry_fresh(entry: Any, *, generation: Any, epoch: Any) -> bool:
    """Whether a cached value is an entry written under this generation and epoch."""
    return (
        type(entry) is tuple
        and len(entry) == 3  # noqa: PLR2004 (check_entry's three fields, just above)
        and entry[0] == generation
        and entry[1] == epoch
        and generation is not None
        and epoch is not None
    )


# --- lost invalidations --------------------------------------------------------------------

# Invalidations that could not reach the cache (counted, so a bump that raced with a new
# loss does not clear it); the epoch is bumped at the next successful contact.
_lock = threading.Lock()
_lost = 0
_repaired = 0


def epoch_bump_pending() -> int:
    """0, or a token to hand to ``epoch_bumped`` once a new epoch has been written."""
    return _lost if _lost != _repaired else 0


def epoch_bumped(token: int) -> None:
    """The epoch was bumped after every loss counted up to ``token``."""
    global _repaired  # noqa: PLW0603 (per-process counts; read without the lock)
    with _lock:
        _repaired = max(_repaired, token)


def _invalidation_lost() -> None:
    global _lost  # noqa: PLW0603 (the same)
    with _lock:
        _lost += 1


# --- invalidation --------------------------------------------------------------------------


def check_cache_forget(key: str) -> None:
    """A new generation for ``key`` (its cached answer is dead) and its entry dropped; and
    a new epoch if an earlier invalidation was lost. Never raises.

    Tried even while this process's circuit breaker skips the cache for reads: another
    process may already be reading it again (its breaker closed first), and an
    invalidation skipped here would let it serve the old answer until this process's
    breaker closes. A write costs at most one socket timeout while Redis hangs; when the
    invalidation goes through, the breaker closes."""
    was_down = cache_unavailable()
    pending = epoch_bump_pending()
    generation_key, entry_key = check_generation_key(key), check_cache_key(key)
    stamp, timeout = new_stamp(), generation_timeout()
    operations: list[Operation] = [
        Write(generation_key, stamp, timeout),
        Delete(entry_key),
        # Pushed to every near cache; it expires with the generation.
        Write(check_invalidation_key(key), stamp, timeout),
    ]
    if pending:
        operations.append(Write(EPOCH_KEY, stamp, None))
    try:
        # The barrier: one more round trip before the write answers its client, by when
        # Redis has written the invalidation pushes to the near caches.
        cache_backend().write(operations, barrier=True)
    except Exception:  # the cache is an optimisation; never fail a committed write
        _invalidation_lost()
        cache_failed("check cache invalidation")
        logger.warning("check cache invalidation failed", exc_info=True)
        return
    if pending:
        epoch_bumped(pending)
    if was_down:
        cache_breaker_reset()  # Redis answered


def check_cache_forget_all() -> None:
    """A new epoch: every cached answer is dead. For a change that moves the answers of
    more keys than are worth listing (a product's ``heartbeat_seconds``: which seats are
    dead changes on every license of it). Rare by nature. Never raises; a lost bump is
    retried at the next successful contact, as a lost invalidation is."""
    try:
        cache_backend().write([Write(EPOCH_KEY, new_stamp(), None)], barrier=True)
    except Exception:
        _invalidation_lost()
        cache_failed("check cache epoch bump")
        logger.warning("check cache epoch bump failed", exc_info=True)


def product_heartbeat_changed_received(sender: Any, **kwargs: Any) -> None:
    """The receiver of ``brands.limits.product_heartbeat_changed``."""
    transaction.on_commit(check_cache_forget_all)


def check_cache_forget_on_commit(key: str) -> None:
    transaction.on_commit(lambda: check_cache_forget(key))


def check_answer_changed_received(sender: Any, *, key: str, **kwargs: Any) -> None:
    """The receiver of ``licensing.signals.check_answer_changed``."""
    check_cache_forget_on_commit(key)


def check_cache_store(key: str, entry: tuple[int, int, Any], *, timeout: int) -> None:
    """Store an entry and keep its generation alive at least as long. Never raises."""
    try:
        cache_backend().write(
            [
                Write(check_cache_key(key), entry, timeout),
                Touch(check_generation_key(key), generation_timeout()),
            ],
            wait=False,  # nobody waits for a cache fill
        )
    except Exception:
        cache_failed("check cache write")
