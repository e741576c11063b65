"""US5: POST /api/v1/product/deactivate and DELETE /api/v1/product/activate."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from activations.models import Activation
from audit.models import AuditEvent
from licensing.models import License
from tests.activations.conftest import activate, body, deactivate
from tests.factories import ActivationFactory, LicenseFactory

pytestmark = pytest.mark.django_db


def test_deactivation_frees_the_seat(client, key, license_):
    ActivationFactory.create(license=license_)
    activate(client, key, "example.com")
    response = deactivate(client, key, "https://www.example.com/")
    assert response.status_code == 200
    assert response.json() == {
        "success": True,
        "message": "Seat released.",
        "seats_used": 1,
        "max_seats": 3,
        "seats_remaining": 2,
        "non_production_in_use": 0,
    }
    assert not Activation.objects.filter(instance_identifier="example.com").exists()


def test_delete_on_activate_with_a_json_body_deactivates(client, key):
    activate(client, key)
    response = client.delete("/api/v1/product/activate", body(key, "example.com"), format="json")
    assert response.status_code == 200
    assert response.json()["seats_used"] == 0
    assert not Activation.objects.exists()


def test_freed_seat_can_be_taken_by_another_instance(client, key, license_):
    ActivationFactory.create_batch(2, license=license_)
    activate(client, key, "a.example.com")
    assert activate(client, key, "b.example.com").status_code == 409
    deactivate(client, key, "a.example.com")
    assert activate(client, key, "b.example.com").status_code == 200


@pytest.mark.parametrize(
    "changes",
    [
        {"status": License.Status.SUSPENDED},
        {"status": License.Status.CANCELLED},
        {"expires_at": timezone.now() - timedelta(days=1)},
    ],
)
def test_deactivation_is_allowed_whatever_the_license_status(client, key, license_, changes):
    ActivationFactory.create(license=license_, instance_identifier="example.com")
    License.objects.filter(pk=license_.pk).update(**changes)
    response = deactivate(client, key, "example.com")
    assert response.status_code == 200
    assert not Activation.objects.exists()


def test_inactive_instance_is_activation_not_found(client, key, license_):
    ActivationFactory.create(license=license_, instance_identifier="other.example.com")
    response = deactivate(client, key, "example.com")
    assert response.status_code == 404
    assert response.json()["error"] == "activation_not_found"
    assert Activation.objects.count() == 1


def test_instance_of_another_license_is_activation_not_found(client, key, product):
    ActivationFactory.create(
        license=LicenseFactory.create(product=product), instance_identifier="example.com"
    )
    response = deactivate(client, key, "example.com")
    assert response.status_code == 404
    assert response.json()["error"] == "activation_not_found"
    assert Activation.objects.count() == 1


def test_unknown_key_is_license_not_found(client, product):
    unknown = LicenseFactory.build(product=product).license_key.key
    response = deactivate(client, unknown)
    assert response.status_code == 404
    assert response.json()["error"] == "license_not_found"


def test_deactivation_is_audited_with_instance_and_actor(client, key, license_):
    activate(client, key, "example.com/shop")
    activation_id = Activation.objects.get().id
    deactivate(client, key, "https://example.com/shop/")
    event = AuditEvent.objects.get(action="activation.released")
    assert (event.actor_type, event.actor) == ("product", "product")
    assert event.target_id == str(activation_id)
    assert event.license_id == license_.id
    assert event.brand_id == license_.product.brand_id
    assert (event.before or {}).get("instance_identifier") == "example.com/shop"
    assert event.after is None


@pytest.mark.parametrize(
    "raw",
    [b"{", b"[1]", b'{"license_key": 1, "product_slug": "p", "instance_identifier": "x"}'],
)
def test_malformed_deactivation_is_a_validation_error(client, key, license_, raw):
    ActivationFactory.create(license=license_, instance_identifier="example.com")
    for method in (client.post, client.delete):
        url = "/api/v1/product/deactivate" if method == client.post else "/api/v1/product/activate"
        response = method(url, raw, content_type="application/json")
        assert response.status_code == 400
        assert response.json()["error"] == "validation_error"
    assert Activation.objects.count() == 1
    assert not AuditEvent.objects.exists()


def test_get_on_deactivate_is_405(client):
    response = client.get("/api/v1/product/deactivate")
    assert response.status_code == 405
    assert response.json()["error"] == "method_not_allowed"
