"""Every license.* and activation.* event knows its license (``Event.license_id``), so the
console can list a license's webhook deliveries; older rows get it from their body."""

from __future__ import annotations

import importlib
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.apps import apps
from django.db import connection, transaction
from django.utils import timezone

from activations import services as seats
from audit.services import Actor
from events.models import Event
from events.services import event_record
from licensing import services
from releases.models import Release
from releases.services import release_publish
from tests.factories import ActivationFactory, LicenseFactory

pytestmark = pytest.mark.django_db
ACTOR = Actor.staff("ann")
backfill_migration = importlib.import_module("events.migrations.0004_event_license_id_backfill")


def test_every_license_and_activation_event_names_its_license(brand, product):
    license_ = services.license_provision(
        brand=brand, customer_email="a@example.com", product_slug=product.slug, actor=ACTOR
    )
    services.license_renew(
        license_=license_, expires_at=timezone.now() + timedelta(days=30), actor=ACTOR
    )
    services.license_suspend(license_=license_, actor=ACTOR)
    services.license_resume(license_=license_, actor=ACTOR)
    services.license_set_seats(license_=license_, max_seats=5, actor=ACTOR)
    seats.activation_create(
        license_key=license_.license_key.key,
        product_slug=product.slug,
        instance_identifier="shop.example.com",
        actor=Actor.product(),
    )
    services.license_cancel(license_=license_, actor=ACTOR)
    events = list(Event.objects.order_by("id"))
    assert len(events) == 8  # cancel releases the site: activation.released
    assert {event.license_id for event in events} == {license_.pk}


def test_reclaimed_activations_name_their_license(product):
    product.heartbeat_seconds = 3600
    product.save()
    license_ = LicenseFactory.create(product=product)
    ActivationFactory.create_batch(
        2, license=license_, last_seen_at=timezone.now() - timedelta(hours=2)
    )
    seats.activations_reclaim(license_id=license_.pk, actor=Actor.system())
    assert list(Event.objects.values_list("license_id", flat=True)) == [license_.pk] * 2


def test_a_release_event_names_no_license(product):
    release = Release.objects.create(
        product=product, version="1.0.0", sha256="0" * 64, size=1, package="p.zip"
    )
    release_publish(release=release, actor=ACTOR)
    assert Event.objects.get().license_id is None


def test_the_backfill_reads_the_license_from_old_events_in_batches(brand, monkeypatch):
    monkeypatch.setattr(backfill_migration, "BATCH", 2)
    with transaction.atomic():
        old = [
            event_record(
                type_="license.renewed", brand_id=brand.pk, data={"license": {"license_id": n}}
            )
            for n in (11, 12, 13)
        ]
        odd = [
            event_record(type_="activation.created", brand_id=brand.pk, data={"license": {}}),
            event_record(
                type_="license.expired", brand_id=brand.pk, data={"license": {"license_id": "9"}}
            ),
            event_record(type_="release.published", brand_id=brand.pk, data={"license": 5}),
        ]
    kept = event_record_outside_backfill(brand.pk)

    backfill_migration.backfill(apps, SimpleNamespace(connection=connection))

    assert [Event.objects.get(pk=e.pk).license_id for e in old] == [11, 12, 13]
    assert [Event.objects.get(pk=e.pk).license_id for e in odd] == [None, None, None]
    assert Event.objects.get(pk=kept.pk).license_id == 77


def event_record_outside_backfill(brand_id: int) -> Event:
    """An event recorded with its license: the backfill leaves it as it is."""
    with transaction.atomic():
        return event_record(
            type_="license.suspended",
            brand_id=brand_id,
            data={"license": {"license_id": 1}},
            license_id=77,
        )
