"""Rate limits on an atomic cache counter (Redis ``INCR`` in production).

DRF's stock throttles read a list of timestamps, append and write it back, so concurrent
requests all see room. Here each event is one atomic increment of a fixed-window counter
(``cache.incr``, and ``cache.add`` to open a window): N concurrent events are counted N
times, so exactly ``limit`` of them pass in a window, across every process sharing the
cache. A fixed window lets up to twice the rate through across a window boundary; for
abuse protection that is the right trade for one round trip per event.

Rates are strings ``"<count>/<period>"``, period ``s``, ``m``, ``h`` or ``d`` (or a word
starting with one of those, as in DRF: ``"20/hour"``), read from settings at call time.

The cache is an optimisation, never a dependency: if it cannot be reached, limits fail open
(the request is allowed and a warning logged) and for ``CACHE_RETRY_SECONDS`` this process
stops asking it, so a dead Redis costs one socket timeout, not one per cache call.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured

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


@lru_cache(maxsize=64)
def parse_rate(value: str) -> Rate:
    """``"600/m"`` -> Rate(600, 60). Raises ImproperlyConfigured on anything else."""
    count, sep, period = value.strip().partition("/")
    unit = period.strip()[:1].lower()
    if not sep or not count.strip().isdigit() or unit not in _PERIODS:
        raise ImproperlyConfigured(f"Invalid rate {value!r}: use '<count>/<s|m|h|d>'.")
    return Rate(limit=int(count), period=_PERIODS[unit])


@dataclass(frozen=True, slots=True)
class Window:
    """The counter of one (scope, identity) in the current fixed window."""

    key: str
    limit: int
    timeout: int
    retry_after: int

    def exceeded(self, count: Any) -> bool:
        """Whether a counter value read from the cache is already past the limit."""
        return isinstance(count, int) and count > self.limit

    def reached(self, count: Any) -> bool:
        """Whether one more event would be past the limit."""
        return isinstance(count, int) and count >= self.limit


def rate_window(scope: str, identity: str, rate: str, *, now: float | None = None) -> Window:
    parsed = parse_rate(rate)
    now = time.time() if now is None else now
    index = int(now // parsed.period)
    resets_in = math.ceil((index + 1) * parsed.period - now)
    return Window(
        key=f"rl:{scope}:{index}:{identity}",
        limit=parsed.limit,
        timeout=parsed.period + 1,
        retry_after=max(1, resets_in),
    )


def rate_limit_hit(scope: str, identity: str, rate: str) -> None:
    """Count one event of ``identity`` in ``scope``; raise Throttled once more than the
    rate's count were counted in the current window."""
    window = rate_window(scope, identity, rate)
    count = _increment(window)
    if window.exceeded(count):
        raise Throttled(window.retry_after)


def rate_limit_peek(scope: str, identity: str, rate: str) -> None:
    """Raise Throttled if ``identity`` has used up its events in this window, without
    counting one (for limits that count only some outcomes, such as unknown keys)."""
    window = rate_window(scope, identity, rate)
    if window.reached(cache_get(window.key, "rate limit")):
        raise Throttled(window.retry_after)


def cache_get(key: str, what: str) -> Any:
    """``cache.get`` that fails open: None when the cache is down."""
    if cache_unavailable():
        return None
    try:
        return cache.get(key)
    except Exception:
        cache_failed(what)
        return None


def cache_get_many(keys: list[str], what: str) -> dict[str, Any]:
    """``cache.get_many`` that fails open: ``{}`` when the cache is down."""
    if cache_unavailable():
        return {}
    try:
        return cache.get_many(keys)
    except Exception:
        cache_failed(what)
        return {}


def _increment(window: Window) -> int | None:
    """The counter after this event, or None when the cache cannot count (fail open)."""
    if cache_unavailable():
        return None
    count: Any = None
    try:
        try:
            count = cache.incr(window.key)
        except ValueError:  # first event of the window
            added = cache.add(window.key, 1, timeout=window.timeout)
            if added is True:
                count = 1
            elif added is False:  # another request opened the window between our calls
                count = cache.incr(window.key)
    except ValueError:  # the window closed between add and incr: a new one starts
        return None
    except Exception:
        count = None
    if not isinstance(count, int):
        # django-redis with IGNORE_EXCEPTIONS answers None instead of raising.
        cache_failed("rate limit")
        return None
    return count
