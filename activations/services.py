"""Every write on seats: activate, release, heartbeat.

Seats are race-free because each seat change first locks its License row
(``SELECT … FOR UPDATE`` on PostgreSQL; SQLite serializes writers with ``BEGIN IMMEDIATE``):
the count of seats in use and the insert happen under that lock, so N concurrent
activations on M free seats yield exactly M seats. The unique (license, instance) constraint
backs this up for one instance activated twice at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.db.models import Count, Max, Q
from django.utils import timezone

from activations.check.keys import check_cache_forget_on_commit
from activations.environment import classify_environment
from activations.errors import (
    ActivationNotFound,
    LicenseCancelled,
    LicenseExpired,
    LicenseNotFound,
    LicenseSuspended,
    NonProductionLimitExceeded,
    SeatLimitExceeded,
)
from activations.models import Activation, Environment
from activations.normalize import clean_instance_identifier
from activations.selectors import instance_hash
from audit.errors import AuditOutsideTransaction
from audit.models import AuditEvent
from audit.services import Actor, audit_record
from brands.models import Brand
from license_service.context import client_ip_var, request_id_var
from license_service.errors import NotFound, ValidationFailed
from license_service.redis.breaker import cache_failed, cache_unavailable
from licensing.keys import canonical_license_key
from licensing.models import License
from licensing.selectors import seats_remaining

MAX_DB_ID = 2**63 - 1
PRODUCTION = Environment.PRODUCTION.value

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


def _classify(license_: License, instance: str) -> str:
    """The environment of an instance on this license (the brand's patterns; the license
    was loaded with ``product__brand``)."""
    return classify_environment(instance, license_.product.brand.non_production_patterns or ())


@dataclass(slots=True)
class _Counts:
    """A license's activations by kind (SEATS rule 1), read under its lock."""

    seats_used: int  # live production rows
    non_production_in_use: int  # live staging/local rows
    production_rows: int  # production rows not reclaimed (live + dead)
    non_production_rows: int

    def rows(self, environment: str) -> int:
        return self.production_rows if environment == PRODUCTION else self.non_production_rows

    def live(self, environment: str) -> int:
        return self.seats_used if environment == PRODUCTION else self.non_production_in_use

    def add(self, environment: str, *, rows: int, live: int) -> None:
        if environment == PRODUCTION:
            self.production_rows += rows
            self.seats_used += live
        else:
            self.non_production_rows += rows
            self.non_production_in_use += live


def _dead_threshold(license_: License, now: datetime) -> datetime | None:
    """Rows last seen before this are dead (None: the product has no heartbeat)."""
    seconds = license_.product.heartbeat_seconds
    return None if seconds is None else now - timedelta(seconds=seconds)


def _counts(license_: License, now: datetime) -> _Counts:
    """One query. The same rule as ``licensing.seats`` (live = not reclaimed, not dead),
    written for the one product at hand (its ``heartbeat_seconds`` is known)."""
    threshold = _dead_threshold(license_, now)
    live = Q() if threshold is None else Q(last_seen_at__gte=threshold)
    production = Q(environment=PRODUCTION)
    stats = Activation.objects.filter(license=license_, reclaimed_at__isnull=True).aggregate(
        seats_used=Count("id", filter=production & live),
        non_production_in_use=Count("id", filter=~production & live),
        production_rows=Count("id", filter=production),
        non_production_rows=Count("id", filter=~production),
    )
    return _Counts(**{name: int(value or 0) for name, value in stats.items()})


def _limit(license_: License, environment: str) -> int | None:
    if environment == PRODUCTION:
        return license_.max_seats
    return license_.product.non_production_limit


def _refusal(license_: License, environment: str, counts: _Counts) -> SeatLimitExceeded:
    if environment == PRODUCTION:
        assert license_.max_seats is not None  # noqa: S101 (only refused when limited)
        return SeatLimitExceeded(seats_used=counts.seats_used, max_seats=license_.max_seats)
    return NonProductionLimitExceeded(
        non_production_in_use=counts.non_production_in_use,
        non_production_limit=license_.product.non_production_limit,
    )


def _make_room(
    *, license_: License, environment: str, counts: _Counts, now: datetime, actor: Actor
) -> None:
    """Under the license lock: make sure one more row of this environment's kind fits
    (SEATS rule 2), reclaiming dead rows of that kind, oldest ``last_seen_at`` first (ties
    by id), just enough; else raise SeatLimitExceeded and change nothing. ``counts`` is
    updated. A constant number of queries, however many rows are reclaimed."""
    limit = _limit(license_, environment)
    rows = counts.rows(environment)
    if limit is None or rows < limit:
        return
    need = rows - limit + 1
    threshold = _dead_threshold(license_, now)
    if threshold is None or rows - counts.live(environment) < need:
        raise _refusal(license_, environment, counts)
    kind = Q(environment=PRODUCTION) if environment == PRODUCTION else ~Q(environment=PRODUCTION)
    dead = list(
        Activation.objects.select_for_update()
        .filter(kind, license=license_, reclaimed_at__isnull=True, last_seen_at__lt=threshold)
        .order_by("last_seen_at", "id")[:need]
    )
    if len(dead) < need:  # a heartbeat revived one since the count
        raise _refusal(license_, environment, counts)
    reclaimed = Activation.objects.filter(
        pk__in=[a.pk for a in dead], reclaimed_at__isnull=True, last_seen_at__lt=threshold
    ).update(reclaimed_at=now)
    if reclaimed != need:  # defensive (rows are locked): undo everything, refuse
        raise _refusal(license_, environment, counts)
    _audit_reclaimed(license_=license_, activations=dead, actor=actor)
    counts.add(environment, rows=-need, live=0)


def _audit_reclaimed(*, license_: License, activations: list[Activation], actor: Actor) -> None:
    """One ``activation.reclaimed`` row per activation, in one INSERT (what
    ``audit_record`` writes, in bulk), and the key's check cache forgotten on commit."""
    if not transaction.get_connection().in_atomic_block:
        raise AuditOutsideTransaction()
    request_id, client_ip = request_id_var.get(), client_ip_var.get()
    AuditEvent.objects.bulk_create(
        [
            AuditEvent(
                action="activation.reclaimed",
                actor_type=actor.type,
                actor=actor.name,
                target_type="activation",
                target_id=str(activation.pk),
                brand_id=license_.product.brand_id,
                license_id=license_.pk,
                request_id=request_id,
                client_ip=client_ip,
                before=_activation_snapshot(activation),
                after={"reason": "dead", "last_seen_at": activation.last_seen_at.isoformat()},
            )
            for activation in activations
        ]
    )
    check_cache_forget_on_commit(license_.license_key.key)


def _take_back(
    *,
    license_: License,
    activation: Activation,
    environment: str,
    now: datetime,
    actor: Actor,
    extra: dict[str, object],
) -> None:
    """A reclaimed row holds a place again (room was made): reused, audited
    ``activation.created`` with ``after.reason = "returned"``."""
    Activation.objects.filter(pk=activation.pk).update(
        reclaimed_at=None, activated_at=now, last_seen_at=now, environment=environment
    )
    activation.reclaimed_at = None
    activation.activated_at = activation.last_seen_at = now
    activation.environment = environment
    audit_record(
        action="activation.created",
        actor=actor,
        target_type="activation",
        target_id=activation.pk,
        brand_id=license_.product.brand_id,
        license_id=license_.pk,
        after={**_activation_snapshot(activation), "reason": "returned", **extra},
    )
    check_cache_forget_on_commit(license_.license_key.key)


def _activation_snapshot(activation: Activation) -> dict[str, object]:
    return {
        "instance_identifier": activation.instance_identifier,
        "license_id": activation.license_id,
        "activated_at": activation.activated_at.isoformat(),
        "last_seen_at": activation.last_seen_at.isoformat(),
        "environment": activation.environment,
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


def heartbeat_interval(heartbeat_seconds: int | None) -> int:
    """How often ``last_seen_at`` is written per (key, instance), in seconds (0: every time):
    ``HEARTBEAT_INTERVAL``, and at most a quarter of the product's ``heartbeat_seconds`` (never
    below 1 s) so a client heartbeating every ``heartbeat_seconds / 2`` never looks dead."""
    interval = int(settings.LICENSE_SERVICE["HEARTBEAT_INTERVAL"])
    if heartbeat_seconds is None or interval <= 0:
        return max(interval, 0)
    return max(1, min(interval, heartbeat_seconds // 4))


def activation_heartbeat(
    *,
    license_key: str,
    license_ids: list[int],
    instance_identifier: str,
    heartbeat_seconds: int | None,
    revive: bool = False,
) -> bool:
    """Refresh ``last_seen_at`` of this instance's rows (not reclaimed) on these licenses, at
    most once per ``heartbeat_interval(heartbeat_seconds)`` per (key, instance), so a check
    stays a cache hit (``heartbeat_seconds``: the smallest of those licenses' products').

    Bookkeeping only while the row is live: no audit row and no cache invalidation (a live
    row's ``last_seen_at`` changes no answer), skipped while the cache is down. With
    ``revive`` (the caller knows the row is dead) the write happens at once, whatever the
    marker or the cache, and the key's check cache is forgotten on commit (``seats_used``
    changed). Returns whether the database was written.
    """
    if not license_ids:
        return False
    interval = heartbeat_interval(heartbeat_seconds)
    marker = f"heartbeat:v1:{license_key}:{instance_hash(instance_identifier)}"
    if interval > 0 and not revive:
        if cache_unavailable():
            return False
        try:
            added = cache.add(marker, 1, timeout=interval)
        except Exception:
            added = None
        if added is None:
            cache_failed("heartbeat")
        if added is not True:
            return False
    with transaction.atomic():
        written = Activation.objects.filter(
            license_id__in=license_ids,
            instance_identifier=instance_identifier,
            reclaimed_at__isnull=True,
        ).update(last_seen_at=timezone.now())
        if revive and written:
            check_cache_forget_on_commit(license_key)
    if revive and interval > 0 and not cache_unavailable():
        try:  # the next coalesced heartbeat waits a whole interval from this write
            cache.set(marker, 1, timeout=interval)
        except Exception:
            cache_failed("heartbeat")
    return written > 0


@transaction.atomic
def activation_return(*, license_id: int, instance_identifier: str, actor: Actor) -> bool:
    """A reclaimed row of this instance takes a place back when one is free (reclaiming dead
    rows if needed, SEATS rule 2), under the license lock. True when the instance holds a
    row again (also when it already did); False when there is no row, no place, or the
    license admits no activation (suspended, cancelled, expired)."""
    license_ = (
        License.objects.select_for_update(of=("self",))
        .select_related("license_key", "product__brand")
        .filter(pk=license_id)
        .first()
    )
    if license_ is None:
        return False
    activation = Activation.objects.filter(
        license=license_, instance_identifier=instance_identifier
    ).first()
    if activation is None:
        return False
    if activation.reclaimed_at is None:
        return True
    now = timezone.now()
    if license_.effective_status(now) in _REFUSALS:
        return False
    environment = _classify(license_, instance_identifier)
    counts = _counts(license_, now)
    try:
        _make_room(license_=license_, environment=environment, counts=counts, now=now, actor=actor)
    except SeatLimitExceeded:
        return False
    _take_back(
        license_=license_,
        activation=activation,
        environment=environment,
        now=now,
        actor=actor,
        extra={},
    )
    return True
