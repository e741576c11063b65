"""The cache circuit breaker.

The cache is an optimisation, never a dependency: if it cannot be reached, callers fail
open (the request is allowed, a warning logged) and for ``CACHE_RETRY_SECONDS`` this
process stops asking it, so a dead Redis costs one socket timeout, not one per cache call.
"""

from __future__ import annotations

import logging
import time

logger = logging.getLogger(__name__)

CACHE_RETRY_SECONDS = 5.0

_cache_down_until = 0.0


def cache_unavailable() -> bool:
    """True while this process treats the cache as down (after a failed call)."""
    return time.monotonic() < _cache_down_until


def cache_failed(what: str) -> None:
    """Record a failed cache call: skip the cache for a few seconds, fail open."""
    global _cache_down_until  # noqa: PLW0603 (one breaker per process, read by every cache call)
    if not cache_unavailable():
        logger.warning("cache unreachable during %s; failing open", what)
    _cache_down_until = time.monotonic() + CACHE_RETRY_SECONDS


def cache_breaker_reset() -> None:
    """Forget a recorded failure (tests; a cache that is known to be back)."""
    global _cache_down_until  # noqa: PLW0603 (the same breaker)
    _cache_down_until = 0.0
