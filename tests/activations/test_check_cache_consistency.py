"""The check cache never serves an answer that a committed write made stale: not when a
reader races the writer's invalidation, not when the invalidation could not reach the
cache, not when the cache evicted the bookkeeping keys. Runs on the in-process cache and,
with REDIS_URL, on Redis (the Lua round trip)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.core.cache import cache

from activations.check import facts as selectors
from activations.check import keys as check_cache
from activations.check.keys import (
    EPOCH_KEY,
    check_cache_forget,
    check_cache_key,
    check_generation_key,
)
from audit.services import Actor
from license_service.redis import breaker
from licensing.models import License
from licensing.services import license_suspend
from tests.activations.conftest import cache_broken
from tests.factories import LicenseFactory, LicenseKeyFactory

pytestmark = pytest.mark.django_db


def status_of(client, key: str) -> str:
    response = client.get(f"/api/v1/product/check/{key}")
    assert response.status_code == 200, response.content
    return response.json()["entitlements"][0]["status"]


def write_between_read_and_store(monkeypatch, write: Callable[[], None]) -> None:
    """The next check that misses runs ``write`` (a commit and its after-commit
    invalidation) right after reading the database and before storing what it read."""

    real_load = selectors.check_data_load

    def load_then_write(key: str) -> Any:
        data = real_load(key)
        monkeypatch.setattr(selectors, "check_data_load", real_load)
        write()
        return data

    monkeypatch.setattr(selectors, "check_data_load", load_then_write)


@pytest.fixture
def suspend(license_, django_capture_on_commit_callbacks) -> Callable[[], None]:
    """license_suspend as a request runs it: commit, then its on_commit invalidation."""

    def run() -> None:
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            license_suspend(license_=license_, actor=Actor.system())
        assert callbacks  # the invalidation ran, after the commit

    return run


# --- (a) a reader racing the invalidation --------------------------------------------------


def test_answer_read_before_a_write_and_stored_after_its_invalidation_is_never_served(
    client, key, suspend, monkeypatch
):
    write_between_read_and_store(monkeypatch, suspend)
    assert status_of(client, key) == "valid"  # this request read before the commit
    assert cache.get(check_cache_key(key))[2]["licenses"][0]["status"] == "valid"  # stored
    assert status_of(client, key) == "suspended"
    assert status_of(client, key) == "suspended"


def test_negative_answer_stored_after_the_key_was_provisioned_is_never_served(
    client, product, monkeypatch
):
    license_key = LicenseKeyFactory.build(brand=product.brand)

    def provision() -> None:
        license_key.save()
        LicenseFactory.create(product=product, license_key=license_key)
        check_cache_forget(license_key.key)  # what the service does after commit

    write_between_read_and_store(monkeypatch, provision)
    url = f"/api/v1/product/check/{license_key.key}"
    assert client.get(url).status_code == 404
    assert cache.get(check_cache_key(license_key.key))[2] is None  # stored
    assert client.get(url).status_code == 200


def test_an_entry_stored_after_a_clean_miss_is_served(
    client, key, license_, django_assert_num_queries
):
    assert status_of(client, key) == "valid"
    with django_assert_num_queries(0):
        assert status_of(client, key) == "valid"


# --- (b) an invalidation lost while the cache was unreachable ------------------------------


def test_invalidation_lost_while_the_cache_was_down_is_made_good_when_it_is_back(
    client, key, suspend
):
    assert status_of(client, key) == "valid"  # cached
    with cache_broken():
        suspend()  # committed; its invalidation cannot reach the cache
        assert status_of(client, key) == "suspended"  # answered from the database
    # The same cache comes back with its data (a network blip, not a restart), and this
    # process has stopped skipping it.
    breaker.cache_breaker_reset()
    assert cache.get(check_cache_key(key))[2]["licenses"][0]["status"] == "valid"  # still there
    assert status_of(client, key) == "suspended"
    assert not check_cache.epoch_bump_pending()


def test_invalidation_skipped_while_the_breaker_is_open_is_made_good_too(client, key, suspend):
    assert status_of(client, key) == "valid"
    breaker.cache_failed("test")  # an earlier call failed: the cache is being skipped
    suspend()
    assert status_of(client, key) == "suspended"  # from the database
    breaker.cache_breaker_reset()
    assert status_of(client, key) == "suspended"


def test_lost_invalidation_kills_every_entry_written_before(client, key, suspend, product):
    other = LicenseFactory.create(product=product).license_key.key
    assert status_of(client, other) == "valid"
    assert status_of(client, key) == "valid"
    with cache_broken():
        suspend()
    breaker.cache_breaker_reset()
    epoch = cache.get(EPOCH_KEY)
    # The next contact is a check of another key: the epoch moves all the same.
    License.objects.filter(license_key__key=other).update(status=License.Status.CANCELLED)
    assert status_of(client, other) == "cancelled"  # (changed behind the cache's back)
    assert cache.get(EPOCH_KEY) != epoch
    assert status_of(client, key) == "suspended"


def test_next_invalidation_that_reaches_the_cache_moves_the_epoch(client, key, suspend, product):
    other = LicenseFactory.create(product=product)
    assert status_of(client, key) == "valid"
    with cache_broken():
        suspend()
    breaker.cache_breaker_reset()
    epoch = cache.get(EPOCH_KEY)
    check_cache_forget(other.license_key.key)  # another write's invalidation
    assert cache.get(EPOCH_KEY) != epoch
    assert not check_cache.epoch_bump_pending()
    assert status_of(client, key) == "suspended"


def test_after_the_repair_answers_are_cached_again(client, key, suspend, django_assert_num_queries):
    with cache_broken():
        suspend()
    breaker.cache_breaker_reset()
    assert status_of(client, key) == "suspended"  # moves the epoch, fills the cache
    epoch = cache.get(EPOCH_KEY)
    with django_assert_num_queries(0):
        assert status_of(client, key) == "suspended"
    assert cache.get(EPOCH_KEY) == epoch  # moved once, not on every check


# --- eviction ------------------------------------------------------------------------------


@pytest.mark.parametrize("evicted", ["generation", "epoch"])
def test_evicted_bookkeeping_costs_a_miss_never_a_stale_answer(
    client, key, license_, evicted, django_assert_num_queries
):
    assert status_of(client, key) == "valid"
    # A change the cache was not told about, then the generation (or epoch) is evicted.
    License.objects.filter(pk=license_.pk).update(status=License.Status.SUSPENDED)
    cache.delete(check_generation_key(key) if evicted == "generation" else EPOCH_KEY)
    assert status_of(client, key) == "suspended"
    with django_assert_num_queries(0):
        assert status_of(client, key) == "suspended"


def test_generations_are_never_reused():
    stamps = {check_cache.new_stamp() for _ in range(10_000)}
    assert len(stamps) == 10_000


def test_invalidation_keeps_dropping_the_entry(client, key):
    status_of(client, key)
    check_cache_forget(key)
    assert cache.get(check_cache_key(key)) is None
