"""SPEC §10 on the check: seats counted as rule 1 counts them, a cached answer that turns
when a live activation dies, and the check as the instance's heartbeat (a dead activation
revived, a reclaimed one given its place back when one is free)."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any
from unittest import mock

import pytest
from django.core.cache import cache
from django.utils import timezone

from activations import services
from activations.check.keys import check_cache_key
from activations.models import Activation, Environment
from brands.models import Product
from licensing.models import License
from tests.activations.test_check import check, stored_ttl
from tests.factories import ActivationFactory, LicenseFactory, ProductFactory

pytestmark = pytest.mark.django_db

HEARTBEAT = 60


@pytest.fixture
def heartbeat(product: Product) -> Product:
    """The product's activations die after HEARTBEAT seconds unseen."""
    Product.objects.filter(pk=product.pk).update(heartbeat_seconds=HEARTBEAT)
    product.refresh_from_db()
    return product


def seen(seconds_ago: float) -> Any:
    return timezone.now() - timedelta(seconds=seconds_ago)


def row(license_: License, instance: str, *, ago: float = 0, **fields: Any) -> Activation:
    return ActivationFactory.create(
        license=license_, instance_identifier=instance, last_seen_at=seen(ago), **fields
    )


def entitlement(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.content
    first: dict[str, Any] = response.json()["entitlements"][0]
    return first


def seats(response: Any) -> tuple[int, int, int | None]:
    found = entitlement(response)
    return found["seats_used"], found["non_production_in_use"], found["seats_remaining"]


# --- rule 1: what counts ----------------------------------------------------------------------


def test_seats_used_counts_live_production_rows_only(client, key, license_, heartbeat):
    row(license_, "live.example.com")
    row(license_, "dead.example.com", ago=HEARTBEAT + 60)
    row(license_, "reclaimed.example.com", ago=HEARTBEAT + 60, reclaimed_at=seen(30))
    row(license_, "staging.example.com", environment=Environment.STAGING)
    row(license_, "localhost", environment=Environment.LOCAL)
    row(license_, "dev.example.com", ago=HEARTBEAT + 60, environment=Environment.STAGING)
    assert seats(check(client, key)) == (1, 2, 2)
    assert seats(check(client, key, product_slug="rankmath-pro")) == (1, 2, 2)


def test_without_heartbeat_seconds_no_row_ever_dies(client, key, license_):
    row(license_, "old.example.com", ago=10 * 365 * 86400)
    row(license_, "staging.example.com", ago=10 * 365 * 86400, environment=Environment.STAGING)
    assert seats(check(client, key)) == (1, 1, 2)


def test_a_new_heartbeat_setting_turns_cached_answers_at_once(
    client, key, license_, product, staff_client, django_capture_on_commit_callbacks
):
    """Which rows are dead changes on every license of the product: no cached answer keeps
    counting the old way (a new epoch, not a wait for the TTL)."""
    row(license_, "old.example.com", ago=3600)
    assert seats(check(client, key)) == (1, 0, 2)
    assert seats(check(client, key)) == (1, 0, 2)  # cached
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.patch(
            f"/api/v1/products/{product.pk}",
            {"heartbeat_seconds": HEARTBEAT},
            format="json",
        )
    assert response.status_code == 200, response.content
    assert seats(check(client, key)) == (0, 0, 3)


def test_licenses_with_too_many_rows_to_list_are_counted_alike(
    client, key, license_, heartbeat, brand, monkeypatch
):
    monkeypatch.setattr("activations.check.facts.MAX_CACHED_INSTANCES", 2)
    other = LicenseFactory.create(
        product=ProductFactory.create(brand=brand, slug="content-ai"),
        license_key=license_.license_key,
    )
    row(other, "only.example.com")  # listed: one row, beside a license that is not
    row(license_, "live.example.com")
    row(license_, "dead.example.com", ago=HEARTBEAT + 60)
    row(license_, "reclaimed.example.com", ago=HEARTBEAT + 60, reclaimed_at=seen(30))
    row(license_, "staging.example.com", environment=Environment.STAGING)
    answer = check(client, key, instance_identifier="dead.example.com").json()
    first, second = answer["entitlements"]
    assert (first["seats_used"], first["non_production_in_use"]) == (2, 1)  # revived
    assert first["instance_active"] is True
    assert (second["seats_used"], second["instance_active"]) == (1, False)
    reclaimed = entitlement(check(client, key, instance_identifier="reclaimed.example.com"))
    assert (reclaimed["instance_active"], reclaimed["seats_used"]) == (True, 3)  # was free


# --- rule 7: a cached seats_used is never stale -----------------------------------------------


def test_cached_answer_turns_when_the_first_live_row_dies(
    client, key, license_, heartbeat, django_assert_num_queries
):
    row(license_, "later.example.com", ago=HEARTBEAT - 30)
    row(license_, "soon.example.com", ago=HEARTBEAT - 1)  # dies in a second
    assert seats(check(client, key)) == (2, 0, 1)
    assert seats(check(client, key, product_slug="rankmath-pro")) == (2, 0, 1)
    with django_assert_num_queries(0):  # cached until then
        assert seats(check(client, key)) == (2, 0, 1)
    entry = cache.get(check_cache_key(key))
    dies_at = license_.activations.get(instance_identifier="soon.example.com").last_seen_at
    dies_at += timedelta(seconds=HEARTBEAT)
    assert entry[2]["cached_until"] <= dies_at.timestamp()
    assert entry[2]["rendered"][1] == dies_at
    assert stored_ttl(check_cache_key(key)) <= 2  # Redis keeps it no longer either
    time.sleep(max(0.0, dies_at.timestamp() - time.time()) + 0.05)
    assert seats(check(client, key)) == (1, 0, 2)
    assert seats(check(client, key, product_slug="rankmath-pro")) == (1, 0, 2)


def test_cached_answer_without_a_dying_row_lives_its_ttl(client, key, license_, heartbeat):
    row(license_, "dead.example.com", ago=HEARTBEAT + 60)  # dead already: changes nothing
    row(license_, "staging.example.com", environment=Environment.STAGING, ago=HEARTBEAT + 1)
    assert seats(check(client, key)) == (0, 0, 3)
    cached_until = cache.get(check_cache_key(key))[2]["cached_until"]
    assert cached_until > time.time() + 30


# --- rule 7: the check is a heartbeat ---------------------------------------------------------


def test_a_dead_instance_is_revived_by_its_check(
    client, key, license_, heartbeat, django_capture_on_commit_callbacks
):
    dead = row(license_, "example.com", ago=HEARTBEAT + 60)
    assert seats(check(client, key)) == (0, 0, 3)  # cached
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        answer = entitlement(check(client, key, instance_identifier="example.com"))
    assert answer["instance_active"] is True
    assert (answer["seats_used"], answer["seats_remaining"]) == (1, 2)
    assert "reason" not in answer
    assert callbacks  # the key's cached answer is invalidated
    dead.refresh_from_db()
    assert timezone.now() - dead.last_seen_at < timedelta(seconds=5)
    assert seats(check(client, key)) == (1, 0, 2)


def test_a_reclaimed_instance_takes_a_free_place_back(
    client, key, license_, heartbeat, django_capture_on_commit_callbacks
):
    reclaimed = row(license_, "example.com", ago=HEARTBEAT + 60, reclaimed_at=seen(30))
    assert seats(check(client, key)) == (0, 0, 3)
    with django_capture_on_commit_callbacks(execute=True):
        answer = entitlement(check(client, key, instance_identifier="example.com"))
    assert answer["instance_active"] is True
    assert "reason" not in answer
    assert answer["seats_used"] == 1
    reclaimed.refresh_from_db()
    assert reclaimed.reclaimed_at is None
    assert seats(check(client, key)) == (1, 0, 2)


def test_a_reclaimed_instance_without_a_free_place_is_told_why(
    client, key, license_, heartbeat, django_capture_on_commit_callbacks
):
    License.objects.filter(pk=license_.pk).update(max_seats=1)
    row(license_, "newcomer.example.com")
    reclaimed = row(license_, "example.com", ago=HEARTBEAT + 60, reclaimed_at=seen(30))
    for _ in range(2):  # a miss, then a cached answer
        with django_capture_on_commit_callbacks(execute=True):
            answer = entitlement(check(client, key, instance_identifier="example.com"))
        assert answer["instance_active"] is False
        assert answer["reason"] == "reclaimed"
        assert (answer["seats_used"], answer["seats_remaining"]) == (1, 0)
    reclaimed.refresh_from_db()
    assert reclaimed.reclaimed_at is not None
    stranger = entitlement(check(client, key, instance_identifier="stranger.example.com"))
    assert stranger["instance_active"] is False
    assert "reason" not in stranger


def test_a_cached_check_naming_an_instance_costs_no_sql(
    client, key, license_, heartbeat, django_assert_num_queries
):
    row(license_, "example.com")
    check(client, key, instance_identifier="example.com")  # miss, heartbeat written
    for _ in range(3):
        with django_assert_num_queries(0):
            answer = entitlement(check(client, key, instance_identifier="example.com"))
        assert (answer["instance_active"], answer["seats_used"]) == (True, 1)


def test_a_heartbeat_of_a_live_row_invalidates_nothing(
    client,
    key,
    license_,
    heartbeat,
    settings,
    django_capture_on_commit_callbacks,
    django_assert_num_queries,
):
    settings.LICENSE_SERVICE = {**settings.LICENSE_SERVICE, "HEARTBEAT_INTERVAL": 0}
    live = row(license_, "example.com", ago=HEARTBEAT / 2)
    check(client, key)  # cached
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        answer = entitlement(check(client, key, instance_identifier="example.com"))
    assert (answer["instance_active"], answer["seats_used"]) == (True, 1)
    assert callbacks == []
    live.refresh_from_db()
    assert timezone.now() - live.last_seen_at < timedelta(seconds=5)
    with django_assert_num_queries(0):
        assert seats(check(client, key)) == (1, 0, 2)


def test_the_heartbeat_gets_the_shortest_heartbeat_and_revives_a_dead_row(
    client, key, license_, heartbeat, brand
):
    slower = ProductFactory.create(brand=brand, slug="content-ai", heartbeat_seconds=600)
    never = ProductFactory.create(brand=brand, slug="never-dies")
    other = LicenseFactory.create(product=slower, license_key=license_.license_key)
    third = LicenseFactory.create(product=never, license_key=license_.license_key)
    row(license_, "example.com", ago=HEARTBEAT + 60)  # dead here
    row(other, "example.com", ago=HEARTBEAT + 60)  # live there
    row(third, "example.com", ago=HEARTBEAT + 60)
    spy = mock.patch.object(services, "activation_heartbeat", wraps=services.activation_heartbeat)
    with spy as heartbeat_call:
        check(client, key, instance_identifier="example.com")
        check(client, key, product_slug="content-ai", instance_identifier="example.com")
        check(client, key, product_slug="never-dies", instance_identifier="example.com")
    first, second, third_call = (call.kwargs for call in heartbeat_call.call_args_list)
    assert first["license_ids"] == [license_.id, other.id, third.id]
    assert (first["heartbeat_seconds"], first["revive"]) == (HEARTBEAT, True)
    assert second["license_ids"] == [other.id]
    assert (second["heartbeat_seconds"], second["revive"]) == (600, False)
    assert (third_call["heartbeat_seconds"], third_call["revive"]) == (None, False)


# --- the miss stays cheap ---------------------------------------------------------------------


def test_a_miss_of_a_key_without_activations_is_one_statement(
    client, key, license_, brand, django_assert_num_queries
):
    LicenseFactory.create(
        product=ProductFactory.create(brand=brand, slug="content-ai"),
        license_key=license_.license_key,
    )
    with django_assert_num_queries(1):
        assert seats(check(client, key)) == (0, 0, 3)


def test_a_miss_reads_the_rows_of_every_license_in_one_more_statement(
    client, key, license_, heartbeat, brand, django_assert_num_queries, monkeypatch
):
    monkeypatch.setattr("activations.check.facts.MAX_CACHED_INSTANCES", 2)
    for slug in ("a", "b", "c"):
        other = LicenseFactory.create(
            product=ProductFactory.create(brand=brand, slug=slug),
            license_key=license_.license_key,
        )
        row(other, f"{slug}.example.com")
        row(other, f"staging.{slug}.example.com", environment=Environment.STAGING)
    with django_assert_num_queries(2):
        answer = check(client, key).json()["entitlements"]
    assert [(e["seats_used"], e["non_production_in_use"]) for e in answer] == [(0, 0)] + [
        (1, 1)
    ] * 3
    for n in range(3):  # now too many to list: one aggregate more
        row(license_, f"site{n}.example.com", ago=HEARTBEAT + 60 if n else 0)
    cache.clear()
    with django_assert_num_queries(3):
        answer = check(client, key).json()["entitlements"]
    assert (answer[0]["seats_used"], answer[0]["seats_remaining"]) == (1, 2)
