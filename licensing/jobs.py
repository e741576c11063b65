"""The scheduled jobs of licensing (SPEC §14): announce expiries, purge old Idempotency-Key
records. Each runs from Celery beat (licensing/tasks.py) and as a management command.

Safe on several hosts at once: an announcement is claimed by one conditional UPDATE of its
license row (``expired_announced_for`` set to the expiry it announces, only while it is
another value); the host whose UPDATE changed the row writes the audit row and the event in
the same transaction, and every other host's UPDATE, blocked on the row until that commit,
then matches nothing. A host that dies mid-way rolls back its claim with its event.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from audit.services import Actor, audit_record
from brands.models import Brand
from licensing.models import IdempotencyRecord, License
from licensing.outbox import license_event

BATCH = 500
ACTOR = Actor.system("scheduler")


def _not_announced(field: str) -> Q:
    return Q(**{f"{field}__isnull": True}) | ~Q(**{field: F("expires_at")})


@transaction.atomic
def _announce(*, license_id: int, field: str, type_: str, window: Q) -> bool:
    claimed = (
        License.objects.filter(window, _not_announced(field), pk=license_id, status="valid")
        .exclude(expires_at__isnull=True)
        .update(**{field: F("expires_at")})
    )
    if not claimed:
        return False
    license_ = License.objects.select_related("license_key").get(pk=license_id)
    assert license_.expires_at is not None  # noqa: S101 (the claim required one)
    audit_record(
        action=type_,
        actor=ACTOR,
        target_type="license",
        target_id=license_.pk,
        brand_id=license_.license_key.brand_id,
        license_id=license_.pk,
        after={"expires_at": license_.expires_at.isoformat()},
    )
    license_event(type_, license_id=license_.pk)
    return True


def _run(*, field: str, type_: str, window: Q, batch: int) -> int:
    announced = 0
    while True:
        candidates = list(
            License.objects.filter(window, _not_announced(field), status="valid")
            .order_by("expires_at", "id")
            .values_list("id", flat=True)[:batch]
        )
        claimed = sum(
            _announce(license_id=pk, field=field, type_=type_, window=window) for pk in candidates
        )
        announced += claimed
        # Another host took them all: they are announced, the scan is done.
        if len(candidates) < batch or not claimed:
            return announced


def licenses_announce_expired(*, now: datetime | None = None, batch: int = BATCH) -> int:
    """``license.expired`` once per license per expiry, for valid licenses whose expiry has
    passed (a suspended or cancelled one is not announced: its status already says more).
    Returns how many this run announced."""
    now = now or timezone.now()
    return _run(
        field="expired_announced_for",
        type_="license.expired",
        window=Q(expires_at__lte=now),
        batch=batch,
    )


def licenses_announce_expiring_soon(*, now: datetime | None = None, batch: int = BATCH) -> int:
    """``license.expiring_soon`` once per license per expiry, ``expiring_soon_days`` (the
    brand's) before it. Returns how many this run announced."""
    now = now or timezone.now()
    announced = 0
    for brand_id, days in Brand.objects.filter(expiring_soon_days__gt=0).values_list(
        "id", "expiring_soon_days"
    ):
        window = Q(
            license_key__brand_id=brand_id,
            expires_at__gt=now,
            expires_at__lte=now + timedelta(days=days),
        )
        announced += _run(
            field="expiring_soon_announced_for",
            type_="license.expiring_soon",
            window=window,
            batch=batch,
        )
    return announced


def idempotency_records_purge(*, now: datetime | None = None, batch: int = 1000) -> int:
    """Delete ``Idempotency-Key`` records past their TTL (24 h), in batches. Idempotent:
    another host deleting the same rows only makes this one's DELETE match fewer."""
    cutoff = (now or timezone.now()) - settings.LICENSE_SERVICE["IDEMPOTENCY_TTL"]
    purged = 0
    while True:
        ids = list(
            IdempotencyRecord.objects.filter(created_at__lt=cutoff)
            .order_by("id")
            .values_list("id", flat=True)[:batch]
        )
        if not ids:
            return purged
        deleted, _ = IdempotencyRecord.objects.filter(pk__in=ids, created_at__lt=cutoff).delete()
        purged += deleted
        if len(ids) < batch:
            return purged
