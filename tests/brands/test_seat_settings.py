"""SPEC §10 in the staff API: a product's heartbeat_seconds and non_production_limit, a
brand's non_production_patterns; their bounds, their audit, their OpenAPI description."""

from __future__ import annotations

import re
from typing import Any

import pytest
from rest_framework.test import APIClient

from audit.models import AuditEvent
from audit.services import Actor
from brands import services
from brands.limits import HEARTBEAT_MAX_SECONDS, product_heartbeat_changed
from brands.models import Brand, Product
from license_service.errors import ValidationFailed
from tests.brands.envelope import assert_error

pytestmark = pytest.mark.django_db

NEW_PRODUCT = {"brand": "rankmath", "name": "P", "slug": "p"}


@pytest.fixture
def short_heartbeats(settings: Any) -> None:
    settings.LICENSE_SERVICE = {**settings.LICENSE_SERVICE, "HEARTBEAT_MIN_SECONDS": 2}


# --- products: heartbeat_seconds and non_production_limit -------------------------------


def test_a_new_product_has_no_heartbeat_and_ten_non_production_places(staff_client, brand):
    response = staff_client.post("/api/v1/products/", NEW_PRODUCT, format="json")
    assert response.status_code == 201
    body = response.json()
    assert (body["heartbeat_seconds"], body["non_production_limit"]) == (None, 10)
    product = Product.objects.get(pk=body["id"])
    assert (product.heartbeat_seconds, product.non_production_limit) == (None, 10)


@pytest.mark.parametrize(
    ("heartbeat", "limit"), [(60, 0), (3600, 10_000), (HEARTBEAT_MAX_SECONDS, 3), (None, 25)]
)
def test_staff_creates_a_product_with_a_heartbeat_and_a_limit(
    staff_client, brand, heartbeat, limit
):
    body = {**NEW_PRODUCT, "heartbeat_seconds": heartbeat, "non_production_limit": limit}
    response = staff_client.post("/api/v1/products/", body, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["heartbeat_seconds"] == heartbeat
    assert response.json()["non_production_limit"] == limit
    product = Product.objects.get(pk=response.json()["id"])
    assert (product.heartbeat_seconds, product.non_production_limit) == (heartbeat, limit)
    event = AuditEvent.objects.get(action="product.created")
    assert (event.after or {})["heartbeat_seconds"] == heartbeat
    assert (event.after or {})["non_production_limit"] == limit


BAD_SEAT_SETTINGS = [
    ("heartbeat_seconds", 59),  # below HEARTBEAT_MIN_SECONDS (60)
    ("heartbeat_seconds", 0),
    ("heartbeat_seconds", -60),
    ("heartbeat_seconds", HEARTBEAT_MAX_SECONDS + 1),
    ("heartbeat_seconds", "600"),
    ("heartbeat_seconds", 600.5),
    ("heartbeat_seconds", True),
    ("non_production_limit", -1),
    ("non_production_limit", 10_001),
    ("non_production_limit", None),
    ("non_production_limit", "10"),
    ("non_production_limit", False),
]


@pytest.mark.parametrize(("field", "value"), BAD_SEAT_SETTINGS)
def test_a_product_with_a_bad_seat_setting_is_refused_naming_it(staff_client, brand, field, value):
    response = staff_client.post("/api/v1/products/", {**NEW_PRODUCT, field: value}, format="json")
    assert list(assert_error(response, 400, "validation_error")["details"]) == [field]
    assert not Product.objects.exists()


@pytest.mark.parametrize(("field", "value"), BAD_SEAT_SETTINGS)
def test_a_bad_seat_setting_in_a_patch_changes_nothing(staff_client, product, field, value):
    response = staff_client.patch(
        f"/api/v1/products/{product.id}/", {"name": "New", field: value}, format="json"
    )
    assert list(assert_error(response, 400, "validation_error")["details"]) == [field]
    product.refresh_from_db()
    assert (product.name, product.heartbeat_seconds, product.non_production_limit) == (
        "RankMath Pro",
        None,
        10,
    )
    assert not AuditEvent.objects.filter(action="product.updated").exists()


def test_staff_sets_and_clears_a_heartbeat(staff_client, product):
    url = f"/api/v1/products/{product.id}/"
    response = staff_client.patch(
        url, {"heartbeat_seconds": 900, "non_production_limit": 0}, format="json"
    )
    assert response.status_code == 200
    assert (response.json()["heartbeat_seconds"], response.json()["non_production_limit"]) == (
        900,
        0,
    )
    product.refresh_from_db()
    assert (product.heartbeat_seconds, product.non_production_limit) == (900, 0)
    event = AuditEvent.objects.get(action="product.updated")
    assert (
        (event.before or {})["heartbeat_seconds"],
        (event.after or {})["heartbeat_seconds"],
    ) == (None, 900)
    assert (
        (event.before or {})["non_production_limit"],
        (event.after or {})["non_production_limit"],
    ) == (10, 0)

    assert staff_client.patch(url, {"heartbeat_seconds": None}, format="json").status_code == 200
    product.refresh_from_db()
    assert product.heartbeat_seconds is None
    assert product.non_production_limit == 0  # untouched by a patch that does not name it


def test_the_heartbeat_minimum_is_the_servers_setting(staff_client, product, short_heartbeats):
    url = f"/api/v1/products/{product.id}/"
    assert staff_client.patch(url, {"heartbeat_seconds": 2}, format="json").status_code == 200
    response = staff_client.patch(url, {"heartbeat_seconds": 1}, format="json")
    body = assert_error(response, 400, "validation_error")
    assert "2" in body["details"]["heartbeat_seconds"][0]


def test_the_services_refuse_what_the_api_refuses(brand, product):
    actor = Actor.system()
    with pytest.raises(ValidationFailed) as created:
        services.product_create(
            brand=brand,
            name="P",
            slug="p",
            default_max_seats=None,
            heartbeat_seconds=30,
            non_production_limit=-1,
            actor=actor,
        )
    assert set(created.value.details) == {"heartbeat_seconds", "non_production_limit"}
    with pytest.raises(ValidationFailed) as updated:
        services.product_update(product=product, heartbeat_seconds=True, actor=actor)
    assert set(updated.value.details) == {"heartbeat_seconds"}
    with pytest.raises(ValidationFailed) as patterned:
        services.brand_update(brand=brand, non_production_patterns=["*"], actor=actor)
    assert set(patterned.value.details) == {"non_production_patterns"}
    product.refresh_from_db()
    brand.refresh_from_db()
    assert (product.heartbeat_seconds, brand.non_production_patterns) == (None, [])


# --- brands: non_production_patterns ------------------------------------------------------


def test_staff_creates_a_brand_with_its_patterns(staff_client):
    patterns = ["*.staging.example.com", "dev-*.example.org"]
    response = staff_client.post(
        "/api/v1/brands/",
        {"name": "A", "slug": "a", "key_prefix": "AA", "non_production_patterns": patterns},
        format="json",
    )
    assert response.status_code == 201
    assert response.json()["non_production_patterns"] == patterns
    assert Brand.objects.get(slug="a").non_production_patterns == patterns
    event = AuditEvent.objects.get(action="brand.created")
    assert (event.after or {})["non_production_patterns"] == patterns


def test_a_brand_without_patterns_has_none(staff_client):
    response = staff_client.post(
        "/api/v1/brands/", {"name": "A", "slug": "a", "key_prefix": "AA"}, format="json"
    )
    assert response.json()["non_production_patterns"] == []


def test_staff_replaces_and_clears_a_brands_patterns(staff_client, brand):
    url = "/api/v1/brands/rankmath/"
    response = staff_client.patch(
        url, {"non_production_patterns": ["*.preview.rankmath.com"]}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["non_production_patterns"] == ["*.preview.rankmath.com"]
    brand.refresh_from_db()
    assert brand.non_production_patterns == ["*.preview.rankmath.com"]
    event = AuditEvent.objects.get(action="brand.updated")
    assert (event.before or {})["non_production_patterns"] == []
    assert (event.after or {})["non_production_patterns"] == ["*.preview.rankmath.com"]

    assert (
        staff_client.patch(url, {"non_production_patterns": []}, format="json").status_code == 200
    )
    brand.refresh_from_db()
    assert brand.non_production_patterns == []


@pytest.mark.parametrize(
    "patterns",
    [
        "*.staging.example.com",  # a string, not a list
        {"a": "b.com"},
        None,
        ["*"],
        ["*.*"],
        ["example"],
        ["Staging.Example.com"],  # must already be lower-case
        [" a.example.com"],  # never trimmed into a valid one
        ["a.example.com\n"],
        ["a..example.com"],
        ["a.example.c*"],
        ["ok.example.com", 7],
        ["a" * 250 + ".com"],
        ["a.example.com"] * 101,
    ],
)
def test_bad_patterns_are_refused_naming_the_field(staff_client, brand, patterns):
    response = staff_client.patch(
        "/api/v1/brands/rankmath/",
        {"name": "New", "non_production_patterns": patterns},
        format="json",
    )
    details = assert_error(response, 400, "validation_error")["details"]
    # the field, or the field and the position of the first bad pattern
    assert [name.split(".")[0] for name in details] == ["non_production_patterns"]
    brand.refresh_from_db()
    assert (brand.name, brand.non_production_patterns) == ("RankMath", [])


def test_bad_patterns_refuse_a_new_brand(staff_client):
    response = staff_client.post(
        "/api/v1/brands/",
        {"name": "A", "slug": "a", "key_prefix": "AA", "non_production_patterns": ["*"]},
        format="json",
    )
    assert list(assert_error(response, 400, "validation_error")["details"]) == [
        "non_production_patterns.0"
    ]
    assert not Brand.objects.filter(slug="a").exists()


# --- OpenAPI ----------------------------------------------------------------------------


def _components() -> dict[str, Any]:
    response = APIClient().get("/api/schema/")
    assert response.status_code == 200
    schemas: dict[str, Any] = response.json()["components"]["schemas"]
    return schemas


def test_openapi_documents_the_products_seat_settings():
    schemas = _components()
    for name in ("ProductCreateInputRequest", "ProductUpdateInputRequest"):
        properties = schemas[name]["properties"]
        heartbeat = properties["heartbeat_seconds"]
        assert heartbeat["minimum"] == 60
        assert heartbeat["maximum"] == HEARTBEAT_MAX_SECONDS
        assert heartbeat["nullable"] is True
        assert "heartbeat_seconds / 2" in heartbeat["description"]
        limit = properties["non_production_limit"]
        assert (limit["minimum"], limit["maximum"]) == (0, 10_000)
        assert "nullable" not in limit
    output = schemas["ProductOutput"]["properties"]
    assert {"heartbeat_seconds", "non_production_limit"} <= set(output)


def test_openapi_heartbeat_minimum_follows_the_setting(short_heartbeats):
    heartbeat = _components()["ProductCreateInputRequest"]["properties"]["heartbeat_seconds"]
    assert heartbeat["minimum"] == 2


def test_openapi_documents_the_brands_patterns_exactly():
    schemas = _components()
    for name in ("BrandCreateInputRequest", "BrandUpdateInputRequest"):
        field = schemas[name]["properties"]["non_production_patterns"]
        assert field["type"] == "array"
        assert field["maxItems"] == 100
        assert "lower-case" in field["description"]
        pattern = re.compile(field["items"]["pattern"])
        assert field["items"]["maxLength"] == 253
        for good in ("*.staging.example.com", "dev-*.example.org", "a.b"):
            assert pattern.fullmatch(good)
        for bad in ("*", "*.*", "Example.com", "a..b", "a.c*", "example"):
            assert not pattern.fullmatch(bad)
    assert "non_production_patterns" in schemas["BrandOutput"]["properties"]


# --- who hears of a heartbeat change -----------------------------------------------------


def test_a_heartbeat_change_is_signalled_and_other_changes_are_not(staff_client, product):
    heard: list[int] = []

    def receiver(sender: Any, *, product_id: int, **kwargs: Any) -> None:
        heard.append(product_id)

    product_heartbeat_changed.connect(receiver, dispatch_uid="test-heartbeat-changed")
    try:
        url = f"/api/v1/products/{product.id}/"
        staff_client.patch(url, {"name": "Renamed", "non_production_limit": 3}, format="json")
        assert heard == []
        staff_client.patch(url, {"heartbeat_seconds": 600}, format="json")
        staff_client.patch(url, {"heartbeat_seconds": 600}, format="json")  # unchanged
        staff_client.patch(url, {"heartbeat_seconds": None}, format="json")
        assert heard == [product.id, product.id]
    finally:
        product_heartbeat_changed.disconnect(dispatch_uid="test-heartbeat-changed")
