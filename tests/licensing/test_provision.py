"""US1: provisioning, the key-choice rules and its audit row."""

from __future__ import annotations

import pytest

from audit.models import AuditEvent
from licensing.keys import canonical_license_key, generate_license_key
from licensing.models import License, LicenseKey
from tests.factories import LicenseKeyFactory
from tests.licensing.conftest import future, provision

pytestmark = pytest.mark.django_db


def test_provision_creates_a_key_and_a_license(brand_client, product):
    response = provision(brand_client, customer_email="  User@Example.COM ", max_seats=5)
    assert response.status_code == 201
    body = response.json()
    assert canonical_license_key(body["license_key"]) == body["license_key"]
    assert body["license_key"].startswith("RNKM-")
    assert body["customer_email"] == "user@example.com"
    assert body["brand"] == "rankmath"
    assert body["product"] == "rankmath-pro"
    assert body["status"] == "valid"
    assert body["expires_at"] is None
    assert body["max_seats"] == 5
    assert set(body) == {
        "license_key",
        "license_id",
        "customer_email",
        "brand",
        "product",
        "status",
        "expires_at",
        "max_seats",
        "created_at",
    }
    assert License.objects.get(pk=body["license_id"]).license_key.key == body["license_key"]


def test_max_seats_defaults_to_the_products_default(brand_client, product):
    assert provision(brand_client).json()["max_seats"] == 3


def test_null_max_seats_means_unlimited(brand_client, product):
    assert provision(brand_client, max_seats=None).json()["max_seats"] is None


def test_expires_at_is_stored(brand_client, product):
    expires = future(30)
    body = provision(brand_client, expires_at=expires).json()
    assert body["expires_at"] is not None
    assert License.objects.get(pk=body["license_id"]).expires_at is not None


def test_second_product_goes_on_the_customers_existing_key(brand_client, product, second_product):
    first = provision(brand_client).json()
    second = provision(brand_client, product_slug="content-ai").json()
    assert second["license_key"] == first["license_key"]
    assert LicenseKey.objects.count() == 1


def test_existing_key_is_found_whatever_the_email_case(brand_client, product, second_product):
    first = provision(brand_client, customer_email="user@example.com").json()
    second = provision(brand_client, customer_email="USER@example.com", product_slug="content-ai")
    assert second.json()["license_key"] == first["license_key"]


def test_new_key_true_gives_a_fresh_key(brand_client, product):
    first = provision(brand_client).json()
    second = provision(brand_client, new_key=True).json()
    assert second["license_key"] != first["license_key"]
    assert LicenseKey.objects.count() == 2


def test_license_key_adds_to_that_key(brand_client, product, second_product):
    first = provision(brand_client).json()
    provision(brand_client, new_key=True, product_slug="content-ai")
    response = provision(
        brand_client, license_key=first["license_key"].lower(), product_slug="content-ai"
    )
    assert response.status_code == 201
    assert response.json()["license_key"] == first["license_key"]


def test_license_key_of_another_email_is_a_key_conflict(brand_client, product, second_product):
    first = provision(brand_client).json()
    response = provision(
        brand_client,
        customer_email="someone-else@example.com",
        license_key=first["license_key"],
        product_slug="content-ai",
    )
    assert response.status_code == 409
    assert response.json()["error"] == "key_conflict"


def test_license_key_of_another_brand_is_a_key_conflict(brand_client, product, other_brand):
    foreign = LicenseKeyFactory.create(brand=other_brand, customer_email="user@example.com")
    response = provision(brand_client, license_key=foreign.key)
    assert response.status_code == 409
    assert response.json()["error"] == "key_conflict"


def test_unknown_license_key_is_license_not_found(brand_client, product):
    response = provision(brand_client, license_key=generate_license_key("RNKM"))
    assert response.status_code == 404
    assert response.json()["error"] == "license_not_found"


def test_malformed_license_key_is_answered_like_an_unknown_one(brand_client, product):
    response = provision(brand_client, license_key="RNKM-NOT-A-KEY")
    assert response.status_code == 404
    assert response.json()["error"] == "license_not_found"


def test_same_product_twice_is_already_entitled(brand_client, product):
    provision(brand_client)
    response = provision(brand_client)
    assert response.status_code == 409
    assert response.json()["error"] == "already_entitled"
    assert License.objects.count() == 1


def test_cancelled_license_still_holds_its_slot(brand_client, product):
    body = provision(brand_client).json()
    brand_client.patch(
        f"/api/v1/brand/licenses/{body['license_id']}", {"action": "cancel"}, format="json"
    )
    assert provision(brand_client).json()["error"] == "already_entitled"
    assert provision(brand_client, new_key=True).status_code == 201


def test_another_brands_product_slug_is_refused(brand_client, product, other_product):
    response = provision(brand_client, product_slug=other_product.slug)
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"
    assert response.json()["details"] == {"product_slug": ["No product with this slug."]}


def test_provision_writes_one_audit_event(brand_client, product):
    body = provision(brand_client).json()
    event = AuditEvent.objects.get(action="license.provisioned")
    assert event.license_id == body["license_id"]
    assert event.actor_type == "brand"
    assert event.actor == "rankmath"
    assert event.request_id
    assert event.client_ip == "127.0.0.1"
    assert event.after is not None
    assert event.after["status"] == "valid"
    assert event.after["product"] == "rankmath-pro"


def test_request_id_of_the_call_is_on_the_audit_event(brand_client, product):
    brand_client.post(
        "/api/v1/brand/licenses",
        {"customer_email": "a@example.com", "product_slug": "rankmath-pro"},
        format="json",
        HTTP_X_REQUEST_ID="req-42",
    )
    assert AuditEvent.objects.get(action="license.provisioned").request_id == "req-42"


def test_email_domain_is_stored_in_its_ascii_form(brand_client, product):
    response = provision(brand_client, customer_email=" Ann@EXÄMPLE.com ")
    assert response.status_code == 201
    assert response.json()["customer_email"] == "ann@xn--exmple-cua.com"
    assert LicenseKey.objects.get().customer_email == "ann@xn--exmple-cua.com"


def test_every_spelling_of_an_email_domain_finds_the_customers_key(
    brand_client, product, second_product
):
    first = provision(brand_client, customer_email="ann@exämple.com")
    again = provision(
        brand_client, customer_email="ANN@XN--EXMPLE-CUA.COM", product_slug="content-ai"
    )
    assert again.status_code == 201
    assert again.json()["license_key"] == first.json()["license_key"]
    assert LicenseKey.objects.count() == 1


@pytest.mark.parametrize(
    "email", ["ann@xn--zz.com", "ann@ex\u200dample.com", "a" * 60 + "@" + "ü" * 60 + ".com"]
)
def test_email_whose_domain_is_no_valid_host_name_is_refused(brand_client, product, email):
    response = provision(brand_client, customer_email=email)
    assert response.status_code == 400
    assert response.json()["error"] == "validation_error"
    assert list(response.json()["details"]) == ["customer_email"]
    assert not LicenseKey.objects.exists()
