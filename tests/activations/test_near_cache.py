"""The near cache (activations.check.near): hot check answers served from the process with no
round trip, and never once a write has changed them. Needs Redis (REDIS_URL): it is the
invalidation channel; without it the near cache is off (checked first)."""

from __future__ import annotations

import gc
import os
import pickle
import subprocess
import sys
import time
from types import SimpleNamespace
from typing import Any

import pytest
import redis
from django.core.cache import caches
from django.core.cache.backends.base import default_key_func
from django.test import override_settings
from django_redis import get_redis_connection

from activations.check import near as nearcache
from activations.check.keys import check_cache_forget, check_cache_key
from activations.check.near import LocalCounts, near_cache
from audit.services import Actor
from license_service import metrics, ratelimit
from license_service.ratelimit import rate_window
from license_service.redis import breaker, internals, scripts, transport
from license_service.redis.transport import redis_cache
from licensing.models import License
from licensing.services import license_resume, license_suspend
from tests.activations.conftest import activate
from tests.conftest import DEAD_REDIS

pytestmark = pytest.mark.django_db

requires_redis = pytest.mark.skipif(
    transport.redis_cache(caches["default"]) is None, reason="needs Redis (REDIS_URL)"
)


def check(client: Any, key: str, **params: str) -> Any:
    return client.get(f"/api/v1/product/check/{key}", params)


def cache_results() -> dict[str, float]:
    return {
        result: metrics.LICENSE_CHECK_CACHE.labels(result)._value.get()  # noqa: SLF001 (the child itself: the public registry walk is too slow here)
        for result in metrics.CACHE_RESULTS
    }


def served_by(client: Any, key: str, **params: str) -> tuple[str, Any]:
    """(which tier answered, the response)."""
    before = cache_results()
    response = check(client, key, **params)
    after = cache_results()
    changed = [result for result in after if after[result] != before[result]]
    assert len(changed) == 1, changed
    return changed[0], response


def warm(client: Any, key: str) -> None:
    """Check until the answer comes from the near cache (the first fills Redis and, unless
    something was invalidated meanwhile, the near cache)."""
    for _ in range(5):
        if served_by(client, key)[0] == "near_hit":
            return
    raise AssertionError("never served from the near cache")


def fresh_near_cache() -> nearcache.NearCache:
    """This process's near cache, made anew (empty, its channel up)."""
    nearcache.near_cache_reset()
    cache = near_cache()
    assert cache is not None
    return cache


@pytest.fixture
def slow_sync(settings: Any) -> None:
    """No barrier falls due during a test (so round trips can be counted exactly)."""
    settings.LICENSE_SERVICE = {**settings.LICENSE_SERVICE, "CHECK_NEAR_CACHE_SYNC": 30.0}
    nearcache.near_cache_reset()


def test_near_cache_is_off_without_redis() -> None:
    with override_settings(
        CACHES={"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    ):
        nearcache.near_cache_reset()
        assert near_cache() is None


def test_near_cache_is_off_when_disabled(settings: Any) -> None:
    settings.LICENSE_SERVICE = {**settings.LICENSE_SERVICE, "CHECK_NEAR_CACHE": False}
    nearcache.near_cache_reset()
    assert near_cache() is None


@requires_redis
@pytest.mark.usefixtures("slow_sync")
def test_near_hit_costs_no_round_trip_and_no_query(
    client: Any, key: str, round_trips: list[int], django_assert_num_queries: Any
) -> None:
    warm(client, key)
    round_trips.clear()
    with django_assert_num_queries(0):
        for _ in range(10):
            tier, response = served_by(client, key)
            assert tier == "near_hit"
            assert response.status_code == 200
    assert round_trips == []
    assert response.json()["entitlements"][0]["status"] == "valid"


@requires_redis
@pytest.mark.usefixtures("slow_sync")
def test_a_miss_fills_the_near_cache(client: Any, key: str, round_trips: list[int]) -> None:
    check(client, key)  # the cache's epoch and the key's generation exist from now on
    caches["default"].delete(check_cache_key(key))  # as when Redis evicted the entry
    fresh_near_cache()
    assert served_by(client, key)[0] == "miss"
    round_trips.clear()
    assert served_by(client, key)[0] == "near_hit"
    assert round_trips == []


@requires_redis
def test_near_hit_answers_exactly_like_redis(client: Any, key: str) -> None:
    first = check(client, key)
    warm(client, key)
    tier, again = served_by(client, key)
    assert tier == "near_hit"
    assert again.content == first.content
    assert again["Content-Type"] == "application/json"


@requires_redis
def test_near_hit_with_product_and_instance_answers_like_redis(client: Any, key: str) -> None:
    params = {"product_slug": "rankmath-pro", "instance_identifier": "example.com"}
    activate(client, key, "example.com")
    first = check(client, key, **params)
    assert first.status_code == 200
    warm(client, key)  # kept by the plain check; the next answer is made from its facts
    tier, again = served_by(client, key, **params)
    assert tier == "near_hit"
    assert again.json() == first.json()
    assert again.json()["entitlements"][0]["instance_active"] is True


@requires_redis
def test_kept_answers_and_windows_are_invisible_to_the_garbage_collector(
    client: Any, key: str
) -> None:
    # A full collection walks every object the collector tracks, and stops every thread
    # meanwhile; a process keeps up to CHECK_NEAR_CACHE_MAX_BYTES of answers and a rate-limit
    # window per key and IP for its whole period.
    cache = fresh_near_cache()
    warm(client, key)
    gc.collect()
    gc.collect()  # a tuple is untracked once its members are
    assert cache._entries[key]  # noqa: SLF001 (white-box: what the near cache keeps)
    assert not gc.is_tracked(cache._entries[key])  # noqa: SLF001 (white-box: what the near cache keeps)
    windows = list(cache.counts._window.values())  # noqa: SLF001 (white-box: the local counts kept)
    assert windows
    assert not any(gc.is_tracked(window) for window in windows)
    recent = list(ratelimit._recent_windows.values())  # noqa: SLF001 (white-box: the windows kept)
    assert recent
    assert not any(gc.is_tracked(window) for window in recent)


@requires_redis
def test_a_write_is_seen_by_the_very_next_check(
    client: Any, key: str, license_: License, django_capture_on_commit_callbacks: Any
) -> None:
    """Suspend and resume, each checked right after its commit: 100 rounds, never stale.
    The invalidation reaches the near cache through Redis's push, not through this
    process's own write path."""

    def committed(service: Any) -> None:
        with django_capture_on_commit_callbacks(execute=True):
            service(license_=License.objects.get(pk=license_.pk), actor=Actor.system())

    warm(client, key)
    for _ in range(50):
        committed(license_suspend)
        assert check(client, key).json()["entitlements"][0]["status"] == "suspended"
        warm(client, key)
        committed(license_resume)
        assert check(client, key).json()["entitlements"][0]["status"] == "valid"
        warm(client, key)


@requires_redis
@pytest.mark.usefixtures("slow_sync")
def test_an_invalidation_from_another_process_empties_the_entry(client: Any, key: str) -> None:
    warm(client, key)
    # Another process's write: a new generation written on another connection.
    other = get_redis_connection("default")
    other.set(caches["default"].make_key(f"check:inv:v2:{key}"), b"1")
    assert served_by(client, key)[0] != "near_hit"


@requires_redis
@pytest.mark.usefixtures("slow_sync")
def test_a_flush_or_a_new_epoch_empties_the_near_cache(client: Any, key: str) -> None:
    warm(client, key)
    get_redis_connection("default").flushdb()
    assert served_by(client, key)[0] == "miss"
    warm(client, key)
    get_redis_connection("default").set(caches["default"].make_key("check:epoch:v2"), b"7")
    assert served_by(client, key)[0] == "miss"  # the epoch changed: Redis's entry is dead too


@requires_redis
@pytest.mark.usefixtures("slow_sync")
def test_a_dropped_channel_stops_the_near_cache(client: Any, key: str) -> None:
    warm(client, key)
    redis = get_redis_connection("default")
    # This process's channel only: tracking is server-wide, and killing every tracking
    # client would break the near caches of any other run sharing this Redis server.
    cache = near_cache()
    assert cache is not None
    assert cache.client_id is not None  # connected by the checks above
    tracking = [
        c for c in redis.client_list() if "t" in c["flags"] and c["id"] == str(cache.client_id)
    ]
    assert len(tracking) == 1, "the near cache listens for invalidations"
    redis.client_kill_filter(_id=tracking[0]["id"])
    tier, response = served_by(client, key)
    assert tier == "hit"  # from Redis, counted there
    assert response.status_code == 200
    assert len(near_cache() or []) == 0


@requires_redis
@pytest.mark.usefixtures("slow_sync")
def test_a_barrier_is_not_waited_for_and_is_applied_when_its_reply_is_read(
    client: Any, key: str
) -> None:
    warm(client, key)
    cache = near_cache()
    assert cache is not None
    synced = cache._synced_at  # noqa: SLF001 (white-box: the sync clock)
    cache._sync_sent_at = float("-inf")  # half the sync interval has passed  # noqa: SLF001 (white-box: the sync clock)
    assert served_by(client, key)[0] == "near_hit"  # the barrier went out with this check
    assert cache._pings  # its pong: nobody waited for it  # noqa: SLF001 (white-box: the sync clock)
    time.sleep(0.05)  # its reply arrives
    assert served_by(client, key)[0] == "near_hit"
    assert not cache._pings  # noqa: SLF001 (white-box: the sync clock)
    assert cache._synced_at > synced  # noqa: SLF001 (white-box: the sync clock)


@requires_redis
def test_a_cache_outage_stops_the_near_cache(client: Any, key: str) -> None:
    warm(client, key)
    breaker.cache_failed("test")
    assert served_by(client, key)[0] == "error"  # the database answered
    breaker.cache_breaker_reset()


@requires_redis
def test_an_invalidation_waits_one_more_pass_of_redis(
    key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Redis writes the pushes by the end of the pass that ran the invalidation, maybe
    after its reply: a second round trip makes sure they left before the write answers."""
    sent: list[list[bytes]] = []
    real = transport.redis_pipeline

    def recorded(redis: Any, commands: Any) -> Any:
        sent.append([command[0] for command in commands])
        return real(redis, commands)

    monkeypatch.setattr(scripts, "redis_pipeline", recorded)
    check_cache_forget(key)
    assert sent == [[b"SET", b"DEL", b"SET"], [b"PING"]]


@requires_redis
def test_an_invalidation_is_tried_while_the_breaker_is_open(client: Any, key: str) -> None:
    """Another process may be reading the cache again already: a write must not skip its
    invalidation because this process's breaker is still open."""
    warm(client, key)
    breaker.cache_failed("test")
    check_cache_forget(key)
    assert not breaker.cache_unavailable()  # Redis answered: the breaker closed
    assert served_by(client, key)[0] == "miss"  # the entry was dropped, here and in Redis


@requires_redis
def test_a_barrier_that_fails_stops_the_near_cache(
    client: Any, key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    warm(client, key)
    cache = near_cache()
    assert cache is not None
    monkeypatch.setattr(cache, "_synced_at", float("-inf"))  # a barrier is due

    def hung(*args: Any, **kwargs: Any) -> None:
        raise TimeoutError("Redis does not answer")

    monkeypatch.setattr(cache._conn, "send_packed_command", hung)  # noqa: SLF001 (a fault injected into its channel)
    assert served_by(client, key)[0] == "hit"
    assert len(cache) == 0


@requires_redis
@pytest.mark.usefixtures("slow_sync")
def test_an_answer_read_before_an_invalidation_is_not_kept(client: Any, key: str) -> None:
    check(client, key)  # the miss fills Redis
    cache = fresh_near_cache()
    token = cache.get(key, [], ratelimit.rate_window("x", "y", "1000/m"))[1]
    check_cache_forget(key)  # a write lands while the answer is on its way
    cache.put(key, {"license_key": key}, token)
    assert len(cache) == 0


@requires_redis
@pytest.mark.usefixtures("slow_sync")
def test_an_invalidation_of_another_key_does_not_refuse_a_fill(client: Any, key: str) -> None:
    check(client, key)
    cache = fresh_near_cache()
    token = cache.get(key, [], ratelimit.rate_window("x", "y", "1000/m"))[1]
    check_cache_forget("RNKM-SOME-OTHER-KEY")
    cache.put(key, {"license_key": key}, token)
    assert len(cache) == 1


@requires_redis
@pytest.mark.usefixtures("slow_sync")
def test_entry_lives_no_longer_than_the_redis_entry(client: Any, key: str) -> None:
    check(client, key)
    cache = fresh_near_cache()
    token = cache.get(key, [], ratelimit.rate_window("x", "y", "1000/m"))[1]
    cache.put(key, {"license_key": key, "cached_until": 0.0}, token)
    assert len(cache) == 1
    assert served_by(client, key)[0] == "hit"  # expired here: Redis answers


@requires_redis
@pytest.mark.usefixtures("slow_sync")
def test_key_limit_stays_exact_in_one_process(client: Any, key: str, settings: Any) -> None:
    settings.LICENSE_SERVICE = {**settings.LICENSE_SERVICE, "THROTTLE_PRODUCT_KEY": "40/m"}
    before = cache_results()["near_hit"]
    statuses = [check(client, key).status_code for _ in range(60)]
    assert statuses.count(200) == 40
    assert statuses[40:] == [429] * 20
    assert cache_results()["near_hit"] > before  # some of the 40 were admitted locally


@requires_redis
@pytest.mark.usefixtures("slow_sync")
def test_spent_unknown_key_budget_throttles_near_hits(client: Any, key: str, settings: Any) -> None:
    settings.LICENSE_SERVICE = {**settings.LICENSE_SERVICE, "THROTTLE_UNKNOWN_KEY_IP": "3/h"}
    warm(client, key)
    for _ in range(3):
        assert check(client, "RNKM-NOT-A-KEY").status_code == 404
    assert check(client, key).status_code == 429


@requires_redis
def test_locally_admitted_events_reach_the_shared_counter(
    client: Any, key: str, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = sum(cache_results().values())
    warm(client, key)
    for _ in range(5):
        assert served_by(client, key)[0] == "near_hit"
    cache = near_cache()
    assert cache is not None
    monkeypatch.setattr(cache, "_synced_at", float("-inf"))  # the next check syncs
    check(client, key)
    knobs = settings.LICENSE_SERVICE
    window = rate_window("product-key", key, knobs["THROTTLE_PRODUCT_KEY"])
    checks = sum(cache_results().values()) - before
    # Every check counted once, admitted locally or not (the last one's own event is
    # counted by its own round trip or waits for the next flush).
    assert caches["default"].get(window.key) in (checks, checks - 1)


# --- LocalCounts ---------------------------------------------------------------------------


def window(key: str, limit: int) -> ratelimit.Window:
    return ratelimit.Window(key=key, limit=limit, timeout=61, starts=0, ends=2**40)


def test_a_window_not_read_yet_counts_from_zero_until_the_next_flush() -> None:
    counts = LocalCounts()
    a, peek = window("a", 100), window("u", 20)
    assert sum(counts.admit([a], peek) for _ in range(10)) == 6  # the batch bound
    windows, amounts = counts.flush_plan()
    assert [w.key for w in windows] == ["a", "u"]
    assert amounts == [6, 0]
    counts.flushed(windows, [80, 0])  # other processes had counted 74 meanwhile
    assert not counts.admit([a], peek)


def test_a_window_counted_elsewhere_takes_exact_calls_until_read() -> None:
    counts = LocalCounts()
    a, peek = window("a", 100), window("u", 20)
    counts.learned([a, peek], [1, 0])
    counts.distrust(peek)
    assert not counts.admit([a], peek)
    counts.learned([peek], [3])
    assert counts.admit([a], peek)


def test_local_admission_stops_at_half_the_limit_and_at_the_batch() -> None:
    counts = LocalCounts()
    a, peek = window("a", 100), window("u", 20)
    counts.learned([a, peek], [40, 0])
    admitted = sum(counts.admit([a], peek) for _ in range(20))
    assert admitted == 6  # 100 // 16 waiting at most (and 40 + 6 stays below 50)
    assert counts.take([a]) == [7]  # the exact call counts them with its own
    counts.learned([a], [49])
    counts.settled([a], [7])  # that call is answered: its events are in the 49
    assert counts.admit([a], peek)  # the 50th event: half the limit
    assert not counts.admit([a], peek)


def test_spent_peek_window_is_never_admitted_locally() -> None:
    counts = LocalCounts()
    a, peek = window("a", 100), window("u", 20)
    counts.learned([a, peek], [0, 20])
    assert not counts.admit([a], peek)


def test_flush_counts_every_waiting_event_without_a_limit() -> None:
    counts = LocalCounts()
    a, b, peek = window("a", 1000), window("b", 1000), window("u", 20)
    counts.learned([a, b, peek], [1, 1, 0])
    for _ in range(3):
        assert counts.admit([a, b], peek)
    windows, amounts = counts.flush_plan()
    assert [w.key for w in windows] == ["a", "b", "u"]
    assert amounts == [3, 3, 0]
    backend = SimpleNamespace(key_func=default_key_func, key_prefix="ls", version=1)
    keys, args = scripts.count_and_read_call(backend, windows, amounts=amounts, unlimited=True)
    assert keys[0:3] == [b"ls:1:a", b"ls:1:b", b"ls:1:u"]
    limits = args[3::3][:3]  # (timeout, limit, amount) per window
    assert all(int(limit) > 10**12 for limit in limits)
    assert counts.flush_plan() == ([], [])
    counts.flushed(windows, [900, 4, 1])
    assert not counts.admit([a], peek)  # 900 known: past half


def test_a_flush_forgets_the_windows_that_have_ended_and_only_those(monkeypatch) -> None:
    clock = [1_000.0]
    monkeypatch.setattr(time, "time", lambda: clock[0])
    counts = LocalCounts()
    short = ratelimit.Window(key="short", limit=100, timeout=11, starts=1_000, ends=1_010)
    long = ratelimit.Window(key="long", limit=100, timeout=101, starts=1_000, ends=1_100)
    peek = ratelimit.Window(key="u", limit=20, timeout=1001, starts=1_000, ends=2_000)
    counts.learned([short, long, peek], [90, 90, 0])
    assert not counts.admit([short], peek)
    assert not counts.admit([long], peek)
    clock[0] += 20  # "short" has ended
    counts.flushed([], [])
    assert counts.admit([short], peek)  # forgotten: counts from 0 again
    assert not counts.admit([long], peek)
    clock[0] += 50  # nothing else has ended yet
    counts.flushed([], [])
    assert not counts.admit([long], peek)
    clock[0] += 50
    counts.flushed([], [])
    assert counts.admit([long], peek)


def test_settings_refuse_a_sync_interval_at_the_socket_timeout() -> None:
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "license_service.settings.local",
            "CHECK_NEAR_CACHE_SYNC": "0.25",
            "CACHE_SOCKET_TIMEOUT": "0.25",
        },
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert "CHECK_NEAR_CACHE_SYNC" in result.stderr


def test_dead_redis_leaves_the_near_cache_serving_nothing(client: Any, key: str) -> None:
    with override_settings(CACHES=DEAD_REDIS):
        nearcache.near_cache_reset()
        assert check(client, key).status_code == 200
        assert check(client, key).status_code == 200
        cache = near_cache()
        assert cache is None or len(cache) == 0
    breaker.cache_breaker_reset()
    nearcache.near_cache_reset()


# --- memory: a byte budget, and unknown keys --------------------------------------------------


@pytest.fixture
def small_near_cache(settings: Any) -> nearcache.NearCache:
    """A near cache with room for three entries of ``entry(...)``'s size, no barrier due."""
    size = nearcache.entry_size("K0", FACTS_PICKLED, RENDERED)
    settings.LICENSE_SERVICE = {
        **settings.LICENSE_SERVICE,
        "CHECK_NEAR_CACHE_SYNC": 30.0,
        "CHECK_NEAR_CACHE_MAX_BYTES": 3 * size + size // 2,
    }
    return fresh_near_cache()


RENDERED = (b'{"success": true}' * 10, None)
FACTS = {"license_key": "K0", "cached_until": 2.0**40}
FACTS_PICKLED = pickle.dumps(FACTS, pickle.HIGHEST_PROTOCOL)


def fill(cache: nearcache.NearCache, key: str) -> None:
    token = cache.get(key, [], ratelimit.rate_window("x", "y", "1000/m"))[1]
    cache.put(key, {**FACTS, "license_key": key[:2], "rendered": RENDERED}, token)


def accounted(cache: nearcache.NearCache) -> int:
    return sum(kept[nearcache._SIZE] for kept in cache._entries.values())  # noqa: SLF001 (white-box: what the near cache keeps)


@requires_redis
def test_the_near_cache_keeps_what_its_byte_budget_allows_oldest_out_first(
    small_near_cache: nearcache.NearCache,
) -> None:
    cache = small_near_cache
    for n in range(5):
        fill(cache, f"K{n}")
    assert list(cache._entries) == ["K2", "K3", "K4"]  # K0 and K1 were evicted  # noqa: SLF001 (white-box: what the near cache keeps)
    assert cache.kept_bytes == accounted(cache) <= cache._max_bytes  # noqa: SLF001 (white-box: its byte bound)
    size = nearcache.entry_size("K0", FACTS_PICKLED, RENDERED)
    assert cache.kept_bytes == 3 * size


@requires_redis
def test_the_body_is_kept_once(small_near_cache: nearcache.NearCache) -> None:
    fill(small_near_cache, "K0")
    facts, rendered, _, _ = small_near_cache._entries["K0"]  # noqa: SLF001 (white-box: what the near cache keeps)
    assert rendered == RENDERED
    assert RENDERED[0] not in facts  # not pickled a second time with the facts
    assert nearcache.Kept._make(small_near_cache._entries["K0"]).data()["rendered"] == RENDERED  # noqa: SLF001 (white-box: what the near cache keeps)


@requires_redis
def test_byte_accounting_stays_exact_after_invalidations_and_expiry(
    small_near_cache: nearcache.NearCache,
) -> None:
    cache = small_near_cache
    for n in range(3):
        fill(cache, f"K{n}")
    check_cache_forget("K1")  # its invalidation message is applied by the next read
    assert cache.get("K0", [], ratelimit.rate_window("x", "y", "1000/m"))[0] is not None
    assert list(cache._entries) == ["K0", "K2"]  # noqa: SLF001 (white-box: what the near cache keeps)
    assert cache.kept_bytes == accounted(cache)
    fill(cache, "K1")  # read again after the invalidation: kept
    assert cache.kept_bytes == accounted(cache)
    token = cache.get("K9", [], ratelimit.rate_window("x", "y", "1000/m"))[1]
    cache.put("K9", {**FACTS, "cached_until": 0.0}, token)  # kept, expired already
    assert cache.kept_bytes == accounted(cache)
    assert cache.get("K9", [], ratelimit.rate_window("x", "y", "1000/m"))[0] is None
    assert "K9" not in cache._entries  # noqa: SLF001 (white-box: what the near cache keeps)
    assert cache.kept_bytes == accounted(cache)
    get_redis_connection("default").set(caches["default"].make_key("check:epoch:v2"), b"8")
    cache.get("K0", [], ratelimit.rate_window("x", "y", "1000/m"))  # applies the epoch
    assert len(cache) == 0
    assert cache.kept_bytes == 0


@requires_redis
def test_an_entry_larger_than_the_budget_is_not_kept(settings: Any) -> None:
    settings.LICENSE_SERVICE = {**settings.LICENSE_SERVICE, "CHECK_NEAR_CACHE_MAX_BYTES": 100}
    cache = fresh_near_cache()
    fill(cache, "K0")
    assert len(cache) == 0
    assert cache.kept_bytes == 0


@requires_redis
@pytest.mark.usefixtures("slow_sync")
def test_an_unknown_key_answer_leaves_the_ips_known_keys_near_hits(client: Any, key: str) -> None:
    warm(client, key)
    for _ in range(3):
        assert check(client, "RNKM-NOT-A-KEY").status_code == 404
        tier, response = served_by(client, key)
        assert tier == "near_hit"  # the worker still trusts its local counts
        assert response.status_code == 200


@requires_redis
def test_a_failed_flush_fails_open(client: Any, key: str, monkeypatch: pytest.MonkeyPatch) -> None:
    warm(client, key)
    cache = near_cache()
    assert cache is not None
    assert served_by(client, key)[0] == "near_hit"  # an event waits to be flushed

    def down(*args: Any, **kwargs: Any) -> None:
        raise ConnectionError("Redis does not answer")

    monkeypatch.setattr(cache._backend, "count_and_read", down)  # noqa: SLF001 (a fault injected into its backend)
    cache._sync_sent_at = float("-inf")  # a barrier and a flush are due  # noqa: SLF001 (white-box: the sync clock)
    assert served_by(client, key)[0] == "near_hit"  # the request that flushed is answered
    assert breaker.cache_unavailable()  # the cache is skipped for a few seconds
    assert served_by(client, key)[0] == "error"  # the database answers meanwhile
    breaker.cache_breaker_reset()


def test_events_of_exact_calls_in_flight_hold_back_local_admission() -> None:
    """Exact calls taken but not answered yet are about to raise the counter: a burst
    admitted locally meanwhile must leave room for them (one process stays exact)."""
    counts = LocalCounts()
    a, peek = window("a", 6), window("u", 20)
    counts.learned([a, peek], [2, 0])
    taken = counts.take([a])  # an exact call on its way to Redis
    assert not counts.admit([a], peek)  # 2 counted + 1 in flight + 1 > 6 / 2
    counts.settled([a], taken)  # it failed (the cache was down): nothing was counted
    assert counts.admit([a], peek)  # 2 + 1 <= 6 / 2


def test_redis_py_is_the_version_its_internals_were_checked_against() -> None:
    """license_service/redis/internals.py reads a Connection's socket: an upgrade must
    re-check it (its docstring says how) before this pin moves."""
    assert redis.__version__ == internals.WRITTEN_FOR


@requires_redis
def test_the_channel_socket_is_polled_without_reading_it() -> None:
    """The descriptor ``internals.socket_fd`` gives is the connection's own: readable once
    a reply waits on it, and still readable after the poll (nothing was read)."""
    backend = redis_cache(caches["default"])
    assert backend is not None
    pool = backend.client.get_client(write=True).connection_pool
    connection = pool.connection_class(**pool.connection_kwargs)
    assert internals.socket_fd(connection) is None  # not connected yet
    connection.connect()
    try:
        fd = internals.socket_fd(connection)
        assert fd is not None
        assert not internals.readable(fd)
        connection.send_command("PING")
        deadline = time.monotonic() + 2
        while not internals.readable(fd) and time.monotonic() < deadline:
            time.sleep(0.001)
        assert internals.readable(fd)
        assert internals.readable(fd)  # the poll read nothing
        assert connection.read_response() in (b"PONG", "PONG")
    finally:
        connection.disconnect()
