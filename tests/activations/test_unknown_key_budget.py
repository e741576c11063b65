"""The unknown-key budget of an IP (SPEC §6): once spent, a key with an instance that is
active on it is still answered, everything else is 429 until the window ends, and no
refusal tells a real key from a guess. A refused request writes only its counter."""

from __future__ import annotations

import math
import re
import time
from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.core.cache import cache, caches
from django.utils import timezone
from rest_framework.test import APIClient

from activations.check import near as nearcache
from activations.check.keys import (
    EPOCH_KEY,
    check_cache_forget,
    check_cache_key,
    check_generation_key,
)
from activations.check.limits import IP_SCOPE, KEY_SCOPE, UNKNOWN_KEY_SCOPE
from activations.check.near import LocalCounts, near_cache
from activations.models import Activation
from brands.models import Product
from license_service import ratelimit
from license_service.ratelimit import Window, parse_rate, rate_window
from license_service.redis import transport
from license_service.settings import base as base_settings
from licensing.keys import RANDOM_SYMBOLS, generate_license_key
from tests.activations.conftest import body
from tests.factories import LicenseFactory

pytestmark = pytest.mark.django_db

IP = "203.0.113.7"
ACTIVE = "example.com"
BUDGET = 2

requires_redis = pytest.mark.skipif(
    transport.redis_cache(caches["default"]) is None, reason="needs Redis (REDIS_URL)"
)


@pytest.fixture
def spent(settings: Any, key: str) -> APIClient:
    """A client whose IP has spent its unknown-key budget, with ``ACTIVE`` active on
    ``key`` (activated before the budget was spent)."""
    settings.LICENSE_SERVICE = {
        **settings.LICENSE_SERVICE,
        "THROTTLE_UNKNOWN_KEY_IP": f"{BUDGET}/h",
    }
    # The tests' per-minute windows (the key's, a 1/m IP limit) must not roll over mid-test.
    start_well_inside_a_minute()
    client = APIClient(REMOTE_ADDR=IP)
    assert post(client, "activate", key, ACTIVE).status_code == 200
    assert get_check(client, key).status_code == 200
    for _ in range(BUDGET):
        assert get_check(client, unknown_key()).status_code == 404
    return client


def unknown_key() -> str:
    """A well-formed key (its checksum passes) that no license has."""
    return generate_license_key("RNKM")


def get_check(client: APIClient, key: str, **params: str) -> Any:
    return client.get(f"/api/v1/product/check/{key}", params)


def post_check(client: APIClient, key: str, **params: str) -> Any:
    return client.post("/api/v1/product/check", {"license_key": key, **params}, format="json")


def post(client: APIClient, action: str, key: str, instance: str) -> Any:
    return client.post(f"/api/v1/product/{action}", body(key, instance), format="json")


def assert_throttled(response: Any) -> None:
    assert response.status_code == 429, response.content
    assert response.json()["error"] == "throttled"
    # Until the window ends: anything up to the hour (the window is the clock's hour, so a
    # test run in its last minute sees a few seconds).
    assert 0 < int(response["Retry-After"]) <= 3600


def refusal(response: Any) -> tuple[int, dict[str, Any]]:
    """What a refused caller learns, but for the wait (``waited``), which ticks between two
    requests: status and body, the message's figures blanked."""
    answer = response.json()
    answer["details"] = {k: v for k, v in answer.get("details", {}).items() if k != "retry_after"}
    answer["message"] = re.sub(r"\d+", "N", answer["message"])
    return response.status_code, answer


def waited(response: Any) -> int:
    return int(response["Retry-After"])


# --- item 10: a key with its active instance is still answered --------------------------------


def test_over_budget_a_check_of_a_key_with_its_active_instance_is_answered(spent, key):
    response = get_check(spent, key, instance_identifier=ACTIVE)
    assert response.status_code == 200, response.content
    assert response.json()["entitlements"][0]["instance_active"] is True
    response = post_check(spent, key, instance_identifier=f"https://www.{ACTIVE}/")
    assert response.status_code == 200, response.content
    assert response.json()["entitlements"][0]["instance_active"] is True
    response = get_check(spent, key, instance_identifier=ACTIVE, product_slug="rankmath-pro")
    assert response.status_code == 200, response.content


def test_over_budget_a_dead_instance_is_answered_and_revived(
    spent, key, license_, product, django_capture_on_commit_callbacks
):
    Product.objects.filter(pk=product.pk).update(heartbeat_seconds=60)
    long_ago = timezone.now() - timedelta(minutes=5)
    Activation.objects.filter(license=license_).update(last_seen_at=long_ago)
    with django_capture_on_commit_callbacks(execute=True):
        response = get_check(spent, key, instance_identifier=ACTIVE)
    assert response.status_code == 200, response.content
    answer = response.json()["entitlements"][0]
    assert (answer["instance_active"], answer["seats_used"]) == (True, 1)
    assert Activation.objects.get(license=license_).last_seen_at > long_ago


def test_over_budget_a_reclaimed_instance_proves_nothing(spent, key, license_):
    Activation.objects.filter(license=license_).update(reclaimed_at=timezone.now())
    check_cache_forget(key)  # as the reclaim's commit does
    assert_throttled(get_check(spent, key, instance_identifier=ACTIVE))
    assert Activation.objects.get(license=license_).reclaimed_at is not None


def test_over_budget_activating_the_already_active_instance_again_is_answered(spent, key):
    response = post(spent, "activate", key, ACTIVE)
    assert response.status_code == 200, response.content
    assert response.json()["seats_used"] == 1


def test_over_budget_deactivating_an_active_instance_is_answered(
    spent, key, license_, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):  # the cache is invalidated
        response = post(spent, "deactivate", key, ACTIVE)
    assert response.status_code == 200, response.content
    assert not Activation.objects.filter(license=license_).exists()
    # Freed, the instance proves nothing any more.
    assert_throttled(get_check(spent, key, instance_identifier=ACTIVE))


def test_over_budget_a_valid_key_without_an_instance_is_throttled(spent, key):
    assert_throttled(get_check(spent, key))
    assert_throttled(post_check(spent, key))
    assert_throttled(get_check(spent, key, product_slug="rankmath-pro"))


def test_over_budget_an_unknown_key_is_throttled(spent):
    assert_throttled(get_check(spent, unknown_key()))
    assert_throttled(get_check(spent, unknown_key(), instance_identifier=ACTIVE))
    assert_throttled(post_check(spent, unknown_key(), instance_identifier=ACTIVE))
    assert_throttled(get_check(spent, "RNKM-NOT-A-KEY", instance_identifier=ACTIVE))
    assert_throttled(post(spent, "activate", unknown_key(), ACTIVE))
    assert_throttled(post(spent, "deactivate", unknown_key(), ACTIVE))


def test_over_budget_a_valid_key_with_an_instance_not_active_on_it_is_throttled(
    spent, key, license_
):
    other = "elsewhere.example.org"
    assert_throttled(get_check(spent, key, instance_identifier=other))
    assert_throttled(post_check(spent, key, instance_identifier=other))
    assert_throttled(post(spent, "activate", key, other))  # no new seat
    assert_throttled(post(spent, "deactivate", key, other))
    assert list(Activation.objects.filter(license=license_).values_list("instance_identifier")) == [
        (ACTIVE,)
    ]
    # Active on this key, but for a product the request does not name: no proof either.
    assert_throttled(get_check(spent, key, instance_identifier=ACTIVE, product_slug="nope"))


def test_over_budget_a_probe_does_not_tell_a_real_key_from_a_guess(spent, key):
    other = "elsewhere.example.org"
    guess = unknown_key()
    probes = [
        lambda k: get_check(spent, k, instance_identifier=other),
        lambda k: post_check(spent, k, instance_identifier=other),
        lambda k: get_check(spent, k),
        lambda k: post(spent, "activate", k, other),
        lambda k: post(spent, "deactivate", k, other),
    ]
    for probe in probes:
        real, guessed = probe(key), probe(guess)
        assert refusal(real) == refusal(guessed)
        assert abs(waited(real) - waited(guessed)) <= 1


def test_an_instance_active_on_a_key_answers_only_for_that_key(spent, key, product):
    another = LicenseFactory.create(product=product).license_key.key
    assert_throttled(get_check(spent, another, instance_identifier=ACTIVE))
    assert_throttled(post(spent, "activate", another, ACTIVE))


def test_another_ip_keeps_its_own_budget(spent, key):
    client = APIClient(REMOTE_ADDR="198.51.100.9")
    assert get_check(client, key).status_code == 200
    assert post(client, "activate", key, "second.example.net").status_code == 200


def test_default_unknown_key_budget_costs_a_typo_minutes_and_a_guesser_everything():
    """Shared hosts: a window of minutes, not an hour, and room for a few typos; a guesser
    at that rate for a century from one address has no chance worth the name of finding
    one of a billion keys (115 random bits)."""
    rate = parse_rate(base_settings.DEFAULT_THROTTLE_UNKNOWN_KEY_IP)
    assert rate.period <= 15 * 60
    assert rate.limit >= 10
    guesses_per_century = rate.limit * (100 * 365 * 86400 / rate.period)
    keys = 10**9
    assert math.log2(guesses_per_century * keys) < RANDOM_SYMBOLS * 5 - 40  # p < 2^-40


@pytest.mark.parametrize(
    ("value", "limit", "period"),
    [("30/10m", 30, 600), ("5/15s", 5, 15), ("100/2h", 100, 7200), ("7/ 3 min", 7, 180)],
)
def test_a_rate_may_name_a_window_of_several_units(value, limit, period):
    assert parse_rate(value) == ratelimit.Rate(limit, period)


def test_a_window_of_several_units_starts_at_a_multiple_of_its_length():
    window = rate_window("scope", "who", "30/10m", now=1_000_000.0)
    assert (window.starts, window.ends) == (999_600, 1_000_200)


# --- item 11: a refused request writes only its counter ---------------------------------------


def written(key: str) -> dict[str, Any]:
    """What the cache holds about this key."""
    knobs = django_settings.LICENSE_SERVICE
    return {
        "generation": cache.get(check_generation_key(key)),
        "entry": cache.get(check_cache_key(key)),
        "key counter": cache.get(rate_window(KEY_SCOPE, key, knobs["THROTTLE_PRODUCT_KEY"]).key),
    }


def test_over_budget_refused_requests_write_nothing_about_their_keys(spent, key):
    guesses = [unknown_key() for _ in range(10)]
    epoch = cache.get(EPOCH_KEY)
    for guess in guesses:
        assert_throttled(get_check(spent, guess))
        assert_throttled(post_check(spent, guess))
        assert_throttled(get_check(spent, guess, instance_identifier=ACTIVE))
        assert_throttled(post(spent, "activate", guess, ACTIVE))
    for guess in guesses:
        assert written(guess) == {"generation": None, "entry": None, "key counter": None}
    assert cache.get(EPOCH_KEY) == epoch


def test_requests_refused_by_the_ip_limit_write_nothing_about_their_keys(settings, key):
    settings.LICENSE_SERVICE = {**settings.LICENSE_SERVICE, "THROTTLE_PRODUCT_IP": "1/m"}
    client = APIClient(REMOTE_ADDR=IP)
    assert get_check(client, key).status_code == 200
    guesses = [unknown_key() for _ in range(10)]
    for guess in guesses:
        assert_ip_throttled(get_check(client, guess))
        assert_ip_throttled(post(client, "activate", guess, ACTIVE))
    for guess in guesses:
        assert written(guess) == {"generation": None, "entry": None, "key counter": None}


def start_well_inside_a_minute(margin: float = 10.0) -> None:
    """Wait for the next minute if fewer than ``margin`` seconds are left in this one: a
    per-minute window that rolls over mid-test lets one more request through."""
    left = 60 - time.time() % 60
    if left < margin:
        time.sleep(left + 0.05)


def assert_ip_throttled(response: Any) -> None:
    assert response.status_code == 429
    assert int(response["Retry-After"]) <= 60


def redis_keys() -> set[str]:
    """Every key under the cache's prefix in its Redis database."""
    backend = transport.redis_cache(caches["default"])
    assert backend is not None
    redis = backend.client.get_client(write=True)
    pattern = backend.make_key("*")
    return {name.decode() for name in redis.scan_iter(match=pattern, count=1000)}


@requires_redis
def test_a_hundred_throttled_requests_leave_no_new_redis_key_but_their_counters(spent, key):
    """On Redis (the Lua round trip of the check, the near cache on): 100 refused requests
    of every kind from an IP past its unknown-key budget, and 100 refused by the IP limit.
    Only counters of that IP may be new (a window that rolled over meanwhile)."""
    before = redis_keys()
    for n in range(25):
        guess = unknown_key()
        assert_throttled(get_check(spent, guess))
        assert_throttled(post_check(spent, guess, instance_identifier=ACTIVE))
        assert_throttled(get_check(spent, key, instance_identifier=f"site-{n}.example.org"))
        assert_throttled(post(spent, "activate", guess, ACTIVE))
    django_settings.LICENSE_SERVICE = {
        **django_settings.LICENSE_SERVICE,
        "THROTTLE_PRODUCT_IP": "1/m",
    }
    other = APIClient(REMOTE_ADDR="198.51.100.20")
    get_check(other, key)
    ip_counter = rate_window(IP_SCOPE, "198.51.100.20", "1/m").key
    for _ in range(100):
        assert_ip_throttled(get_check(other, unknown_key()))
    new = redis_keys() - before
    counters = re.compile(
        rf":rl:({IP_SCOPE}|{UNKNOWN_KEY_SCOPE}):\d+:({re.escape(IP)}|198\.51\.100\.20)$"
    )
    assert {name for name in new if not counters.search(name)} == set()
    assert len(new) <= 4, new
    assert any(name.endswith(ip_counter) for name in redis_keys())


@requires_redis
def test_over_budget_a_warm_near_cache_still_answers_the_active_instance_only(spent, key):
    near = near_cache()
    assert near is not None
    assert get_check(spent, key, instance_identifier=ACTIVE).status_code == 200
    assert get_check(spent, key, instance_identifier=ACTIVE).status_code == 200
    assert_throttled(get_check(spent, key))
    assert_throttled(get_check(spent, key, instance_identifier="elsewhere.example.org"))


def test_events_admitted_locally_wait_again_when_an_exact_call_stops_before_their_window():
    """The near cache's counts stay coherent with a call the unknown-key gate stopped: the
    key's counter was not reached, so the events admitted without a round trip are counted
    by the next flush (the refused request's own is not)."""
    counts = LocalCounts()
    ip, gate, key = (Window(name, 1000, 61, 0, 2**40) for name in ("ip", "gate", "key"))
    for _ in range(3):
        assert counts.admit([ip, key], gate)
    assert counts.take([ip, key]) == [4, 4]
    counts.learned([gate], [gate.limit + 1])  # the gate stopped the call
    counts.untaken([key], [4])
    assert not counts.admit([ip, key], gate)
    windows, amounts = counts.flush_plan()
    assert dict(zip([w.key for w in windows], amounts, strict=True)) == {"key": 3, "gate": 0}


@requires_redis
def test_a_cached_check_under_budget_is_still_one_round_trip_and_no_query(
    settings, key, round_trips, django_assert_num_queries
):
    """The gate of the unknown-key budget rides in the check's one script call."""
    settings.LICENSE_SERVICE = {**settings.LICENSE_SERVICE, "CHECK_NEAR_CACHE": False}
    nearcache.near_cache_reset()
    client = APIClient(REMOTE_ADDR=IP)
    assert get_check(client, key).status_code == 200  # fills the cache
    round_trips.clear()
    with django_assert_num_queries(0):
        assert get_check(client, key).status_code == 200
        assert post_check(client, key).status_code == 200
    assert round_trips == [1, 1]
