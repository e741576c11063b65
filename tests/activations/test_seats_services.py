"""The seat services the check calls (SEATS rules 2, 4, 6): the coalesced heartbeat and
the return of a reclaimed row."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from activations import services
from activations.models import Activation
from audit.models import AuditEvent
from audit.services import Actor
from tests.factories import ActivationFactory, LicenseFactory

pytestmark = pytest.mark.django_db

HEARTBEAT = 600


@pytest.fixture
def live_product(product, settings):
    settings.LICENSE_SERVICE = {**settings.LICENSE_SERVICE, "HEARTBEAT_MIN_SECONDS": 1}
    product.heartbeat_seconds = HEARTBEAT
    product.save(update_fields=["heartbeat_seconds"])
    return product


def ago(seconds: int):
    return timezone.now() - timedelta(seconds=seconds)


@pytest.mark.parametrize(
    ("interval", "heartbeat_seconds", "expected"),
    [(3600, None, 3600), (3600, 600, 150), (3600, 2, 1), (60, 600, 60), (0, 600, 0), (0, None, 0)],
)
def test_heartbeat_interval(settings, interval, heartbeat_seconds, expected):
    settings.LICENSE_SERVICE = {**settings.LICENSE_SERVICE, "HEARTBEAT_INTERVAL": interval}
    assert services.heartbeat_interval(heartbeat_seconds) == expected


def heartbeat(license_, instance, **kwargs):
    return services.activation_heartbeat(
        license_key=license_.license_key.key,
        license_ids=[license_.pk],
        instance_identifier=instance,
        **{"heartbeat_seconds": HEARTBEAT, **kwargs},
    )


def test_heartbeat_is_coalesced_per_key_and_instance(live_product, settings):
    settings.LICENSE_SERVICE = {**settings.LICENSE_SERVICE, "HEARTBEAT_INTERVAL": 3600}
    license_ = LicenseFactory.create(product=live_product)
    row = ActivationFactory.create(license=license_, last_seen_at=ago(100))
    assert heartbeat(license_, row.instance_identifier) is True
    row.refresh_from_db()
    first = row.last_seen_at
    assert first > ago(5)
    assert heartbeat(license_, row.instance_identifier) is False
    row.refresh_from_db()
    assert row.last_seen_at == first


def test_revive_writes_at_once_and_forgets_the_check_cache(
    live_product, settings, django_capture_on_commit_callbacks, monkeypatch
):
    settings.LICENSE_SERVICE = {**settings.LICENSE_SERVICE, "HEARTBEAT_INTERVAL": 3600}
    license_ = LicenseFactory.create(product=live_product)
    row = ActivationFactory.create(license=license_, last_seen_at=ago(HEARTBEAT * 2))
    forgotten: list[str] = []
    monkeypatch.setattr("activations.check.keys.check_cache_forget", forgotten.append)
    assert heartbeat(license_, row.instance_identifier) is True  # sets the marker
    row.last_seen_at = ago(HEARTBEAT * 2)
    row.save(update_fields=["last_seen_at"])
    with django_capture_on_commit_callbacks(execute=True):
        assert heartbeat(license_, row.instance_identifier, revive=True) is True
    row.refresh_from_db()
    assert row.last_seen_at > ago(5)
    assert forgotten == [license_.license_key.key]


def test_heartbeat_never_writes_a_reclaimed_row(live_product, settings):
    settings.LICENSE_SERVICE = {**settings.LICENSE_SERVICE, "HEARTBEAT_INTERVAL": 0}
    license_ = LicenseFactory.create(product=live_product)
    seen = ago(HEARTBEAT * 2)
    row = ActivationFactory.create(license=license_, last_seen_at=seen, reclaimed_at=ago(10))
    assert heartbeat(license_, row.instance_identifier) is False
    assert heartbeat(license_, row.instance_identifier, revive=True) is False
    row.refresh_from_db()
    assert row.last_seen_at == seen


def test_no_licenses_no_write(live_product):
    assert (
        services.activation_heartbeat(
            license_key="X", license_ids=[], instance_identifier="a.com", heartbeat_seconds=None
        )
        is False
    )


def give_back(license_, instance):
    return services.activation_return(
        license_id=license_.pk, instance_identifier=instance, actor=Actor.product()
    )


def test_return_takes_a_free_place_back(live_product):
    license_ = LicenseFactory.create(product=live_product, max_seats=2)
    row = ActivationFactory.create(
        license=license_, last_seen_at=ago(HEARTBEAT * 2), reclaimed_at=ago(100)
    )
    ActivationFactory.create(license=license_)  # one live seat, one free
    assert give_back(license_, row.instance_identifier) is True
    row.refresh_from_db()
    assert row.reclaimed_at is None
    assert row.last_seen_at > ago(5)
    event = AuditEvent.objects.get(action="activation.created", target_id=str(row.pk))
    assert (event.after or {})["reason"] == "returned"


def test_return_reclaims_a_dead_row_to_make_room(live_product):
    license_ = LicenseFactory.create(product=live_product, max_seats=2)
    row = ActivationFactory.create(
        license=license_, last_seen_at=ago(HEARTBEAT * 3), reclaimed_at=ago(100)
    )
    dead = ActivationFactory.create(license=license_, last_seen_at=ago(HEARTBEAT * 2))
    ActivationFactory.create(license=license_)
    assert give_back(license_, row.instance_identifier) is True
    dead.refresh_from_db()
    assert dead.reclaimed_at is not None
    event = AuditEvent.objects.get(action="activation.reclaimed")
    assert event.target_id == str(dead.pk)
    assert (event.after or {})["reason"] == "dead"


def test_return_without_a_place_changes_nothing(live_product):
    license_ = LicenseFactory.create(product=live_product, max_seats=1)
    row = ActivationFactory.create(
        license=license_, last_seen_at=ago(HEARTBEAT * 2), reclaimed_at=ago(100)
    )
    ActivationFactory.create(license=license_)
    assert give_back(license_, row.instance_identifier) is False
    row.refresh_from_db()
    assert row.reclaimed_at is not None
    assert not AuditEvent.objects.exists()


def test_return_of_a_row_that_holds_its_place_or_of_none(live_product):
    license_ = LicenseFactory.create(product=live_product, max_seats=1)
    row = ActivationFactory.create(license=license_)
    assert give_back(license_, row.instance_identifier) is True
    assert give_back(license_, "nowhere.example.com") is False
    assert Activation.objects.filter(reclaimed_at__isnull=False).count() == 0


def test_return_on_a_suspended_license_is_refused(live_product):
    license_ = LicenseFactory.create(product=live_product, max_seats=2, status="suspended")
    row = ActivationFactory.create(
        license=license_, last_seen_at=ago(HEARTBEAT * 2), reclaimed_at=ago(100)
    )
    assert give_back(license_, row.instance_identifier) is False
