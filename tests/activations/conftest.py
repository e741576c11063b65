"""Fixtures of the product API tests: a license with free seats and a product client."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from rest_framework.test import APIClient

from brands.models import Product
from license_service.ratelimit import cache_breaker_reset
from licensing.models import License
from tests.factories import LicenseFactory, LicenseKeyFactory


@pytest.fixture(autouse=True)
def _cache_breaker_closed() -> Iterator[None]:
    cache_breaker_reset()
    yield
    cache_breaker_reset()


@pytest.fixture
def client() -> APIClient:
    return APIClient()


@pytest.fixture
def license_(product: Product) -> License:
    key = LicenseKeyFactory.create(brand=product.brand, customer_email="user@example.com")
    return LicenseFactory.create(product=product, license_key=key, max_seats=3)


@pytest.fixture
def key(license_: License) -> str:
    return license_.license_key.key


def body(key: str, instance: Any = "https://www.example.com/", product: Any = "rankmath-pro"):
    return {"license_key": key, "product_slug": product, "instance_identifier": instance}


def activate(client: APIClient, key: str, instance: Any = "example.com", **extra: Any) -> Any:
    return client.post("/api/v1/product/activate", body(key, instance, **extra), format="json")


def deactivate(client: APIClient, key: str, instance: Any = "example.com", **extra: Any) -> Any:
    return client.post("/api/v1/product/deactivate", body(key, instance, **extra), format="json")
