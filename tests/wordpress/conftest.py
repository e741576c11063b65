"""Fixtures of the EDD endpoint tests: a product with an EDD item id, a license of it, and
a helper speaking the protocol as WordPress plugins do."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

import pytest
from django.test import Client, TestCase

from brands.models import Product
from licensing.models import License
from tests.activations.conftest import round_trips  # noqa: F401 (the fixture, shared)
from tests.factories import LicenseFactory, LicenseKeyFactory

ITEM_ID = 42
SITE = "https://www.example.com"


@pytest.fixture
def edd_product(product: Product) -> Product:
    product.edd_item_id = ITEM_ID
    product.save(update_fields=["edd_item_id"])
    return product


@pytest.fixture
def license_(edd_product: Product) -> License:
    key = LicenseKeyFactory.create(brand=edd_product.brand, customer_email="user@example.com")
    return LicenseFactory.create(product=edd_product, license_key=key, max_seats=3)


@pytest.fixture
def key(license_: License) -> str:
    return license_.license_key.key


def edd(
    client: Client,
    action: str,
    *,
    method: str = "post",
    brand: str = "rankmath",
    slash: bool = True,
    user_agent: str | None = None,
    ip: str = "203.0.113.7",
    **params: Any,
) -> Any:
    """One request as the sample plugin (POST form) or the SDK (GET query) sends it.
    ``item_name`` is encoded once here, as the sample plugin does before the form
    encoding does it again."""
    if "item_name" in params:
        params["item_name"] = quote(params["item_name"])
    url = f"/edd/{brand}" + ("/" if slash else "")
    extra: dict[str, Any] = {"REMOTE_ADDR": ip}
    if user_agent is not None:
        extra["HTTP_USER_AGENT"] = user_agent
    data = urlencode({"edd_action": action, **params})
    with committed():
        if method == "get":
            return client.get(f"{url}?{data}", **extra)
        return client.post(url, data, content_type="application/x-www-form-urlencoded", **extra)


def committed() -> Any:
    """Run what a write defers to its commit (the check cache's invalidation) when the
    block ends, as a real commit would: the tests run inside one transaction."""
    return TestCase.captureOnCommitCallbacks(execute=True)


def answer(response: Any) -> dict[str, Any]:
    """The JSON body of an EDD answer (always JSON, never HTML)."""
    assert response["Content-Type"] == "application/json"
    body: dict[str, Any] = response.json()
    return body
