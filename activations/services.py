"""Every write on seats: activate, release, heartbeat.

Seats are race-free because each seat change first locks its License row
(``SELECT … FOR UPDATE`` on PostgreSQL; SQLite serializes writers with ``BEGIN IMMEDIATE``):
the count of seats in use and the insert happen under that lock, so N concurrent
activations on M free seats yield exactly M seats. The unique (license, instance) constraint
backs this up for one instance activated twice at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.db.models import Count, Max, Q
from django.utils import timezone

from activations.check.keys import check_cache_forget_on_commit
from activations.errors import (
    ActivationNotFound,
    LicenseCancelled,
    LicenseExpired,
    LicenseNotFound,
    LicenseSuspended,
    SeatLimitExceeded,
)
from activations.models import Activation
from activations.normalize import clean_instance_identifier
from activations.selectors import instance_hash
from audit.services import Actor, audit_record
from brands.models import Brand
from license_service.errors import NotFound, ValidationFailed
from license_service.redis.breaker import cache_failed, cache_unavailable
from licensing.keys import canonical_license_key
from licensing.models import License
from licensing.selectors import seats_remaining

MAX_DB_ID = 2**63 - 1

_REFUSALS = {
    License.Status.SUSPENDED: LicenseSuspended,
    License.Status.CANCELLED: LicenseCancelled,
    License.EXPIRED: LicenseExpired,
}


@dataclass(frozen=True, slots=True)
class SeatState:
    """A license's seats after a change (what the product API answers)."""

    license_id: int
    status: str
    expires_at: datetime | None
    seats_used: int
    max_seats: int | None

    @property
    def seats_remaining(self) -> int | None:
        return seats_remaining(seats_used=self.seats_used, max_seats=self.max_seats)


@dataclass(frozen=True, slots=True)
class ActivationResult:
    activation_id: int
    created: bool
    seats: SeatState


def _clean_instance(instance_identifier: str) -> str:
    try:
        return clean_instance_identifier(instance_identifier)
    except ValueError as exc:
        raise ValidationFailed(
            "Invalid input.", details={"instance_identifier": [str(exc)]}
        ) from exc


def _locked_license(*, license_key: str, product_slug: str) -> License:
    """The license of this key for this product, its row locked until commit."""
    key = canonical_license_key(license_key)
    if key is None:
        raise LicenseNotFound()
    license_ = (
        License.objects.select_for_update(of=("self",))
        .select_related("license_key", "product")
        .filter(license_key__key=key, product__slug=product_slug)
        .first()
    )
    if license_ is None:
        raise LicenseNotFound()
    return license_


def _seat_state(license_: License, seats_used: int, now: datetime | None = None) -> SeatState:
    return SeatState(
        license_id=license_.pk,
        status=license_.effective_status(now),
        expires_at=license_.expires_at,
        seats_used=seats_used,
        max_seats=license_.max_seats,
    )


def _activation_snapshot(activation: Activation) -> dict[str, object]:
    return {
        "instance_identifier": activation.instance_identifier,
        "license_id": activation.license_id,
        "activated_at": activation.activated_at.isoformat(),
        "last_seen_at": activation.last_seen_at.isoformat(),
    }


@transaction.atomic
def activation_create(
    *, license_key: str, product_slug: str, instance_identifier: str, actor: Actor
) -> ActivationResult:
    """Take a seat for this instance, or refresh it when the instance already holds one
    (never a second seat). The instance identifier is normalized (SPEC §6).

    Raises LicenseNotFound (unknown or malformed key, no license for the product),
    LicenseSuspended / LicenseCancelled / LicenseExpired, SeatLimitExceeded, and
    ValidationFailed for an identifier that is empty or too long once normalized.
    """
    instance = _clean_instance(instance_identifier)
    license_ = _locked_license(license_key=license_key, product_slug=product_slug)
    now = timezone.now()
    status = license_.effective_status(now)
    if status in _REFUSALS:
        raise _REFUSALS[status]()

    stats = Activation.objects.filter(license=license_).aggregate(
        used=Count("id"), mine=Max("id", filter=Q(instance_identifier=instance))
    )
    if stats["mine"] is not None:
        Activation.objects.filter(pk=stats["mine"]).update(last_seen_at=now)
        return ActivationResult(
            activation_id=stats["mine"], created=False, seats=_seat_state(license_, stats["used"])
        )
    if license_.max_seats is not None and stats["used"] >= license_.max_seats:
        raise SeatLimitExceeded(seats_used=stats["used"], max_seats=license_.max_seats)

    try:
        with transaction.atomic():
            activation = Activation.objects.create(
                license=license_, instance_identifier=instance, activated_at=now, last_seen_at=now
            )
    except IntegrityError:
        # The same instance was activated by a writer that did not take the row lock.
        existing = Activation.objects.get(license=license_, instance_identifier=instance)
        return ActivationResult(
            activation_id=existing.pk,
            created=False,
            seats=_seat_state(license_, license_.activations.count()),
        )

    audit_record(
        action="activation.created",
        actor=actor,
        target_type="activation",
        target_id=activation.pk,
        brand_id=license_.product.brand_id,
        license_id=license_.pk,
        after=_activation_snapshot(activation),
    )
    check_cache_forget_on_commit(license_.license_key.key)
    return ActivationResult(
        activation_id=activation.pk, created=True, seats=_seat_state(license_, stats["used"] + 1)
    )


def _release(*, license_: License, activation: Activation, actor: Actor) -> SeatState:
    before = _activation_snapshot(activation)
    activation_id = activation.pk
    deleted, _ = Activation.objects.filter(pk=activation_id).delete()
    if not deleted:
        raise ActivationNotFound()
    audit_record(
        action="activation.released",
        actor=actor,
        target_type="activation",
        target_id=activation_id,
        brand_id=license_.product.brand_id,
        license_id=license_.pk,
        before=before,
    )
    check_cache_forget_on_commit(license_.license_key.key)
    return _seat_state(license_, license_.activations.count())


@transaction.atomic
def activation_release(
    *, license_key: str, product_slug: str, instance_identifier: str, actor: Actor
) -> SeatState:
    """Free the seat of this instance, whatever the license's status (a customer can always
    free a seat).

    Raises LicenseNotFound, ActivationNotFound, and ValidationFailed for an identifier that
    is empty or too long once normalized.
    """
    instance = _clean_instance(instance_identifier)
    license_ = _locked_license(license_key=license_key, product_slug=product_slug)
    activation = Activation.objects.filter(license=license_, instance_identifier=instance).first()
    if activation is None:
        raise ActivationNotFound()
    return _release(license_=license_, activation=activation, actor=actor)


@transaction.atomic
def activation_release_by_id(*, brand: Brand, activation_id: int, actor: Actor) -> SeatState:
    """A brand frees a seat on its customer's behalf.

    Raises NotFound for an unknown activation or one of another brand (never revealing
    that it exists).
    """
    if not 0 < activation_id <= MAX_DB_ID:
        raise NotFound()
    activation = (
        Activation.objects.filter(pk=activation_id, license__product__brand=brand)
        .only("pk", "license_id", "instance_identifier", "activated_at", "last_seen_at")
        .first()
    )
    if activation is None:
        raise NotFound()
    license_ = (
        License.objects.select_for_update(of=("self",))
        .select_related("license_key", "product")
        .get(pk=activation.license_id)
    )
    return _release(license_=license_, activation=activation, actor=actor)


def activation_heartbeat(
    *, license_key: str, license_ids: list[int], instance_identifier: str
) -> bool:
    """Refresh ``last_seen_at`` of this instance on these licenses, at most once per
    ``HEARTBEAT_INTERVAL`` seconds per (key, instance), so a check stays a cache hit.

    Bookkeeping only: no audit row and no cache invalidation (``last_seen_at`` is not part
    of any check answer). Skipped while the cache is down, to spare the database. Returns
    whether the database was written.
    """
    if not license_ids:
        return False
    interval = settings.LICENSE_SERVICE["HEARTBEAT_INTERVAL"]
    if interval > 0:
        if cache_unavailable():
            return False
        marker = f"heartbeat:v1:{license_key}:{instance_hash(instance_identifier)}"
        try:
            added = cache.add(marker, 1, timeout=interval)
        except Exception:
            added = None
        if added is None:
            cache_failed("heartbeat")
        if added is not True:
            return False
    Activation.objects.filter(
        license_id__in=license_ids, instance_identifier=instance_identifier
    ).update(last_seen_at=timezone.now())
    return True
