"""US3: POST /api/v1/product/activate."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from activations.models import Activation
from audit.models import AuditEvent
from licensing.models import License
from tests.activations.conftest import activate, body
from tests.factories import ActivationFactory, LicenseFactory, ProductFactory

pytestmark = pytest.mark.django_db


def test_activation_takes_a_seat(client, key, license_):
    response = activate(client, key, "https://www.example.com/")
    assert response.status_code == 200
    activation = Activation.objects.get()
    body = response.json()
    assert isinstance(body.pop("license_token"), str)
    assert body == {
        "success": True,
        "license_id": license_.id,
        "activation_id": activation.id,
        "status": "valid",
        "expires_at": None,
        "environment": "production",
        "seats_used": 1,
        "max_seats": 3,
        "seats_remaining": 2,
        "non_production_in_use": 0,
    }
    assert activation.instance_identifier == "example.com"
    assert activation.license_id == license_.id


def test_active_instance_takes_no_second_seat(client, key):
    first = activate(client, key, "https://example.com")
    Activation.objects.update(last_seen_at=timezone.now() - timedelta(days=3))
    again = activate(client, key, "http://www.example.com/")
    assert again.status_code == 200
    assert again.json()["activation_id"] == first.json()["activation_id"]
    assert again.json()["seats_used"] == 1
    activation = Activation.objects.get()
    assert timezone.now() - activation.last_seen_at < timedelta(minutes=1)


def test_key_is_accepted_in_lower_case_with_whitespace(client, key):
    response = activate(client, f"  {key.lower()} ")
    assert response.status_code == 200


def test_full_license_refuses_with_seat_counts(client, key, license_):
    ActivationFactory.create_batch(3, license=license_)
    response = activate(client, key, "fourth.example.com")
    assert response.status_code == 409
    assert response.json() == {
        "success": False,
        "error": "seat_limit_exceeded",
        "message": "No available seats: 3 of 3 in use.",
        "details": {"seats_used": 3, "max_seats": 3},
    }
    assert Activation.objects.count() == 3


def test_full_license_still_answers_an_instance_that_holds_a_seat(client, key, license_):
    ActivationFactory.create_batch(2, license=license_)
    ActivationFactory.create(license=license_, instance_identifier="example.com")
    response = activate(client, key, "https://example.com/")
    assert response.status_code == 200
    assert response.json()["seats_remaining"] == 0


def test_seats_lowered_below_usage_block_new_activations(client, key, license_):
    ActivationFactory.create_batch(2, license=license_)
    License.objects.filter(pk=license_.pk).update(max_seats=1)
    response = activate(client, key)
    assert response.status_code == 409
    assert response.json()["details"] == {"seats_used": 2, "max_seats": 1}


def test_unlimited_license_never_runs_out_of_seats(client, product):
    license_ = LicenseFactory.create(product=product, max_seats=None)
    key = license_.license_key.key
    for n in range(12):
        response = activate(client, key, f"site{n}.example.com")
        assert response.status_code == 200
    assert response.json()["max_seats"] is None
    assert response.json()["seats_remaining"] is None
    assert response.json()["seats_used"] == 12


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"status": License.Status.SUSPENDED}, "license_suspended"),
        ({"status": License.Status.CANCELLED}, "license_cancelled"),
        ({"expires_at": timezone.now() - timedelta(seconds=1)}, "license_expired"),
    ],
)
def test_license_state_refuses_activation(client, key, license_, changes, error):
    License.objects.filter(pk=license_.pk).update(**changes)
    response = activate(client, key)
    assert response.status_code == 403
    assert response.json()["error"] == error
    assert not Activation.objects.exists()
    assert not AuditEvent.objects.exists()


def test_suspended_license_refuses_an_instance_that_holds_a_seat(client, key, license_):
    ActivationFactory.create(license=license_, instance_identifier="example.com")
    License.objects.filter(pk=license_.pk).update(status=License.Status.SUSPENDED)
    response = activate(client, key)
    assert response.status_code == 403
    assert response.json()["error"] == "license_suspended"


def test_license_with_future_expiry_activates(client, key, license_):
    expires_at = timezone.now() + timedelta(days=30)
    License.objects.filter(pk=license_.pk).update(expires_at=expires_at)
    response = activate(client, key)
    assert response.status_code == 200
    assert response.json()["expires_at"] == expires_at.isoformat().replace("+00:00", "Z")


def test_unknown_key_is_license_not_found(client, product):
    unknown = LicenseFactory.build(product=product).license_key.key
    response = activate(client, unknown)
    assert response.status_code == 404
    assert response.json() == {
        "success": False,
        "error": "license_not_found",
        "message": "No license found for this key.",
        "details": {},
    }


def test_key_failing_its_checksum_is_answered_like_an_unknown_key(client, key, product):
    mistyped = key[:-1] + ("0" if key[-1] != "0" else "1")
    unknown = LicenseFactory.build(product=product).license_key.key
    assert activate(client, mistyped).json() == activate(client, unknown).json()


def test_key_without_that_product_is_license_not_found(client, key, brand):
    ProductFactory.create(brand=brand, slug="content-ai")
    response = activate(client, key, product="content-ai")
    assert response.status_code == 404
    assert response.json()["error"] == "license_not_found"


def test_activation_is_audited_with_instance_and_actor(client, key, license_):
    activate(client, key, "https://www.example.com/shop/")
    event = AuditEvent.objects.get()
    activation = Activation.objects.get()
    assert event.action == "activation.created"
    assert (event.actor_type, event.actor) == ("product", "product")
    assert event.target_type == "activation"
    assert event.target_id == str(activation.id)
    assert event.license_id == license_.id
    assert event.brand_id == license_.product.brand_id
    assert (event.after or {}).get("instance_identifier") == "example.com/shop"
    assert event.client_ip == "127.0.0.1"


def test_repeated_activation_writes_no_second_audit_event(client, key):
    activate(client, key)
    activate(client, key)
    assert AuditEvent.objects.count() == 1


# The license token of an activation's answer (activations.tokens): the activation's row
# with its license's brand and product, then, when it is signed, the brand's current key and
# its signed_until (the first signature of the hour); a cached token needs the row only.
TOKEN_SIGNED_QUERIES = 3
TOKEN_CACHED_QUERIES = 1


def test_activation_runs_in_few_queries(client, key, django_assert_max_num_queries):
    # The test's own transaction turns the service's into a savepoint: 2 more statements.
    # Lock, count, savepoint, insert, release, audit row, event (3), the license token:
    with django_assert_max_num_queries(6 + 3 + 2 + TOKEN_SIGNED_QUERIES):
        activate(client, key)
    # Lock, count, refresh last_seen_at:
    with django_assert_max_num_queries(3 + 2 + TOKEN_CACHED_QUERIES):
        activate(client, key)


def test_activation_query_count_does_not_grow_with_seats_in_use(client, key, license_):
    License.objects.filter(pk=license_.pk).update(max_seats=None)

    def queries(instance: str) -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.post("/api/v1/product/activate", body(key, instance), format="json")
        return len(ctx.captured_queries)

    queries("warm.example.com")  # the key's first token of the hour writes its signed_until
    first = queries("site-0.example.com")
    ActivationFactory.create_batch(25, license=license_)
    assert queries("site-26.example.com") == first


def test_get_on_activate_is_405(client):
    response = client.get("/api/v1/product/activate")
    assert response.status_code == 405
    assert response.json()["error"] == "method_not_allowed"


def test_trailing_slash_is_optional(client, key):
    response = client.post("/api/v1/product/activate/", body(key), format="json")
    assert response.status_code == 200


# --- bad input: SPEC error codes, never a 500, nothing written -------------------------------

LONG = "a" * 300


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"product_slug": "rankmath-pro", "instance_identifier": "x.com"}, "license_key"),
        ({"license_key": "K", "instance_identifier": "x.com"}, "product_slug"),
        ({"license_key": "K", "product_slug": "rankmath-pro"}, "instance_identifier"),
        ({"license_key": 12345, "product_slug": "rankmath-pro", "instance_identifier": "x"}, None),
        ({"license_key": None, "product_slug": "rankmath-pro", "instance_identifier": "x"}, None),
        ({"license_key": ["K"], "product_slug": "rankmath-pro", "instance_identifier": "x"}, None),
        (
            {"license_key": {"k": 1}, "product_slug": "rankmath-pro", "instance_identifier": "x"},
            None,
        ),
        (
            {"license_key": "K" * 65, "product_slug": "rankmath-pro", "instance_identifier": "x"},
            None,
        ),
        ({"license_key": "K", "product_slug": True, "instance_identifier": "x"}, "product_slug"),
        ({"license_key": "K", "product_slug": "p" * 51, "instance_identifier": "x"}, None),
        ({"license_key": "K", "product_slug": "rankmath-pro", "instance_identifier": ""}, None),
        ({"license_key": "K", "product_slug": "rankmath-pro", "instance_identifier": "   "}, None),
        ({"license_key": "K", "product_slug": "rankmath-pro", "instance_identifier": 7}, None),
        ({"license_key": "K", "product_slug": "rankmath-pro", "instance_identifier": LONG}, None),
        (
            {"license_key": "K", "product_slug": "rankmath-pro", "instance_identifier": "a" * 3000},
            None,
        ),
        (
            {"license_key": "K", "product_slug": "rankmath-pro", "instance_identifier": "ab\x1bc"},
            None,
        ),
    ],
)
def test_invalid_field_is_a_validation_error(client, key, payload, field):
    payload = {name: key if value == "K" else value for name, value in payload.items()}
    response = client.post("/api/v1/product/activate", payload, format="json")
    assert response.status_code == 400
    assert response.json()["error"] == "validation_error"
    problem_field = field or next(
        name
        for name in ("license_key", "product_slug", "instance_identifier")
        if name in response.json()["details"]
    )
    assert problem_field in response.json()["details"]
    assert not Activation.objects.exists()


@pytest.mark.parametrize(
    "raw",
    [
        b'{"license_key": ',
        b"[]",
        b'"just a string"',
        b"null",
        b'{"license_key": NaN}',
        b"\xff\xfe{}",
        b"[" * 5000 + b"]" * 5000,
        b'{"license_key": "K\\u0000", "product_slug": "rankmath-pro", "instance_identifier": "x"}',
        b'{"license_key": "K", "product_slug": "rankmath-pro", "instance_identifier": "\\ud800"}',
        b'{"license_key": "K", "product_slug": "rankmath-pro", "instance_identifier": "a\\u0000"}',
    ],
)
def test_malformed_body_is_a_validation_error(client, key, raw):
    raw = raw.replace(b'"K', b'"' + key.encode())
    response = client.post("/api/v1/product/activate", raw, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"] == "validation_error"
    assert not Activation.objects.exists()


def test_non_json_body_is_unsupported_media_type(client, key):
    response = client.post("/api/v1/product/activate", "license_key=x", content_type="text/plain")
    assert response.status_code == 415
    assert response.json()["error"] == "unsupported_media_type"


@pytest.mark.parametrize(
    "instance",
    ["🚀 rocket-host", "\u202eevil.com", "machine\u00a0id"],
)
def test_odd_unicode_identifier_is_stored_not_a_500(client, key, instance):
    response = activate(client, key, instance)
    assert response.status_code == 200
    assert Activation.objects.get().instance_identifier == instance.strip()
