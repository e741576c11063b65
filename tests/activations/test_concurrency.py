"""Race-free seats (SPEC §6, US3): concurrent activations on PostgreSQL row locks."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection
from rest_framework.test import APIClient

from activations.models import Activation
from audit.models import AuditEvent
from tests.activations.conftest import body
from tests.conftest import requires_postgres
from tests.factories import ActivationFactory, LicenseFactory

pytestmark = [requires_postgres, pytest.mark.django_db(transaction=True)]

THREADS = 40
ROUNDS = 5


def activate_all_at_once(key: str, instances: list[str]) -> list[tuple[int, dict]]:
    start = threading.Barrier(len(instances))

    def attempt(instance: str) -> tuple[int, dict]:
        try:
            client = APIClient()
            start.wait()
            response = client.post("/api/v1/product/activate", body(key, instance), format="json")
            return response.status_code, response.json()
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=len(instances)) as pool:
        return list(pool.map(attempt, instances))


def test_concurrent_activations_take_exactly_the_free_seats(product):
    for round_ in range(ROUNDS):
        license_ = LicenseFactory.create(product=product, max_seats=7)
        ActivationFactory.create_batch(2, license=license_)  # 5 seats free
        instances = [f"site{n}.example.com" for n in range(THREADS)]
        results = activate_all_at_once(license_.license_key.key, instances)
        statuses = Counter(status for status, _ in results)
        assert statuses == {200: 5, 409: THREADS - 5}, f"round {round_}: {statuses}"
        assert Activation.objects.filter(license=license_).count() == 7
        refusals = [answer for status, answer in results if status == 409]
        assert all(r["details"] == {"seats_used": 7, "max_seats": 7} for r in refusals)
        created = AuditEvent.objects.filter(license_id=license_.id, action="activation.created")
        assert created.count() == 5


def test_concurrent_activations_of_one_instance_take_one_seat(product):
    for round_ in range(ROUNDS):
        license_ = LicenseFactory.create(product=product, max_seats=3)
        forms = ["https://www.example.com/", "http://example.com", "example.com", "EXAMPLE.com:443"]
        results = activate_all_at_once(license_.license_key.key, forms * 5)
        assert {status for status, _ in results} == {200}, f"round {round_}"
        assert len({answer["activation_id"] for _, answer in results}) == 1
        assert Activation.objects.filter(license=license_).count() == 1
        assert AuditEvent.objects.filter(license_id=license_.id).count() == 1
