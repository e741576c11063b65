"""Idempotency-Key on provisioning: replay, conflict, scope, expiry."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from licensing.models import IdempotencyRecord, License
from tests.licensing.conftest import LICENSES_URL

pytestmark = pytest.mark.django_db

BODY = {"customer_email": "user@example.com", "product_slug": "rankmath-pro"}


def _post(client, body=BODY, key="order-1001"):
    return client.post(LICENSES_URL, body, format="json", HTTP_IDEMPOTENCY_KEY=key)


def test_retry_with_same_key_and_body_replays_the_original(brand_client, product):
    first = _post(brand_client)
    second = _post(brand_client)
    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert second["Idempotent-Replayed"] == "true"
    assert License.objects.count() == 1


def test_same_key_with_another_body_is_a_conflict(brand_client, product):
    _post(brand_client)
    response = _post(brand_client, body={**BODY, "customer_email": "other@example.com"})
    assert response.status_code == 409
    assert response.json()["error"] == "idempotency_conflict"
    assert License.objects.count() == 1


def test_keys_are_scoped_to_the_brand(brand_client, other_brand_client, product, other_product):
    assert _post(brand_client).status_code == 201
    body = {"customer_email": "user@example.com", "product_slug": other_product.slug}
    assert _post(other_brand_client, body=body).status_code == 201


def test_failed_request_leaves_the_key_unused(brand_client, product):
    bad = {**BODY, "product_slug": "nope"}
    assert _post(brand_client, body=bad).status_code == 404
    assert _post(brand_client).status_code == 201


def test_refused_request_is_not_replayed(brand_client, product):
    brand_client.post(LICENSES_URL, BODY, format="json")
    assert _post(brand_client).json()["error"] == "already_entitled"
    assert IdempotencyRecord.objects.count() == 0


def test_key_older_than_a_day_is_forgotten(brand_client, product):
    _post(brand_client)
    IdempotencyRecord.objects.update(created_at=timezone.now() - timedelta(hours=25))
    response = _post(brand_client, body={**BODY, "new_key": True})
    assert response.status_code == 201
    assert License.objects.count() == 2


def test_over_long_key_is_a_validation_error(brand_client, product):
    response = _post(brand_client, key="k" * 256)
    assert response.status_code == 400
    assert "Idempotency-Key" in response.json()["details"]
    assert License.objects.count() == 0
