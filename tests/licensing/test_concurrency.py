"""Provisioning under concurrency, on PostgreSQL row locks."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection

from licensing.models import License, LicenseKey
from tests.conftest import make_brand_client, requires_postgres
from tests.factories import BrandFactory, ProductFactory

pytestmark = [requires_postgres, pytest.mark.django_db(transaction=True)]


def run_concurrently(count: int, call: Callable[[int], Any]) -> list[Any]:
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count

    def worker(index: int) -> None:
        try:
            barrier.wait()
            results[index] = call(index)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def test_concurrent_retries_with_one_idempotency_key_provision_once():
    brand = BrandFactory.create(slug="rankmath", key_prefix="RNKM")
    ProductFactory.create(brand=brand, slug="rankmath-pro")
    client = make_brand_client(brand)
    body = {"customer_email": "race@example.com", "product_slug": "rankmath-pro"}

    def call(_: int) -> tuple[int, Any]:
        response = client.post(
            "/api/v1/brand/licenses", body, format="json", HTTP_IDEMPOTENCY_KEY="order-7"
        )
        return response.status_code, response.json()

    results = run_concurrently(12, call)
    assert {status for status, _ in results} == {201}
    assert len({json.dumps(body, sort_keys=True) for _, body in results}) == 1
    assert License.objects.count() == 1


def test_concurrent_first_purchases_of_one_customer_share_one_key():
    brand = BrandFactory.create(slug="rankmath", key_prefix="RNKM")
    slugs = [f"product-{i}" for i in range(8)]
    for slug in slugs:
        ProductFactory.create(brand=brand, slug=slug)
    client = make_brand_client(brand)

    def call(index: int) -> int:
        body = {"customer_email": "new@example.com", "product_slug": slugs[index]}
        return client.post("/api/v1/brand/licenses", body, format="json").status_code

    assert run_concurrently(8, call) == [201] * 8
    assert LicenseKey.objects.count() == 1
    assert License.objects.count() == 8


def test_concurrent_duplicates_without_idempotency_key_provision_once():
    brand = BrandFactory.create(slug="rankmath", key_prefix="RNKM")
    ProductFactory.create(brand=brand, slug="rankmath-pro")
    client = make_brand_client(brand)
    body = {"customer_email": "dup@example.com", "product_slug": "rankmath-pro"}

    def call(_: int) -> int:
        return client.post("/api/v1/brand/licenses", body, format="json").status_code

    statuses = run_concurrently(10, call)
    assert sorted(statuses) == [201] + [409] * 9
    assert License.objects.count() == 1
