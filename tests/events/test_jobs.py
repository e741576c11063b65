"""Scheduled jobs (SPEC §14): expiry announcements once per license per expiry, the purge
of Idempotency-Key records, the reclaim job; each a Celery task and a command."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.conf import settings
from django.core.management import call_command
from django.utils import timezone

from activations import tasks as activation_tasks
from activations.models import Activation
from audit.models import AuditEvent
from audit.services import Actor
from events.models import Event
from license_service.celery import app
from licensing import jobs, services
from licensing import tasks as licensing_tasks
from licensing.models import IdempotencyRecord
from tests.factories import ActivationFactory, LicenseFactory

pytestmark = pytest.mark.django_db


def now():
    return timezone.now()


def expired_events():
    return list(Event.objects.filter(type="license.expired").order_by("id"))


def test_an_expired_license_is_announced_once(product):
    license_ = LicenseFactory.create(product=product, expires_at=now() - timedelta(seconds=5))
    assert jobs.licenses_announce_expired() == 1
    assert jobs.licenses_announce_expired() == 0
    (event,) = expired_events()
    assert event.data["license"]["license_id"] == license_.pk
    assert event.data["license"]["status"] == "expired"
    assert AuditEvent.objects.filter(action="license.expired", license_id=license_.pk).exists()


def test_a_license_not_yet_expired_is_not_announced(product):
    LicenseFactory.create(product=product, expires_at=now() + timedelta(minutes=1))
    LicenseFactory.create(product=product, expires_at=None)
    assert jobs.licenses_announce_expired() == 0
    assert expired_events() == []


def test_suspended_and_cancelled_licenses_are_not_announced_as_expired(product):
    past = now() - timedelta(hours=1)
    LicenseFactory.create(product=product, expires_at=past, status="suspended")
    LicenseFactory.create(product=product, expires_at=past, status="cancelled")
    assert jobs.licenses_announce_expired() == 0


def test_a_renewed_license_is_announced_again_at_its_new_expiry(product, brand):
    license_ = LicenseFactory.create(product=product, expires_at=now() - timedelta(seconds=5))
    jobs.licenses_announce_expired()
    services.license_renew(
        license_=license_, expires_at=now() + timedelta(days=1), actor=Actor.brand(brand.slug)
    )
    assert jobs.licenses_announce_expired(now=now()) == 0
    assert jobs.licenses_announce_expired(now=now() + timedelta(days=1, seconds=1)) == 1
    assert len(expired_events()) == 2


def test_expiring_soon_is_announced_once_within_the_brands_notice(product, brand):
    soon = LicenseFactory.create(product=product, expires_at=now() + timedelta(days=6))
    LicenseFactory.create(product=product, expires_at=now() + timedelta(days=8))
    assert jobs.licenses_announce_expiring_soon() == 1
    assert jobs.licenses_announce_expiring_soon() == 0
    (event,) = Event.objects.filter(type="license.expiring_soon")
    assert event.data["license"]["license_id"] == soon.pk


def test_a_brand_sets_its_own_notice(product, brand):
    brand.expiring_soon_days = 30
    brand.save()
    LicenseFactory.create(product=product, expires_at=now() + timedelta(days=20))
    assert jobs.licenses_announce_expiring_soon() == 1


def test_a_brand_with_no_notice_hears_no_expiring_soon(product, brand):
    brand.expiring_soon_days = 0
    brand.save()
    LicenseFactory.create(product=product, expires_at=now() + timedelta(days=1))
    assert jobs.licenses_announce_expiring_soon() == 0


def test_an_already_expired_license_is_not_expiring_soon(product):
    LicenseFactory.create(product=product, expires_at=now() - timedelta(days=1))
    assert jobs.licenses_announce_expiring_soon() == 0


def test_each_brand_hears_only_its_own_expiries(product, other_product):
    LicenseFactory.create(product=other_product, expires_at=now() - timedelta(seconds=1))
    jobs.licenses_announce_expired()
    (event,) = expired_events()
    assert event.brand_id == other_product.brand_id


def test_purge_deletes_idempotency_records_past_their_ttl_only(brand):
    old = IdempotencyRecord.objects.create(
        brand=brand, key="old", request_hash="h", response_status=201, response_body={}
    )
    IdempotencyRecord.objects.filter(pk=old.pk).update(
        created_at=now() - settings.LICENSE_SERVICE["IDEMPOTENCY_TTL"] - timedelta(minutes=1)
    )
    IdempotencyRecord.objects.create(
        brand=brand, key="new", request_hash="h", response_status=201, response_body={}
    )
    assert jobs.idempotency_records_purge() == 1
    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["new"]
    assert jobs.idempotency_records_purge() == 0


def test_purge_keeps_audit_events(brand, product):
    LicenseFactory.create(product=product, expires_at=now() - timedelta(seconds=1))
    jobs.licenses_announce_expired()
    jobs.idempotency_records_purge(now=now() + timedelta(days=400))
    assert AuditEvent.objects.filter(action="license.expired").count() == 1


def test_the_reclaim_task_reclaims_dead_activations(product):
    product.heartbeat_seconds = 3600
    product.save()
    license_ = LicenseFactory.create(product=product)
    ActivationFactory.create(license=license_, last_seen_at=now() - timedelta(hours=2))
    assert activation_tasks.reclaim_dead() == "Reclaimed 1 activation(s)."
    assert Activation.objects.filter(reclaimed_at__isnull=False).count() == 1
    assert Event.objects.filter(type="activation.reclaimed").count() == 1


def test_the_licensing_tasks_run_the_jobs(product, brand):
    LicenseFactory.create(product=product, expires_at=now() - timedelta(seconds=1))
    LicenseFactory.create(product=product, expires_at=now() + timedelta(days=2))
    assert licensing_tasks.announce_expired() == 1
    assert licensing_tasks.announce_expiring_soon() == 1
    assert licensing_tasks.purge_idempotency_keys() == 0


@pytest.mark.parametrize(
    ("command", "line"),
    [
        ("announce_expired_licenses", "Announced 1 expired license(s)."),
        ("announce_expiring_licenses", "Announced 0 license(s) expiring soon."),
        ("purge_idempotency_keys", "Purged 0 idempotency record(s)."),
    ],
)
def test_each_job_is_a_management_command(product, command, line):
    LicenseFactory.create(product=product, expires_at=now() - timedelta(seconds=1))
    out = io.StringIO()
    call_command(command, stdout=out)
    assert out.getvalue().strip() == line


def test_every_scheduled_job_is_a_registered_task_run_at_least_every_minute_for_expiry():
    app.loader.import_default_modules()
    schedule = settings.CELERY_BEAT_SCHEDULE
    assert {entry["task"] for entry in schedule.values()} <= set(app.tasks)
    assert 0 < schedule["licenses-announce-expired"]["schedule"] <= 60


def test_staff_set_a_brands_expiring_soon_days(staff_client, brand):
    response = staff_client.patch(
        f"/api/v1/brands/{brand.slug}/", {"expiring_soon_days": 14}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["expiring_soon_days"] == 14
    brand.refresh_from_db()
    assert brand.expiring_soon_days == 14
    assert AuditEvent.objects.filter(action="brand.updated", brand_id=brand.pk).exists()


@pytest.mark.parametrize("days", [-1, 366, "7", None])
def test_expiring_soon_days_out_of_range_is_a_validation_error(staff_client, brand, days):
    response = staff_client.patch(
        f"/api/v1/brands/{brand.slug}/", {"expiring_soon_days": days}, format="json"
    )
    assert response.status_code == 400
    assert "expiring_soon_days" in response.json()["details"]


def test_a_new_brand_gives_seven_days_notice(brand):
    assert brand.expiring_soon_days == 7
