from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from brands.models import Product
from licensing.models import License
from tests.factories import LicenseFactory, LicenseKeyFactory, ProductFactory

LICENSES_URL = "/api/v1/brand/licenses"


def future(days: int = 365) -> str:
    return (timezone.now() + timedelta(days=days)).isoformat()


def provision(client: Any, **body: Any) -> Any:
    body.setdefault("customer_email", "user@example.com")
    body.setdefault("product_slug", "rankmath-pro")
    return client.post(LICENSES_URL, body, format="json")


def patch(client: Any, license_id: int, **body: Any) -> Any:
    return client.patch(f"{LICENSES_URL}/{license_id}", body, format="json")


@pytest.fixture
def second_product(brand: Any) -> Product:
    return ProductFactory.create(
        brand=brand, name="Content AI", slug="content-ai", default_max_seats=None
    )


@pytest.fixture
def license_(product: Product) -> License:
    key = LicenseKeyFactory.create(brand=product.brand, customer_email="user@example.com")
    return LicenseFactory.create(product=product, license_key=key, max_seats=3)


@pytest.fixture
def other_brand_license(other_product: Product) -> License:
    return LicenseFactory.create(product=other_product)
