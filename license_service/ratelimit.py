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
(``license_service.redis.breaker``). The product check counts its windows together with
its cache read in one round trip (``license_service.redis.scripts``).
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Final, NamedTuple

from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured

from license_service.errors import Throttled
from license_service.redis.breaker import cache_failed, cache_unavailable

_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


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
ENDS: Final = 4

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
    if kept is not None and kept[_STARTS] <= now < kept[ENDS]:
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
    _recent_windows[recent] = tuple(window)  # type: ignore[assignment]  # tuple() loses the fields' types
    return window


def rate_limit_hit(scope: str, identity: str, rate: str) -> int | None:
    """Count one event of ``identity`` in ``scope``; raise Throttled once more than the
    rate's count were counted in the current window. The counter after it (None: the cache
    cannot count, fail open)."""
    window = rate_window(scope, identity, rate)
    count = _increment(window)
    if window.exceeded(count):
        raise Throttled(window.retry_after)
    return count


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
