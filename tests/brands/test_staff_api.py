"""Staff API (SPEC §4): brands, brand API keys, products."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.test import Client
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from audit.models import AuditEvent
from brands.authentication import api_key_lookup
from brands.models import Brand, BrandApiKey, Product
from tests.brands.envelope import assert_error
from tests.factories import BrandFactory, ProductFactory

pytestmark = pytest.mark.django_db


# Every staff endpoint, with a body good enough to reach authentication.
STAFF_ENDPOINTS = [
    ("get", "/api/v1/brands/", None),
    ("post", "/api/v1/brands/", {"name": "X", "slug": "x", "key_prefix": "XX"}),
    ("get", "/api/v1/brands/rankmath/", None),
    ("patch", "/api/v1/brands/rankmath/", {"name": "X"}),
    ("get", "/api/v1/brands/rankmath/api-keys/", None),
    ("post", "/api/v1/brands/rankmath/api-keys/", {"name": "k"}),
    ("delete", "/api/v1/brands/rankmath/api-keys/1/", None),
    ("get", "/api/v1/products/", None),
    ("post", "/api/v1/products/", {"brand": "rankmath", "name": "P", "slug": "p"}),
    ("get", "/api/v1/products/1/", None),
    ("patch", "/api/v1/products/1/", {"name": "P"}),
]


def call(client: Any, method: str, url: str, body: Any = None) -> Any:
    if body is None:
        return getattr(client, method)(url)
    return getattr(client, method)(url, body, format="json")


# --- who may call ------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "url", "body"), STAFF_ENDPOINTS)
def test_staff_endpoint_without_token_is_401(api_client, brand, method, url, body):
    response = call(api_client, method, url, body)
    assert_error(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(("method", "url", "body"), STAFF_ENDPOINTS)
def test_staff_endpoint_with_non_staff_token_is_403(user_client, brand, method, url, body):
    assert_error(call(user_client, method, url, body), 403, "permission_denied")


@pytest.mark.parametrize(("method", "url", "body"), STAFF_ENDPOINTS)
def test_staff_endpoint_refuses_a_brand_jwt(api_client, api_key, method, url, body):
    minted = api_client.post("/api/v1/auth/brand-token/", {"api_key": api_key[1]}, format="json")
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {minted.json()['access']}")
    assert_error(call(api_client, method, url, body), 401, "not_authenticated")


def test_staff_endpoint_ignores_a_brand_api_key(api_client, api_key):
    api_client.credentials(HTTP_X_BRAND_API_KEY=api_key[1])
    assert_error(api_client.get("/api/v1/brands/"), 401, "not_authenticated")


def test_forged_token_is_401_with_a_plain_message(api_client):
    api_client.credentials(HTTP_AUTHORIZATION="Bearer not.a.jwt")
    body = assert_error(api_client.get("/api/v1/brands/"), 401, "not_authenticated")
    assert body["message"]
    assert "{" not in body["message"]  # one sentence, not a rendered dict


def test_token_of_a_deactivated_staff_user_is_401(staff_client, staff_user):
    staff_user.is_active = False
    staff_user.save()
    assert_error(staff_client.get("/api/v1/brands/"), 401, "not_authenticated")


# --- brands ------------------------------------------------------------------------------


def test_staff_creates_a_brand(staff_client):
    response = staff_client.post(
        "/api/v1/brands/",
        {"name": "RankMath", "slug": "rankmath", "key_prefix": "RNKM"},
        format="json",
    )
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {
        "id",
        "name",
        "slug",
        "key_prefix",
        "is_active",
        "non_production_patterns",
        "expiring_soon_days",
        "created_at",
    }
    assert body["slug"] == "rankmath"
    assert body["key_prefix"] == "RNKM"
    assert body["is_active"] is True
    assert Brand.objects.get(pk=body["id"]).name == "RankMath"


def test_brand_creation_is_audited_with_the_staff_user(staff_client):
    response = staff_client.post(
        "/api/v1/brands", {"name": "A", "slug": "a", "key_prefix": "AA"}, format="json"
    )
    event = AuditEvent.objects.get(action="brand.created")
    assert event.target_id == str(response.json()["id"])
    assert (event.actor_type, event.actor) == ("staff", "ops")
    assert event.request_id == response["X-Request-ID"]


def test_trailing_slash_is_optional(staff_client, brand):
    assert staff_client.get("/api/v1/brands").status_code == 200
    assert staff_client.get("/api/v1/brands/rankmath").status_code == 200
    assert staff_client.get("/api/v1/products").status_code == 200


@pytest.mark.parametrize("field", ["slug", "key_prefix"])
def test_duplicate_brand_field_is_a_validation_error_naming_it(staff_client, brand, field):
    body = {"name": "Other", "slug": "other", "key_prefix": "OTHR"}
    body[field] = getattr(brand, field)
    response = staff_client.post("/api/v1/brands/", body, format="json")
    details = assert_error(response, 400, "validation_error")["details"]
    assert list(details) == [field]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"slug": "a", "key_prefix": "AA"}, "name"),
        ({"name": "A", "key_prefix": "AA"}, "slug"),
        ({"name": "A", "slug": "a"}, "key_prefix"),
        ({"name": 123, "slug": "a", "key_prefix": "AA"}, "name"),
        ({"name": "A", "slug": ["a"], "key_prefix": "AA"}, "slug"),
        ({"name": "A", "slug": "a", "key_prefix": None}, "key_prefix"),
        ({"name": "", "slug": "a", "key_prefix": "AA"}, "name"),
        ({"name": "x" * 101, "slug": "a", "key_prefix": "AA"}, "name"),
        ({"name": "A", "slug": "a" * 51, "key_prefix": "AA"}, "slug"),
        ({"name": "A", "slug": "Rank Math", "key_prefix": "AA"}, "slug"),
        ({"name": "A", "slug": "rank_math", "key_prefix": "AA"}, "slug"),
        ({"name": "A", "slug": "a", "key_prefix": "rnkm"}, "key_prefix"),
        ({"name": "A", "slug": "a", "key_prefix": "R"}, "key_prefix"),
        ({"name": "A", "slug": "a", "key_prefix": "TOOLONG"}, "key_prefix"),
        ({"name": "A", "slug": "a", "key_prefix": "RNK1"}, "key_prefix"),
    ],
)
def test_bad_brand_input_is_a_validation_error_naming_the_field(staff_client, body, field):
    response = staff_client.post("/api/v1/brands/", body, format="json")
    assert field in assert_error(response, 400, "validation_error")["details"]
    assert not Brand.objects.exists()


def test_unknown_fields_are_ignored(staff_client):
    response = staff_client.post(
        "/api/v1/brands/",
        {"name": "A", "slug": "a", "key_prefix": "AA", "colour": "red"},
        format="json",
    )
    assert response.status_code == 201
    assert "colour" not in response.json()


def test_nul_byte_is_a_validation_error(staff_client):
    response = staff_client.post(
        "/api/v1/brands/", {"name": "A\x00B", "slug": "a", "key_prefix": "AA"}, format="json"
    )
    assert_error(response, 400, "validation_error")


@pytest.mark.parametrize("raw", [b"{", b"[]", b'"brand"', b"null", b"\xff\xfe"])
def test_malformed_or_non_object_body_is_a_validation_error(staff_client, raw):
    response = staff_client.post("/api/v1/brands/", raw, content_type="application/json")
    assert_error(response, 400, "validation_error")


def test_non_json_body_is_415(staff_client):
    response = staff_client.post(
        "/api/v1/brands/", "name=A&slug=a", content_type="application/x-www-form-urlencoded"
    )
    assert_error(response, 415, "unsupported_media_type")


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("put", "/api/v1/brands/"),
        ("delete", "/api/v1/brands/"),
        ("delete", "/api/v1/brands/rankmath/"),
        ("post", "/api/v1/brands/rankmath/"),
        ("get", "/api/v1/brands/rankmath/api-keys/1/"),
        ("put", "/api/v1/products/"),
        ("delete", "/api/v1/products/1/"),
        ("get", "/api/v1/auth/token/"),
        ("get", "/api/v1/auth/brand-token/"),
    ],
)
def test_wrong_method_is_405(staff_client, brand, method, url):
    assert_error(getattr(staff_client, method)(url), 405, "method_not_allowed")


def test_staff_lists_brands_newest_first(staff_client, brand, other_brand):
    response = staff_client.get("/api/v1/brands/")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"next", "previous", "results"}
    assert [b["slug"] for b in body["results"]] == ["wp-rocket", "rankmath"]
    assert body["next"] is None


def test_brand_list_pages_with_a_cursor(staff_client):
    BrandFactory.create_batch(5)
    first = staff_client.get("/api/v1/brands/?page_size=2").json()
    second = staff_client.get(first["next"]).json()
    third = staff_client.get(second["next"]).json()
    slugs = [b["slug"] for page in (first, second, third) for b in page["results"]]
    assert len(slugs) == len(set(slugs)) == 5
    assert third["next"] is None
    assert staff_client.get(second["previous"]).json()["results"] == first["results"]


def test_page_size_over_the_cap_is_refused(staff_client):
    BrandFactory.create_batch(3)
    assert len(staff_client.get("/api/v1/brands/?page_size=200").json()["results"]) == 3
    body = assert_error(
        staff_client.get("/api/v1/brands/?page_size=100000"), 400, "validation_error"
    )
    assert "page_size" in body["details"]


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage",
        "YQ",
        base64.b64encode(b"p=abc").decode(),
        base64.b64encode(b"p=99999999999999999999999").decode(),
        base64.b64encode(b"p=1%00").decode(),
        base64.b64encode(b"o=-1").decode(),
    ],
)
def test_invalid_cursor_is_404_not_500(staff_client, brand, cursor):
    assert_error(staff_client.get(f"/api/v1/brands/?cursor={cursor}"), 404, "not_found")


def test_staff_gets_a_brand(staff_client, brand):
    response = staff_client.get("/api/v1/brands/rankmath/")
    assert response.status_code == 200
    assert response.json()["key_prefix"] == "RNKM"


@pytest.mark.parametrize("slug", ["nope", "RANKMATH", "rank%00math", "a" * 51])
def test_unknown_brand_is_404(staff_client, brand, slug):
    assert_error(staff_client.get(f"/api/v1/brands/{slug}/"), 404, "not_found")


def test_staff_renames_and_deactivates_a_brand(staff_client, brand):
    response = staff_client.patch(
        "/api/v1/brands/rankmath/", {"name": "Rank Math", "is_active": False}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["name"] == "Rank Math"
    assert response.json()["is_active"] is False
    brand.refresh_from_db()
    assert (brand.name, brand.is_active) == ("Rank Math", False)
    event = AuditEvent.objects.get(action="brand.updated")
    assert event.before == {
        "name": "RankMath",
        "slug": "rankmath",
        "key_prefix": "RNKM",
        "is_active": True,
        "non_production_patterns": [],
        "expiring_soon_days": 7,
    }
    assert event.after == {
        "name": "Rank Math",
        "slug": "rankmath",
        "key_prefix": "RNKM",
        "is_active": False,
        "non_production_patterns": [],
        "expiring_soon_days": 7,
    }


@pytest.mark.parametrize(("field", "value"), [("slug", "other"), ("key_prefix", "OTHR")])
def test_brand_patch_refuses_fixed_fields_by_name(staff_client, brand, field, value):
    response = staff_client.patch(
        "/api/v1/brands/rankmath/", {"name": "New", field: value}, format="json"
    )
    assert field in assert_error(response, 400, "validation_error")["details"]
    brand.refresh_from_db()
    assert brand.name == "RankMath"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"is_active": "false"}, "is_active"),
        ({"is_active": 0}, "is_active"),
        ({"name": None}, "name"),
        ({"name": "x" * 101}, "name"),
        ({}, "non_field_errors"),
        ({"unknown": 1}, "non_field_errors"),
    ],
)
def test_bad_brand_patch_is_a_validation_error(staff_client, brand, body, field):
    response = staff_client.patch("/api/v1/brands/rankmath/", body, format="json")
    assert field in assert_error(response, 400, "validation_error")["details"]
    assert not AuditEvent.objects.filter(action="brand.updated").exists()


# --- brand API keys ----------------------------------------------------------------------


def test_staff_creates_an_api_key_shown_once(staff_client, brand):
    response = staff_client.post(
        "/api/v1/brands/rankmath/api-keys/", {"name": "backend"}, format="json"
    )
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"id", "name", "prefix", "scopes", "created_at", "api_key"}
    assert body["scopes"] == ["licenses:read", "licenses:write"]
    assert body["api_key"].startswith(body["prefix"])
    stored = BrandApiKey.objects.get(pk=body["id"])
    assert body["api_key"] not in stored.key_hash
    assert api_key_lookup(body["api_key"]) == stored


def test_api_key_creation_is_audited(staff_client, brand):
    response = staff_client.post(
        "/api/v1/brands/rankmath/api-keys/", {"name": "backend"}, format="json"
    )
    event = AuditEvent.objects.get(action="api_key.created")
    assert event.target_id == str(response.json()["id"])
    assert (event.actor_type, event.actor, event.brand_id) == ("staff", "ops", brand.id)
    assert response.json()["api_key"] not in json.dumps(event.after)


def test_api_key_scopes_can_be_chosen(staff_client, brand):
    response = staff_client.post(
        "/api/v1/brands/rankmath/api-keys/",
        {"name": "all", "scopes": ["ecosystem:read", "licenses:read", "licenses:read"]},
        format="json",
    )
    assert response.status_code == 201
    assert response.json()["scopes"] == ["ecosystem:read", "licenses:read"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "name"),
        ({"name": 1}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"name": "k", "scopes": ["admin:all"]}, "scopes.0"),
        ({"name": "k", "scopes": ["licenses:read", 7]}, "scopes.1"),
        ({"name": "k", "scopes": "licenses:read"}, "scopes"),
        ({"name": "k", "scopes": []}, "scopes"),
        ({"name": "k", "scopes": None}, "scopes"),
    ],
)
def test_bad_api_key_input_is_a_validation_error(staff_client, brand, body, field):
    response = staff_client.post("/api/v1/brands/rankmath/api-keys/", body, format="json")
    assert field in assert_error(response, 400, "validation_error")["details"]
    assert not BrandApiKey.objects.exists()


def test_api_key_list_never_shows_secrets(staff_client, api_key):
    response = staff_client.get("/api/v1/brands/rankmath/api-keys/")
    assert response.status_code == 200
    [listed] = response.json()["results"]
    assert set(listed) == {
        "id",
        "name",
        "prefix",
        "scopes",
        "created_at",
        "last_used_at",
        "revoked_at",
    }
    assert api_key[1] not in response.content.decode()
    assert api_key[0].key_hash not in response.content.decode()


def test_api_key_list_shows_only_that_brands_keys(staff_client, api_key, other_brand):
    staff_client.post("/api/v1/brands/wp-rocket/api-keys/", {"name": "theirs"}, format="json")
    results = staff_client.get("/api/v1/brands/rankmath/api-keys/").json()["results"]
    assert [k["name"] for k in results] == ["backend"]


def test_staff_revokes_an_api_key(staff_client, api_key):
    key, plain = api_key
    response = staff_client.delete(f"/api/v1/brands/rankmath/api-keys/{key.id}/")
    assert response.status_code == 204
    assert response.content == b""
    key.refresh_from_db()
    assert key.revoked_at is not None
    assert api_key_lookup(plain) is None
    listed = staff_client.get("/api/v1/brands/rankmath/api-keys/").json()["results"]
    assert listed[0]["revoked_at"] is not None


def test_api_key_revocation_is_audited_once(staff_client, api_key):
    url = f"/api/v1/brands/rankmath/api-keys/{api_key[0].id}"
    assert staff_client.delete(url).status_code == 204
    assert staff_client.delete(url).status_code == 204
    event = AuditEvent.objects.get(action="api_key.revoked")
    assert (event.actor_type, event.actor) == ("staff", "ops")
    assert event.target_id == str(api_key[0].id)


def test_revoking_another_brands_key_is_404(staff_client, api_key, other_brand):
    response = staff_client.delete(f"/api/v1/brands/wp-rocket/api-keys/{api_key[0].id}/")
    assert_error(response, 404, "not_found")
    api_key[0].refresh_from_db()
    assert api_key[0].revoked_at is None


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/brands/nope/api-keys/1/",
        "/api/v1/brands/rankmath/api-keys/999999/",
        "/api/v1/brands/rankmath/api-keys/99999999999999999999999/",
        "/api/v1/brands/rankmath/api-keys/-1/",
    ],
)
def test_unknown_brand_or_key_is_404(staff_client, brand, url):
    assert_error(staff_client.delete(url), 404, "not_found")


def test_api_keys_of_unknown_brand_are_404(staff_client):
    assert_error(staff_client.get("/api/v1/brands/nope/api-keys/"), 404, "not_found")
    response = staff_client.post("/api/v1/brands/nope/api-keys/", {"name": "k"}, format="json")
    assert_error(response, 404, "not_found")


# --- products ----------------------------------------------------------------------------


def test_staff_creates_a_product(staff_client, brand):
    response = staff_client.post(
        "/api/v1/products/",
        {
            "brand": "rankmath",
            "name": "RankMath Pro",
            "slug": "rankmath-pro",
            "default_max_seats": 3,
        },
        format="json",
    )
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {
        "id",
        "brand",
        "name",
        "slug",
        "default_max_seats",
        "heartbeat_seconds",
        "non_production_limit",
        "edd_item_id",
        "token_lifetime_seconds",
        "created_at",
    }
    assert (body["brand"], body["slug"], body["default_max_seats"]) == (
        "rankmath",
        "rankmath-pro",
        3,
    )
    assert AuditEvent.objects.get(action="product.created").actor == "ops"


def test_product_without_default_seats_is_unlimited(staff_client, brand):
    response = staff_client.post(
        "/api/v1/products/",
        {"brand": "rankmath", "name": "Content AI", "slug": "content-ai"},
        format="json",
    )
    assert response.status_code == 201
    assert response.json()["default_max_seats"] is None


def test_duplicate_product_slug_in_a_brand_is_a_validation_error(staff_client, product):
    response = staff_client.post(
        "/api/v1/products/",
        {"brand": "rankmath", "name": "Again", "slug": "rankmath-pro"},
        format="json",
    )
    assert list(assert_error(response, 400, "validation_error")["details"]) == ["slug"]


def test_same_product_slug_in_another_brand_is_fine(staff_client, product, other_brand):
    response = staff_client.post(
        "/api/v1/products/",
        {"brand": "wp-rocket", "name": "Copy", "slug": "rankmath-pro"},
        format="json",
    )
    assert response.status_code == 201


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "P", "slug": "p"}, "brand"),
        ({"brand": "nope", "name": "P", "slug": "p"}, "brand"),
        ({"brand": "RankMath", "name": "P", "slug": "p"}, "brand"),
        ({"brand": "rankmath", "slug": "p"}, "name"),
        ({"brand": "rankmath", "name": "P"}, "slug"),
        ({"brand": "rankmath", "name": "P", "slug": "P P"}, "slug"),
        ({"brand": "rankmath", "name": "x" * 101, "slug": "p"}, "name"),
        (
            {"brand": "rankmath", "name": "P", "slug": "p", "default_max_seats": 0},
            "default_max_seats",
        ),
        (
            {"brand": "rankmath", "name": "P", "slug": "p", "default_max_seats": -1},
            "default_max_seats",
        ),
        (
            {"brand": "rankmath", "name": "P", "slug": "p", "default_max_seats": "3"},
            "default_max_seats",
        ),
        (
            {"brand": "rankmath", "name": "P", "slug": "p", "default_max_seats": 3.5},
            "default_max_seats",
        ),
        (
            {"brand": "rankmath", "name": "P", "slug": "p", "default_max_seats": True},
            "default_max_seats",
        ),
        (
            {"brand": "rankmath", "name": "P", "slug": "p", "default_max_seats": 2**31},
            "default_max_seats",
        ),
    ],
)
def test_bad_product_input_is_a_validation_error(staff_client, brand, body, field):
    response = staff_client.post("/api/v1/products/", body, format="json")
    assert field in assert_error(response, 400, "validation_error")["details"]
    assert not Product.objects.exists()


def test_staff_lists_products_of_one_brand(staff_client, product, other_product):
    everything = staff_client.get("/api/v1/products/").json()["results"]
    assert {p["brand"] for p in everything} == {"rankmath", "wp-rocket"}
    only = staff_client.get("/api/v1/products/?brand=wp-rocket").json()
    assert [p["id"] for p in only["results"]] == [other_product.id]
    assert set(only) == {"next", "previous", "results"}


@pytest.mark.parametrize("value", ["nope", "RankMath"])
def test_product_filter_by_unknown_brand_is_empty(staff_client, product, value):
    assert staff_client.get(f"/api/v1/products/?brand={value}").json()["results"] == []


@pytest.mark.parametrize("value", ["a%00b", "x" * 51])
def test_bad_product_filter_is_a_validation_error(staff_client, value):
    response = staff_client.get(f"/api/v1/products/?brand={value}")
    assert "brand" in assert_error(response, 400, "validation_error")["details"]


def test_product_list_pages(staff_client, brand):
    ProductFactory.create_batch(3, brand=brand)
    first = staff_client.get("/api/v1/products/?page_size=2").json()
    second = staff_client.get(first["next"]).json()
    assert len(first["results"]) == 2
    assert len(second["results"]) == 1


def test_staff_gets_a_product(staff_client, product):
    response = staff_client.get(f"/api/v1/products/{product.id}/")
    assert response.status_code == 200
    assert response.json()["brand"] == "rankmath"


@pytest.mark.parametrize("product_id", ["999999", "99999999999999999999999", "abc", "-1"])
def test_unknown_product_is_404(staff_client, product_id):
    assert_error(staff_client.get(f"/api/v1/products/{product_id}/"), 404, "not_found")


def test_staff_changes_a_products_name_and_default_seats(staff_client, product):
    response = staff_client.patch(
        f"/api/v1/products/{product.id}", {"name": "Pro", "default_max_seats": None}, format="json"
    )
    assert response.status_code == 200
    assert (response.json()["name"], response.json()["default_max_seats"]) == ("Pro", None)
    product.refresh_from_db()
    assert product.default_max_seats is None
    event = AuditEvent.objects.get(action="product.updated")
    seat_settings = {
        "heartbeat_seconds": None,
        "non_production_limit": 10,
        "edd_item_id": None,
        "token_lifetime_seconds": 7 * 24 * 3600,
    }
    assert event.before == {
        "name": "RankMath Pro",
        "slug": "rankmath-pro",
        "default_max_seats": 3,
        **seat_settings,
    }
    assert event.after == {
        "name": "Pro",
        "slug": "rankmath-pro",
        "default_max_seats": None,
        **seat_settings,
    }


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"slug": "other"}, "slug"),
        ({"brand": "wp-rocket"}, "brand"),
        ({"default_max_seats": 0}, "default_max_seats"),
        ({"default_max_seats": "2"}, "default_max_seats"),
        ({"name": 5}, "name"),
        ({}, "non_field_errors"),
    ],
)
def test_bad_product_patch_is_a_validation_error(staff_client, product, body, field):
    response = staff_client.patch(f"/api/v1/products/{product.id}/", body, format="json")
    assert field in assert_error(response, 400, "validation_error")["details"]
    product.refresh_from_db()
    assert product.slug == "rankmath-pro"


# --- model permissions, as the admin checks them (SPEC §4) ------------------------------

# Every staff endpoint with the one permission it needs and its answer when granted.
# {product} and {api_key} are filled with the ids of the fixtures.
PERMISSION_OF_ENDPOINT = [
    ("get", "/api/v1/brands/", None, "view_brand", 200),
    ("post", "/api/v1/brands/", {"name": "X", "slug": "x", "key_prefix": "XX"}, "add_brand", 201),
    ("get", "/api/v1/brands/rankmath/", None, "view_brand", 200),
    ("patch", "/api/v1/brands/rankmath/", {"name": "X"}, "change_brand", 200),
    ("get", "/api/v1/brands/rankmath/api-keys/", None, "view_brandapikey", 200),
    ("post", "/api/v1/brands/rankmath/api-keys/", {"name": "k"}, "add_brandapikey", 201),
    ("delete", "/api/v1/brands/rankmath/api-keys/{api_key}/", None, "change_brandapikey", 204),
    ("get", "/api/v1/products/", None, "view_product", 200),
    (
        "post",
        "/api/v1/products/",
        {"brand": "rankmath", "name": "P", "slug": "p"},
        "add_product",
        201,
    ),
    ("get", "/api/v1/products/{product}/", None, "view_product", 200),
    ("patch", "/api/v1/products/{product}/", {"name": "P"}, "change_product", 200),
]


def staff_client_with(*codenames: str) -> Any:
    user = get_user_model().objects.create_user(username="helpdesk", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(user).access_token}")
    return client


def test_every_staff_endpoint_has_its_permission_listed():
    listed = [(m, u.format(product=1, api_key=1)) for m, u, *_ in PERMISSION_OF_ENDPOINT]
    assert listed == [(m, u) for m, u, _ in STAFF_ENDPOINTS]


@pytest.mark.parametrize(("method", "url", "body", "codename", "ok"), PERMISSION_OF_ENDPOINT)
def test_staff_without_the_model_permission_is_403(
    product, api_key, method, url, body, codename, ok
):
    client = staff_client_with()
    url = url.format(product=product.id, api_key=api_key[0].id)
    body = assert_error(call(client, method, url, body), 403, "permission_denied")
    assert "permission" in body["message"]


@pytest.mark.parametrize(("method", "url", "body", "codename", "ok"), PERMISSION_OF_ENDPOINT)
def test_staff_with_the_model_permission_is_allowed(
    product, api_key, method, url, body, codename, ok
):
    client = staff_client_with(codename)
    url = url.format(product=product.id, api_key=api_key[0].id)
    assert call(client, method, url, body).status_code == ok


@pytest.mark.parametrize(("method", "url", "body", "codename", "ok"), PERMISSION_OF_ENDPOINT)
def test_another_models_permission_does_not_open_an_endpoint(
    product, api_key, method, url, body, codename, ok
):
    model = codename.split("_", 1)[1]
    others = [
        f"{verb}_{other}"
        for other in ("brand", "brandapikey", "product")
        if other != model
        for verb in ("view", "add", "change", "delete")
    ]
    client = staff_client_with(*others)
    url = url.format(product=product.id, api_key=api_key[0].id)
    assert_error(call(client, method, url, body), 403, "permission_denied")


@pytest.mark.parametrize(
    "url", ["/api/v1/brands/", "/api/v1/brands/rankmath/api-keys/", "/api/v1/products/"]
)
def test_the_change_permission_also_lets_staff_read_as_in_the_admin(brand, url):
    model = {"brands": "brand", "api-keys": "brandapikey", "products": "product"}[
        url.rstrip("/").rsplit("/", 1)[1]
    ]
    assert staff_client_with(f"change_{model}").get(url).status_code == 200


def test_a_read_permission_does_not_allow_a_write(brand):
    client = staff_client_with("view_brand")
    response = client.patch("/api/v1/brands/rankmath/", {"name": "X"}, format="json")
    assert_error(response, 403, "permission_denied")
    brand.refresh_from_db()
    assert brand.name == "RankMath"


def test_staff_without_permissions_cannot_create_an_ecosystem_api_key(brand):
    """The review's finding: the admin refused this user, the API minted the key."""
    client = staff_client_with()
    response = client.post(
        "/api/v1/brands/rankmath/api-keys/",
        {"name": "k", "scopes": ["licenses:read", "ecosystem:read"]},
        format="json",
    )
    assert_error(response, 403, "permission_denied")
    assert not BrandApiKey.objects.exists()


def test_a_staff_user_the_admin_refuses_is_refused_by_the_api_too(brand):
    user = get_user_model().objects.create_user(username="helpdesk", is_staff=True)
    admin = Client()
    admin.force_login(user)
    assert admin.get("/admin/brands/brand/").status_code == 403
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(user).access_token}")
    assert_error(client.get("/api/v1/brands/"), 403, "permission_denied")


def test_a_superuser_needs_no_explicit_permission(staff_client, staff_user, brand):
    assert staff_user.is_superuser
    assert not staff_user.user_permissions.exists()
    assert staff_client.get("/api/v1/brands/").status_code == 200
