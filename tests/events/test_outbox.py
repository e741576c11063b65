"""Every change a brand cares about writes its event in the same transaction (SPEC §13)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from activations import services as seats
from audit.models import AuditEvent
from audit.services import Actor
from events.errors import EventOutsideTransaction
from events.models import Event
from events.services import event_record
from licensing import services
from licensing.errors import InvalidTransition
from releases.models import Release
from releases.services import release_publish
from tests.factories import ActivationFactory, LicenseFactory

pytestmark = pytest.mark.django_db
ACTOR = Actor.brand("rankmath")


def types() -> list[str]:
    return list(Event.objects.order_by("id").values_list("type", flat=True))


def test_provisioning_writes_the_event_with_the_brand_api_shape(brand, product):
    license_ = services.license_provision(
        brand=brand, customer_email="a@example.com", product_slug=product.slug, actor=ACTOR
    )
    event = Event.objects.get()
    assert event.type == "license.provisioned"
    assert event.brand_id == brand.pk
    body = event.data["license"]
    assert body["license_id"] == license_.pk
    assert body["license_key"] == license_.license_key.key
    assert body["brand"] == "rankmath"
    assert body["product"] == product.slug
    assert body["status"] == "valid"
    assert body["seats_used"] == 0
    assert body["seats_remaining"] == 3


def test_every_lifecycle_action_writes_its_event(brand, product):
    license_ = LicenseFactory.create(product=product)
    services.license_renew(
        license_=license_, expires_at=timezone.now() + timedelta(days=30), actor=ACTOR
    )
    services.license_suspend(license_=license_, actor=ACTOR)
    services.license_resume(license_=license_, actor=ACTOR)
    services.license_set_seats(license_=license_, max_seats=5, actor=ACTOR)
    services.license_cancel(license_=license_, actor=ACTOR)
    assert types() == [
        "license.renewed",
        "license.suspended",
        "license.resumed",
        "license.seats_changed",
        "license.cancelled",
    ]
    last = Event.objects.order_by("id").last()
    assert last is not None
    assert last.data["license"]["status"] == "cancelled"
    assert last.data["license"]["max_seats"] == 5


def test_cancelling_announces_each_released_activation(product):
    license_ = LicenseFactory.create(product=product)
    first, second = ActivationFactory.create_batch(2, license=license_)
    services.license_cancel(license_=license_, actor=ACTOR)
    released = Event.objects.filter(type="activation.released").order_by("id")
    assert [e.data["activation"]["id"] for e in released] == [first.pk, second.pk]
    assert all(e.data["license"]["status"] == "cancelled" for e in released)


def test_seat_changes_write_activation_events(product):
    license_ = LicenseFactory.create(product=product)
    key = license_.license_key.key
    result = seats.activation_create(
        license_key=key,
        product_slug=product.slug,
        instance_identifier="https://shop.example.com",
        actor=Actor.product(),
    )
    seats.activation_release(
        license_key=key,
        product_slug=product.slug,
        instance_identifier="https://shop.example.com",
        actor=Actor.product(),
    )
    created, released = Event.objects.order_by("id")
    assert (created.type, released.type) == ("activation.created", "activation.released")
    assert created.data["activation"]["id"] == result.activation_id
    assert created.data["activation"]["instance_identifier"] == "shop.example.com"
    assert created.data["license"]["seats_used"] == 1
    assert released.data["activation"]["id"] == result.activation_id
    assert released.data["license"]["seats_used"] == 0


def test_reclaim_writes_one_event_per_reclaimed_activation(product):
    product.heartbeat_seconds = 3600
    product.save()
    license_ = LicenseFactory.create(product=product)
    stale = timezone.now() - timedelta(hours=2)
    rows = ActivationFactory.create_batch(2, license=license_, last_seen_at=stale)
    seats.activations_reclaim(license_id=license_.pk, actor=Actor.system())
    events = Event.objects.filter(type="activation.reclaimed").order_by("id")
    assert sorted(e.data["activation"]["id"] for e in events) == sorted(r.pk for r in rows)
    assert {e.data["activation"]["status"] for e in events} == {"reclaimed"}


def test_publishing_a_release_writes_its_event(brand, product):
    release = Release.objects.create(
        product=product, version="1.2.0", sha256="0" * 64, size=1, package="p.zip"
    )
    release_publish(release=release, actor=ACTOR)
    event = Event.objects.get(type="release.published")
    assert event.brand_id == brand.pk
    assert event.data["release"]["version"] == "1.2.0"
    assert event.data["release"]["published"] is True


def test_a_failed_change_leaves_neither_audit_row_nor_event(product):
    license_ = LicenseFactory.create(product=product, status="cancelled")
    with pytest.raises(InvalidTransition):
        services.license_suspend(license_=license_, actor=ACTOR)
    assert not Event.objects.exists()
    assert not AuditEvent.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_an_event_outside_a_transaction_is_refused(brand):
    with pytest.raises(EventOutsideTransaction):
        event_record(type_="license.expired", brand_id=brand.pk, data={})


def test_an_unknown_event_type_is_refused(brand):
    with transaction.atomic(), pytest.raises(ValueError, match="unknown event type"):
        event_record(type_="license.exploded", brand_id=brand.pk, data={})
