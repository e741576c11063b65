"""The SPEC §3 envelope on Django's and DRF's own errors."""

from __future__ import annotations

import importlib
import json
import logging

import pytest
from django.core.exceptions import RequestDataTooBig
from django.test import Client, RequestFactory, override_settings

from license_service.views import bad_request
from tests.brands.envelope import assert_error
from tests.factories import LicenseFactory


@pytest.mark.django_db
def test_unknown_url_is_json_404(api_client):
    response = api_client.get("/nope", HTTP_ACCEPT="text/html")
    assert response.status_code == 404
    assert response.json() == {
        "success": False,
        "error": "not_found",
        "message": "Not found.",
        "details": {},
    }


@pytest.mark.django_db
def test_every_response_carries_a_request_id(api_client):
    response = api_client.get("/nope")
    assert len(response["X-Request-ID"]) == 32


@pytest.mark.django_db
def test_sane_request_id_is_echoed(api_client):
    response = api_client.get("/nope", HTTP_X_REQUEST_ID="abc-123")
    assert response["X-Request-ID"] == "abc-123"


@pytest.mark.django_db
def test_insane_request_id_is_replaced(api_client):
    response = api_client.get("/nope", HTTP_X_REQUEST_ID="<script>" * 3)
    assert response["X-Request-ID"] != "<script>" * 3


# --- a body over DATA_UPLOAD_MAX_MEMORY_SIZE: 413, on every endpoint that reads one ---------

BODY_ENDPOINTS = [
    ("api_client", "post", "/api/v1/product/activate"),
    ("api_client", "delete", "/api/v1/product/activate"),
    ("api_client", "post", "/api/v1/product/deactivate"),
    ("api_client", "post", "/api/v1/product/check"),
    ("api_client", "post", "/api/v1/auth/token/"),
    ("api_client", "post", "/api/v1/auth/token/refresh/"),
    ("api_client", "post", "/api/v1/auth/brand-token/"),
    ("brand_client", "post", "/api/v1/brand/licenses"),
    ("brand_client", "patch", "/api/v1/brand/licenses/{license_id}"),
    ("staff_client", "post", "/api/v1/brands/"),
    ("staff_client", "patch", "/api/v1/brands/rankmath/"),
    ("staff_client", "post", "/api/v1/brands/rankmath/api-keys/"),
    ("staff_client", "post", "/api/v1/products/"),
    ("staff_client", "patch", "/api/v1/products/{product_id}/"),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("client_name", "method", "url"), BODY_ENDPOINTS)
def test_body_over_the_upload_limit_is_413_payload_too_large_and_logs_no_error(
    request, caplog, settings, product, client_name, method, url
):
    license_ = LicenseFactory.create(product=product)
    client = request.getfixturevalue(client_name)
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    body = json.dumps({"name": "x" * limit, "license_key": "x", "username": "x"})
    url = url.format(license_id=license_.pk, product_id=product.pk)
    with caplog.at_level(logging.INFO):
        response = getattr(client, method)(url, body, content_type="application/json")
    payload = assert_error(response, 413, "payload_too_large")
    assert payload["details"] == {"max_bytes": limit}
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert "unhandled error" not in caplog.text


@pytest.mark.django_db
def test_body_within_the_upload_limit_is_read(api_client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    body = json.dumps({"license_key": "x" * 900})
    response = api_client.post("/api/v1/product/activate", body, content_type="application/json")
    assert_error(response, 400, "validation_error")


@pytest.mark.django_db
def test_upload_limit_in_the_answer_is_the_configured_one(api_client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100
    body = json.dumps({"license_key": "x" * 100})
    response = api_client.post("/api/v1/product/activate", body, content_type="application/json")
    assert assert_error(response, 413, "payload_too_large")["details"] == {"max_bytes": 100}


def test_plain_django_view_answers_a_large_body_with_413():
    request = RequestFactory().post("/metrics", b"{}", content_type="application/json")
    response = bad_request(request, RequestDataTooBig("too big"))
    assert response.status_code == 413
    assert json.loads(response.content)["error"] == "payload_too_large"


# --- a NUL byte or unpaired surrogate names its field ----------------------------------------

ACTIVATION = {
    "license_key": "RNKM-AAAA",
    "product_slug": "rankmath-pro",
    "instance_identifier": "a.com",
}
PROVISION = {"customer_email": "jane@example.com", "product_slug": "rankmath-pro"}
# (client, method, url, body, the field given a bad string)
STRING_FIELDS = [
    ("api_client", "post", "/api/v1/product/activate", ACTIVATION, "instance_identifier"),
    ("api_client", "post", "/api/v1/product/activate", ACTIVATION, "license_key"),
    ("api_client", "delete", "/api/v1/product/activate", ACTIVATION, "product_slug"),
    ("api_client", "post", "/api/v1/product/deactivate", ACTIVATION, "instance_identifier"),
    ("api_client", "post", "/api/v1/product/check", {"license_key": "K"}, "license_key"),
    ("api_client", "post", "/api/v1/product/check", ACTIVATION, "instance_identifier"),
    ("api_client", "post", "/api/v1/auth/token/", {"username": "a", "password": "b"}, "username"),
    ("api_client", "post", "/api/v1/auth/token/", {"username": "a", "password": "b"}, "password"),
    ("api_client", "post", "/api/v1/auth/token/refresh/", {"refresh": "r"}, "refresh"),
    ("api_client", "post", "/api/v1/auth/brand-token/", {"api_key": "lsk_x"}, "api_key"),
    ("brand_client", "post", "/api/v1/brand/licenses", PROVISION, "customer_email"),
    ("brand_client", "post", "/api/v1/brand/licenses", PROVISION, "product_slug"),
    ("brand_client", "patch", "/api/v1/brand/licenses/{license_id}", {"action": "x"}, "action"),
    ("staff_client", "post", "/api/v1/brands/", {"name": "A", "slug": "a"}, "name"),
    ("staff_client", "post", "/api/v1/brands/", {"name": "A", "key_prefix": "AA"}, "key_prefix"),
    ("staff_client", "patch", "/api/v1/brands/rankmath/", {"name": "A"}, "name"),
    ("staff_client", "post", "/api/v1/brands/rankmath/api-keys/", {"name": "k"}, "name"),
    ("staff_client", "post", "/api/v1/products/", {"brand": "rankmath", "slug": "p"}, "name"),
    ("staff_client", "patch", "/api/v1/products/{product_id}/", {"name": "P"}, "name"),
]


@pytest.mark.django_db
@pytest.mark.parametrize("bad", ["a\x00b", "a\ud800b"], ids=["nul", "surrogate"])
@pytest.mark.parametrize(("client_name", "method", "url", "body", "field"), STRING_FIELDS)
def test_nul_byte_or_unpaired_surrogate_in_a_field_is_a_validation_error_naming_it(
    request, product, client_name, method, url, body, field, bad
):
    license_ = LicenseFactory.create(product=product)
    client = request.getfixturevalue(client_name)
    url = url.format(license_id=license_.pk, product_id=product.pk)
    raw = json.dumps({**body, field: bad})  # ensure_ascii: the surrogate as a \\ud800 escape
    response = getattr(client, method)(url, raw, content_type="application/json")
    payload = assert_error(response, 400, "validation_error")
    assert set(payload["details"]) == {field}
    assert payload["details"][field] in (
        ["NUL bytes are not allowed."],
        ["Unpaired surrogates are not allowed."],
    )


@pytest.mark.django_db
def test_bad_string_inside_a_list_or_object_is_named_by_its_path(staff_client, brand):
    raw = json.dumps({"name": "k", "scopes": ["licenses:read", "x\x00"], "extra": {"a": "\ud800"}})
    response = staff_client.post(
        "/api/v1/brands/rankmath/api-keys/", raw, content_type="application/json"
    )
    payload = assert_error(response, 400, "validation_error")
    assert payload["details"] == {
        "scopes.1": ["NUL bytes are not allowed."],
        "extra.a": ["Unpaired surrogates are not allowed."],
    }


@pytest.mark.django_db
def test_bad_object_key_is_named_by_its_parent(staff_client):
    raw = json.dumps({"name": "A", "meta": {"k\x00": 1}, "\ud800": 2})
    response = staff_client.post("/api/v1/brands/", raw, content_type="application/json")
    payload = assert_error(response, 400, "validation_error")
    assert payload["details"] == {
        "meta": ["Invalid object key: NUL bytes are not allowed."],
        "non_field_errors": ["Invalid object key: Unpaired surrogates are not allowed."],
    }


# --- unknown URLs under DEBUG (make run): JSON, never Django's technical 404 page ----------


@pytest.mark.django_db
@override_settings(DEBUG=True)
@pytest.mark.parametrize(
    "url",
    # ("/admin" redirects to "/admin/" now: tests/console/test_pages.py.)
    ["/nope", "/api/v1/nope", "/api/v1/product/check/a/b", "/api/v1/brands/NOT A SLUG/", "/adminx"],
)
def test_unknown_url_under_debug_is_the_json_404_and_lists_no_url_patterns(api_client, url):
    response = api_client.get(url, HTTP_ACCEPT="text/html")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == {
        "success": False,
        "error": "not_found",
        "message": "Not found.",
        "details": {},
    }
    assert b"api/v1" not in response.content
    assert b"URLconf" not in response.content


@pytest.mark.django_db
@override_settings(DEBUG=True)
@pytest.mark.parametrize("method", ["post", "put", "patch", "delete", "options"])
def test_unknown_url_is_a_404_whatever_the_method_not_a_csrf_refusal(method):
    client = Client(enforce_csrf_checks=True)
    response = getattr(client, method)("/nope", "{}", content_type="application/json")
    assert_error(response, 404, "not_found")


def test_local_settings_turn_debug_on():
    """The DEBUG=True the tests above stand for is what ``make run`` serves."""
    local = importlib.import_module("license_service.settings.local")
    assert local.DEBUG is True


@pytest.mark.django_db
@override_settings(DEBUG=True)
def test_unknown_admin_page_is_still_the_admins(admin_client):
    response = admin_client.get("/admin/no-such-page/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")
