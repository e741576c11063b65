"""SPEC §10 under concurrency, on PostgreSQL row locks (SEATS rules 2, 3, 5): reclaiming
to make room, replace, the non-production limit and the reclaim job never admit more than
the limits nor reclaim a row twice."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any, TypeVar

import pytest
from django.db import connection, transaction
from django.utils import timezone
from rest_framework.test import APIClient

from activations import services
from activations.models import Activation
from audit.models import AuditEvent
from audit.services import Actor
from tests.activations.conftest import body
from tests.activations.test_concurrency import activate_all_at_once
from tests.conftest import requires_postgres
from tests.factories import ActivationFactory, LicenseFactory

pytestmark = [requires_postgres, pytest.mark.django_db(transaction=True)]

HEARTBEAT = 600
_T = TypeVar("_T")
_R = TypeVar("_R")


def ago(seconds: float):
    return timezone.now() - timedelta(seconds=seconds)


def all_at_once(work: Callable[[_T], _R], items: list[_T]) -> list[_R]:
    start = threading.Barrier(len(items))

    def attempt(item: _T) -> _R:
        try:
            start.wait()
            return work(item)
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=len(items)) as pool:
        return list(pool.map(attempt, items))


@pytest.fixture
def beating(product):
    product.heartbeat_seconds = HEARTBEAT
    product.save(update_fields=["heartbeat_seconds"])
    return product


def held(license_) -> Any:
    return Activation.objects.filter(license=license_, reclaimed_at__isnull=True)


@pytest.mark.parametrize(
    ("max_seats", "admitted"),
    [
        (10, 5),  # 5 live + 5 dead rows fill it: the 5 dead places are reclaimed
        (15, 10),  # 5 free places, then the 5 dead ones
    ],
)
def test_concurrent_activations_reclaim_exactly_the_dead_seats(beating, max_seats, admitted):
    license_ = LicenseFactory.create(product=beating, max_seats=max_seats)
    ActivationFactory.create_batch(5, license=license_)
    dead = ActivationFactory.create_batch(5, license=license_, last_seen_at=ago(HEARTBEAT * 2))
    instances = [f"new{n}.example.com" for n in range(40)]
    results = activate_all_at_once(license_.license_key.key, instances)
    assert Counter(status for status, _ in results) == {200: admitted, 409: 40 - admitted}
    assert held(license_).count() == max_seats
    assert set(
        Activation.objects.filter(reclaimed_at__isnull=False).values_list("pk", flat=True)
    ) == {a.pk for a in dead}
    reclaimed = AuditEvent.objects.filter(license_id=license_.pk, action="activation.reclaimed")
    assert sorted(int(e.target_id) for e in reclaimed) == sorted(a.pk for a in dead)
    refusals = [answer for status, answer in results if status == 409]
    assert all(r["details"] == {"seats_used": max_seats, "max_seats": max_seats} for r in refusals)


def test_concurrent_replaces_of_one_instance_have_one_winner(product):
    license_ = LicenseFactory.create(product=product, max_seats=3)
    ActivationFactory.create_batch(2, license=license_)
    ActivationFactory.create(license=license_, instance_identifier="old.example.com")
    key = license_.license_key.key

    def replace(n: int) -> tuple[int, dict[str, Any]]:
        response = APIClient().post(
            "/api/v1/product/activate",
            {**body(key, f"new{n}.example.com"), "replace_instance_identifier": "old.example.com"},
            format="json",
        )
        return response.status_code, response.json()

    results = all_at_once(replace, list(range(20)))
    assert Counter(status for status, _ in results) == {200: 1, 404: 19}
    assert {a["error"] for s, a in results if s == 404} == {"activation_not_found"}
    assert not Activation.objects.filter(instance_identifier="old.example.com").exists()
    assert held(license_).count() == 3
    assert Activation.objects.filter(instance_identifier__startswith="new").count() == 1
    assert AuditEvent.objects.filter(action="activation.released").count() == 1


def test_concurrent_non_production_activations_respect_their_cap(product):
    product.non_production_limit = 10
    product.save(update_fields=["non_production_limit"])
    license_ = LicenseFactory.create(product=product, max_seats=3)
    ActivationFactory.create_batch(2, license=license_)  # one production seat free
    instances = [f"staging.site{n}.example.com" for n in range(30)]
    results = activate_all_at_once(license_.license_key.key, instances)
    assert Counter(status for status, _ in results) == {200: 10, 409: 20}
    assert held(license_).filter(environment="staging").count() == 10
    assert held(license_).filter(environment="production").count() == 2
    assert all(a["seats_used"] == 2 for s, a in results if s == 200)
    refusals = [a["details"] for s, a in results if s == 409]
    assert all(d == {"non_production_in_use": 10, "non_production_limit": 10} for d in refusals)


def test_concurrent_reclaim_jobs_reclaim_each_row_once(beating):
    license_ = LicenseFactory.create(product=beating, max_seats=None)
    dead = ActivationFactory.create_batch(30, license=license_, last_seen_at=ago(HEARTBEAT * 2))

    def job(_: int) -> int:
        return len(
            services.activations_reclaim(license_id=license_.pk, actor=Actor.system(), batch=7)
        )

    assert sum(all_at_once(job, list(range(3)))) == 21  # three batches of 7
    assert sum(all_at_once(job, list(range(8)))) == 9  # the rest, each row once
    reclaimed = AuditEvent.objects.filter(action="activation.reclaimed")
    assert sorted(int(e.target_id) for e in reclaimed) == sorted(a.pk for a in dead)


def test_a_heartbeat_during_a_reclaim_wins_and_the_next_dead_row_is_taken(beating):
    """The activate waits for the oldest dead row, which a heartbeat is reviving; once the
    heartbeat commits, that row is live again and the next dead one is reclaimed instead."""
    license_ = LicenseFactory.create(product=beating, max_seats=2)
    oldest = ActivationFactory.create(license=license_, last_seen_at=ago(HEARTBEAT * 3))
    younger = ActivationFactory.create(license=license_, last_seen_at=ago(HEARTBEAT * 2))
    key = license_.license_key.key
    beating_now = threading.Event()

    def heartbeat_slowly() -> None:
        try:
            with transaction.atomic():
                Activation.objects.filter(pk=oldest.pk).update(last_seen_at=timezone.now())
                beating_now.set()
                time.sleep(0.5)  # the activate is waiting on this row meanwhile
        finally:
            connection.close()

    def activate_new() -> tuple[int, dict[str, Any], float]:
        try:
            beating_now.wait()
            started = time.monotonic()
            response = APIClient().post(
                "/api/v1/product/activate", body(key, "new.example.com"), format="json"
            )
            return response.status_code, response.json(), time.monotonic() - started
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=2) as pool:
        pool.submit(heartbeat_slowly)
        status, answer, waited = pool.submit(activate_new).result()
    assert status == 200, answer
    assert waited > 0.3  # it did wait for the row the heartbeat held
    oldest.refresh_from_db()
    younger.refresh_from_db()
    assert oldest.reclaimed_at is None
    assert younger.reclaimed_at is not None
