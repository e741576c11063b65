"""POST /api/v1/product/heartbeat (SEATS rule 6) and deactivate of a reclaimed row."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from activations.models import Activation
from activations.selectors import iso_datetime
from audit.models import AuditEvent
from tests.activations.conftest import body, deactivate
from tests.factories import ActivationFactory, LicenseFactory

pytestmark = pytest.mark.django_db

HEARTBEAT = 600


def ago(seconds: float):
    return timezone.now() - timedelta(seconds=seconds)


def heartbeat(client, key: str, instance: Any = "example.com", **extra: Any) -> Any:
    return client.post("/api/v1/product/heartbeat", {**body(key, instance), **extra}, format="json")


@pytest.fixture
def beating(product):
    product.heartbeat_seconds = HEARTBEAT
    product.save(update_fields=["heartbeat_seconds"])
    return product


@pytest.fixture
def every_time(settings):
    settings.LICENSE_SERVICE = {**settings.LICENSE_SERVICE, "HEARTBEAT_INTERVAL": 0}


def test_heartbeat_of_a_live_instance(client, key, license_, beating, every_time):
    row = ActivationFactory.create(
        license=license_, instance_identifier="example.com", last_seen_at=ago(60)
    )
    response = heartbeat(client, key, "https://www.example.com/", unknown="ignored")
    assert response.status_code == 200
    row.refresh_from_db()
    assert row.last_seen_at > ago(5)
    assert response.json() == {
        "success": True,
        "license_id": license_.pk,
        "activation_id": row.pk,
        "instance_active": True,
        "environment": "production",
        "status": "active",
        "heartbeat_seconds": HEARTBEAT,
        "last_seen_at": iso_datetime(row.last_seen_at),
    }


def test_heartbeat_is_coalesced(client, key, license_, beating, settings):
    settings.LICENSE_SERVICE = {**settings.LICENSE_SERVICE, "HEARTBEAT_INTERVAL": 3600}
    row = ActivationFactory.create(license=license_, instance_identifier="example.com")
    heartbeat(client, key)
    row.refresh_from_db()
    first = row.last_seen_at
    assert heartbeat(client, key).json()["last_seen_at"] == iso_datetime(first)
    row.refresh_from_db()
    assert row.last_seen_at == first


def test_heartbeat_revives_a_dead_instance_at_once(client, key, license_, beating, settings):
    settings.LICENSE_SERVICE = {**settings.LICENSE_SERVICE, "HEARTBEAT_INTERVAL": 3600}
    row = ActivationFactory.create(license=license_, instance_identifier="example.com")
    heartbeat(client, key)  # the marker is set
    Activation.objects.filter(pk=row.pk).update(last_seen_at=ago(HEARTBEAT * 2))
    response = heartbeat(client, key)
    assert response.json()["instance_active"] is True
    row.refresh_from_db()
    assert row.last_seen_at > ago(5)


def test_a_reclaimed_instance_takes_a_free_seat_back(client, key, license_, beating):
    row = ActivationFactory.create(
        license=license_,
        instance_identifier="example.com",
        last_seen_at=ago(HEARTBEAT * 2),
        reclaimed_at=ago(60),
    )
    response = heartbeat(client, key)
    assert response.json()["instance_active"] is True
    assert response.json()["status"] == "active"
    row.refresh_from_db()
    assert row.reclaimed_at is None
    assert (AuditEvent.objects.get().after or {})["reason"] == "returned"


def test_a_reclaimed_instance_without_a_place_is_told_so(client, key, license_, beating):
    row = ActivationFactory.create(
        license=license_,
        instance_identifier="example.com",
        last_seen_at=ago(HEARTBEAT * 2),
        reclaimed_at=ago(60),
    )
    ActivationFactory.create_batch(3, license=license_)
    response = heartbeat(client, key)
    assert response.status_code == 200
    answer = response.json()
    assert (answer["instance_active"], answer["reason"], answer["status"]) == (
        False,
        "reclaimed",
        "reclaimed",
    )
    assert answer["last_seen_at"] == iso_datetime(row.last_seen_at)


def test_an_instance_without_a_row_is_activation_not_found(client, key, license_):
    response = heartbeat(client, key, "nowhere.com")
    assert response.status_code == 404
    assert response.json()["error"] == "activation_not_found"


def test_an_unknown_key_is_license_not_found(client, product):
    unknown = LicenseFactory.build(product=product).license_key.key
    response = heartbeat(client, unknown)
    assert response.status_code == 404
    assert response.json()["error"] == "license_not_found"


def test_heartbeat_input_is_validated(client, key):
    response = heartbeat(client, key, 5)
    assert response.status_code == 400
    assert set(response.json()["details"]) == {"instance_identifier"}


def test_heartbeat_without_a_product_heartbeat_reports_null(client, key, license_):
    ActivationFactory.create(license=license_, instance_identifier="example.com")
    assert heartbeat(client, key).json()["heartbeat_seconds"] is None


# --- deactivate ----------------------------------------------------------------------------


def test_deactivating_a_reclaimed_instance_deletes_its_row(client, key, license_, beating):
    row = ActivationFactory.create(
        license=license_,
        instance_identifier="example.com",
        last_seen_at=ago(HEARTBEAT * 2),
        reclaimed_at=ago(60),
    )
    ActivationFactory.create(license=license_)
    ActivationFactory.create(license=license_, instance_identifier="localhost", environment="local")
    response = deactivate(client, key, "example.com")
    assert response.status_code == 200
    assert response.json()["seats_used"] == 1
    assert response.json()["non_production_in_use"] == 1
    assert not Activation.objects.filter(pk=row.pk).exists()
