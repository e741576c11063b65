"""Every malformed provisioning request gets a SPEC error and leaves nothing behind."""

from __future__ import annotations

import json

import pytest

from audit.models import AuditEvent
from licensing.models import License, LicenseKey
from tests.licensing.conftest import LICENSES_URL

pytestmark = pytest.mark.django_db

GOOD = {"customer_email": "user@example.com", "product_slug": "rankmath-pro"}


def _nothing_written() -> bool:
    return (
        not License.objects.exists()
        and not LicenseKey.objects.exists()
        and not AuditEvent.objects.filter(action__startswith="license.").exists()
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"product_slug": "rankmath-pro"}, "customer_email"),
        ({"customer_email": "user@example.com"}, "product_slug"),
        ({**GOOD, "customer_email": "not-an-email"}, "customer_email"),
        ({**GOOD, "customer_email": 42}, "customer_email"),
        ({**GOOD, "customer_email": "a" * 250 + "@example.com"}, "customer_email"),
        ({**GOOD, "product_slug": ["rankmath-pro"]}, "product_slug"),
        ({**GOOD, "product_slug": 7}, "product_slug"),
        ({**GOOD, "product_slug": "x" * 51}, "product_slug"),
        ({**GOOD, "expires_at": "2001-01-01T00:00:00Z"}, "expires_at"),
        ({**GOOD, "expires_at": "2099-01-01T00:00:00"}, "expires_at"),
        ({**GOOD, "expires_at": "next year"}, "expires_at"),
        ({**GOOD, "expires_at": 4102444800}, "expires_at"),
        ({**GOOD, "max_seats": 0}, "max_seats"),
        ({**GOOD, "max_seats": "3"}, "max_seats"),
        ({**GOOD, "max_seats": 1.5}, "max_seats"),
        ({**GOOD, "max_seats": False}, "max_seats"),
        ({**GOOD, "new_key": "yes"}, "new_key"),
        ({**GOOD, "license_key": 123}, "license_key"),
        ({**GOOD, "license_key": "k" * 65}, "license_key"),
    ],
)
def test_invalid_field_is_a_validation_error_naming_it(brand_client, product, body, field):
    response = brand_client.post(LICENSES_URL, body, format="json")
    assert response.status_code == 400
    payload = response.json()
    assert payload["success"] is False
    assert payload["error"] == "validation_error"
    assert field in payload["details"]
    assert _nothing_written()


@pytest.mark.parametrize(
    "raw",
    [
        b"{not json",
        b"[1, 2, 3]",
        b'"a string"',
        b"null",
        b'{"customer_email": NaN}',
        b"[" * 10000 + b"]" * 10000,
        b'{"a":' * 50 + b"1" + b"}" * 50,
        b'{"customer_email": "user@example.com", "product_slug": "rankmath-pro\\u0000"}',
        b'{"customer_email": "user@example.com", "product_slug": "\\ud800"}',
        b'{"customer_email": "user@example.com", "\\u0000": 1}',
        b"\xff\xfe\x00",
        b'{"max_seats": 1' + b"0" * 5000 + b"}",
    ],
)
def test_malformed_body_is_a_validation_error(brand_client, product, raw):
    response = brand_client.generic("POST", LICENSES_URL, raw, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"] == "validation_error"
    assert _nothing_written()


def test_wrong_content_type_is_415(brand_client, product):
    response = brand_client.generic(
        "POST", LICENSES_URL, json.dumps(GOOD), content_type="text/plain"
    )
    assert response.status_code == 415
    assert response.json()["error"] == "unsupported_media_type"
    assert _nothing_written()


def test_form_encoded_body_is_415(brand_client, product):
    response = brand_client.post(LICENSES_URL, GOOD)
    assert response.status_code == 415


def test_wrong_method_is_405(brand_client, product):
    response = brand_client.put(LICENSES_URL, GOOD, format="json")
    assert response.status_code == 405
    assert response.json()["error"] == "method_not_allowed"


def test_empty_body_names_the_required_fields(brand_client, product):
    response = brand_client.generic("POST", LICENSES_URL, b"", content_type="application/json")
    assert response.status_code == 400
    assert set(response.json()["details"]) == {"customer_email", "product_slug"}


def test_html_accept_header_still_gets_json(brand_client, product):
    response = brand_client.post(LICENSES_URL, {}, format="json", HTTP_ACCEPT="text/html")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
