"""DELETE /api/v1/brand/activations/{activation_id}: a brand frees its customer's seat."""

from __future__ import annotations

import pytest
from django.core.cache import cache

from activations.check.keys import check_cache_key
from activations.models import Activation
from audit.models import AuditEvent
from tests.conftest import make_brand_client
from tests.factories import ActivationFactory, LicenseFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def activation(license_):
    return ActivationFactory.create(license=license_, instance_identifier="example.com")


def url(activation_id: int) -> str:
    return f"/api/v1/brand/activations/{activation_id}"


def test_brand_releases_its_customers_seat(brand_client, activation):
    response = brand_client.delete(url(activation.id))
    assert response.status_code == 204
    assert not Activation.objects.exists()


def test_trailing_slash_is_optional(brand_client, activation):
    response = brand_client.delete(url(activation.id) + "/")
    assert response.status_code == 204


def test_release_is_audited_with_the_brand_as_actor(brand_client, activation, license_):
    brand_client.delete(url(activation.id))
    event = AuditEvent.objects.get(action="activation.released")
    assert (event.actor_type, event.actor) == ("brand", "rankmath")
    assert event.target_id == str(activation.id)
    assert event.license_id == license_.id
    assert (event.before or {}).get("instance_identifier") == "example.com"


def test_release_drops_the_cached_check_answer(
    brand_client, client, activation, key, django_capture_on_commit_callbacks
):
    client.get(f"/api/v1/product/check/{key}")
    with django_capture_on_commit_callbacks(execute=True):
        brand_client.delete(url(activation.id))
    assert cache.get(check_cache_key(key)) is None
    assert client.get(f"/api/v1/product/check/{key}").json()["entitlements"][0]["seats_used"] == 0


def test_other_brand_gets_404(other_brand_client, activation):
    response = other_brand_client.delete(url(activation.id))
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"
    assert Activation.objects.exists()


def test_other_brands_activation_is_404_for_this_brand(brand_client, other_product):
    theirs = ActivationFactory.create(license=LicenseFactory.create(product=other_product))
    response = brand_client.delete(url(theirs.id))
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"
    assert Activation.objects.filter(pk=theirs.pk).exists()


@pytest.mark.parametrize("activation_id", ["999999", "999999999999999999"])
def test_unknown_activation_is_404(brand_client, activation_id):
    response = brand_client.delete(f"/api/v1/brand/activations/{activation_id}")
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


def test_release_needs_the_licenses_write_scope(brand, activation):
    reader = make_brand_client(brand, scopes=["licenses:read"])
    response = reader.delete(url(activation.id))
    assert response.status_code == 403
    assert response.json()["error"] == "permission_denied"
    assert Activation.objects.exists()


def test_release_needs_a_brand_credential(client, activation):
    response = client.delete(url(activation.id))
    assert response.status_code == 401
    assert response.json()["error"] == "not_authenticated"


def test_product_key_is_no_brand_credential(client, activation, key):
    response = client.delete(url(activation.id), HTTP_X_BRAND_API_KEY=key)
    assert response.status_code == 401


def test_get_is_405(brand_client, activation):
    response = brand_client.get(url(activation.id))
    assert response.status_code == 405
    assert response.json()["error"] == "method_not_allowed"
