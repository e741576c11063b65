"""Every write on seats: activate (and replace), release, heartbeat, return, reclaim.

Seats are race-free because each seat change first locks its License row
(``SELECT … FOR UPDATE`` on PostgreSQL; SQLite serializes writers with ``BEGIN IMMEDIATE``):
the count of places in use and the insert happen under that lock, so N concurrent
activations on M free seats yield exactly M seats. The unique (license, instance) constraint
backs this up for one instance activated twice at once.

SPEC §10 (the SEATS design's rules): a *row* is an activation not reclaimed; it is *dead*
when its product has ``heartbeat_seconds`` and it was not seen for longer, else *live*.
Seats are live production rows; staging and local rows count against the product's
``non_production_limit`` instead. A new row of a kind is inserted only while that kind's
rows (live + dead) are under its limit, after reclaiming dead rows of that kind, oldest
first, just enough (``_make_room``: a constant number of queries whatever it reclaims). So a
dead row that heartbeats again always still has its place: a heartbeat needs no lock, just
the UPDATE of ``last_seen_at``; and a reclaimed row takes a place again under the same rule
as a new one (``activation_return``). Clients should heartbeat at least every
``heartbeat_seconds / 2``; writes are coalesced per (key, instance) at
``heartbeat_interval``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

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
from activations.models import Activation, ActivationState, Environment
from activations.normalize import clean_instance_identifier
from activations.selectors import instance_hash
from audit.services import Actor, Change, audit_record, audit_record_many
from brands.models import Brand
from license_service.errors import NotFound, ValidationFailed
from license_service.redis.breaker import cache_failed, cache_unavailable
from licensing.keys import canonical_license_key
from licensing.models import License
from licensing.outbox import activation_data, activation_events
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
    non_production_in_use: int = 0

    @property
    def seats_remaining(self) -> int | None:
        return seats_remaining(seats_used=self.seats_used, max_seats=self.max_seats)


@dataclass(frozen=True, slots=True)
class ActivationResult:
    activation_id: int
    created: bool
    seats: SeatState
    environment: str = PRODUCTION


def _clean_instance(instance_identifier: str, field: str = "instance_identifier") -> str:
    try:
        return clean_instance_identifier(instance_identifier)
    except ValueError as exc:
        raise ValidationFailed("Invalid input.", details={field: [str(exc)]}) from exc


def _locked_license(*, license_key: str, product_slug: str) -> License:
    """The license of this key for this product, its row locked until commit (with its key,
    product and brand: what the seat rules read)."""
    key = canonical_license_key(license_key)
    if key is None:
        raise LicenseNotFound()
    license_ = (
        License.objects.select_for_update(of=("self",))
        .select_related("license_key", "product__brand")
        .filter(license_key__key=key, product__slug=product_slug)
        .first()
    )
    if license_ is None:
        raise LicenseNotFound()
    return license_


def _seat_state(license_: License, counts: _Counts, now: datetime | None = None) -> SeatState:
    return SeatState(
        license_id=license_.pk,
        status=license_.effective_status(now),
        expires_at=license_.expires_at,
        seats_used=counts.seats_used,
        max_seats=license_.max_seats,
        non_production_in_use=counts.non_production_in_use,
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


_ROW_FIELDS = ("id", "reclaimed_at", "last_seen_at", "activated_at", "environment")


def _counts(license_: License, now: datetime) -> _Counts:
    """One query. The same rule as ``licensing.seats`` (live = not reclaimed, not dead),
    written for the one product at hand (its ``heartbeat_seconds`` is known)."""
    return _counts_and_rows(license_, now, [])[0]


def _counts_and_rows(
    license_: License, now: datetime, instances: list[str]
) -> tuple[_Counts, dict[str, Activation]]:
    """The counts of ``_counts`` and the rows of these instances (any state), in one query:
    an instance has at most one row per license, so each of its fields is the ``Max`` over
    that one row."""
    threshold = _dead_threshold(license_, now)
    held = Q(reclaimed_at__isnull=True)
    live = held if threshold is None else held & Q(last_seen_at__gte=threshold)
    production = Q(environment=PRODUCTION)
    aggregates: dict[str, Any] = {
        "seats_used": Count("id", filter=production & live),
        "non_production_in_use": Count("id", filter=~production & live),
        "production_rows": Count("id", filter=production & held),
        "non_production_rows": Count("id", filter=~production & held),
    }
    for n, instance in enumerate(instances):
        mine = Q(instance_identifier=instance)
        aggregates.update({f"i{n}_{f}": Max(f, filter=mine) for f in _ROW_FIELDS})
    stats = Activation.objects.filter(license=license_).aggregate(**aggregates)
    counts = _Counts(**{name: int(stats[name] or 0) for name in list(aggregates)[:4]})
    rows = {
        instance: Activation(
            license=license_,
            instance_identifier=instance,
            **{f: stats[f"i{n}_{f}"] for f in _ROW_FIELDS},
        )
        for n, instance in enumerate(instances)
        if stats[f"i{n}_id"] is not None
    }
    return counts, rows


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
    # A row a heartbeat revives meanwhile is re-checked once locked and skipped; PostgreSQL
    # locks below the LIMIT, so the next dead row is taken instead
    # (tests/activations/test_seats_races.py). Fewer: none left to take.
    if len(dead) < need:
        raise _refusal(license_, environment, counts)
    reclaimed = Activation.objects.filter(
        pk__in=[a.pk for a in dead], reclaimed_at__isnull=True, last_seen_at__lt=threshold
    ).update(reclaimed_at=now)
    if reclaimed != need:  # defensive (rows are locked): undo everything, refuse
        raise _refusal(license_, environment, counts)
    _audit_reclaimed(license_=license_, activations=dead, actor=actor, now=now)
    counts.add(environment, rows=-need, live=0)


def _audit_reclaimed(
    *, license_: License, activations: list[Activation], actor: Actor, now: datetime
) -> None:
    """One ``activation.reclaimed`` row per activation, in one INSERT, their events (one
    more), and the key's check cache forgotten on commit."""
    audit_record_many(
        action="activation.reclaimed",
        actor=actor,
        target_type="activation",
        brand_id=license_.product.brand_id,
        license_id=license_.pk,
        changes=[
            Change(
                target_id=activation.pk,
                before=_activation_snapshot(activation),
                after={"reason": "dead", "last_seen_at": activation.last_seen_at.isoformat()},
            )
            for activation in activations
        ],
    )
    for activation in activations:
        activation.reclaimed_at = now
    activation_events(
        "activation.reclaimed",
        license_id=license_.pk,
        activations=[_event_data(license_, activation) for activation in activations],
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
    _audited(
        "activation.created",
        license_=license_,
        activation=activation,
        actor=actor,
        after={**_activation_snapshot(activation), "reason": "returned", **extra},
    )


def _audited(
    action: str,
    *,
    license_: License,
    activation: Activation,
    actor: Actor,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> None:
    """One audit row of a seat change on this license, its event (SPEC §13), and the key's
    check answer forgotten on commit: what every seat write ends with."""
    audit_record(
        action=action,
        actor=actor,
        target_type="activation",
        target_id=activation.pk,
        brand_id=license_.product.brand_id,
        license_id=license_.pk,
        before=before,
        after=after,
    )
    activation_events(
        action, license_id=license_.pk, activations=[_event_data(license_, activation)]
    )
    check_cache_forget_on_commit(license_.license_key.key)


def _event_data(license_: License, activation: Activation) -> dict[str, Any]:
    activation.license = license_  # loaded with its product: no query
    return activation_data(activation)


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
    *,
    license_key: str,
    product_slug: str,
    instance_identifier: str,
    actor: Actor,
    environment_claim: str = "",
    replace_instance_identifier: str | None = None,
) -> ActivationResult:
    """Take a place for this instance (a seat when it is a production one, SEATS rules 2
    and 4), or refresh it when the instance already holds one (never a second one). With
    ``replace_instance_identifier`` the old instance's place is released first, in the same
    locked transaction (rule 5). Identifiers are normalized (SPEC §6); ``environment_claim``
    is what the client said, recorded only.

    Raises LicenseNotFound (unknown or malformed key, no license for the product),
    LicenseSuspended / LicenseCancelled / LicenseExpired, SeatLimitExceeded (or
    NonProductionLimitExceeded), ActivationNotFound (the replaced instance holds no place on
    this license), and ValidationFailed for an identifier that is empty or too long once
    normalized.
    """
    instance = _clean_instance(instance_identifier)
    old = (
        None
        if replace_instance_identifier is None
        else _clean_instance(replace_instance_identifier, "replace_instance_identifier")
    )
    license_ = _locked_license(license_key=license_key, product_slug=product_slug)
    now = timezone.now()
    status = license_.effective_status(now)
    if status in _REFUSALS:
        raise _REFUSALS[status]()

    counts, rows = _counts_and_rows(license_, now, [instance] if old is None else [instance, old])
    mine = rows.get(instance)
    extra: dict[str, object] = {}
    if old is not None:
        replaced = rows.get(old)
        if replaced is None or replaced.reclaimed_at is not None:
            raise ActivationNotFound()
        if old != instance:
            _release_replaced(
                license_=license_,
                activation=replaced,
                by=instance,
                counts=counts,
                now=now,
                actor=actor,
            )
            extra = {"replaces": old}
    if mine is not None and mine.reclaimed_at is None:
        return _refresh(
            license_=license_, activation=mine, counts=counts, now=now, claim=environment_claim
        )

    environment = _classify(license_, instance)
    _make_room(license_=license_, environment=environment, counts=counts, now=now, actor=actor)
    if mine is not None:  # reclaimed: the row takes a place again
        if environment_claim:
            mine.environment_claim = environment_claim
            Activation.objects.filter(pk=mine.pk).update(environment_claim=environment_claim)
        _take_back(
            license_=license_,
            activation=mine,
            environment=environment,
            now=now,
            actor=actor,
            extra=extra,
        )
        activation = mine
    else:
        try:
            with transaction.atomic():
                activation = Activation.objects.create(
                    license=license_,
                    instance_identifier=instance,
                    activated_at=now,
                    last_seen_at=now,
                    environment=environment,
                    environment_claim=environment_claim,
                )
        except IntegrityError:
            # The same instance was activated by a writer that did not take the row lock.
            existing = Activation.objects.get(license=license_, instance_identifier=instance)
            return ActivationResult(
                activation_id=existing.pk,
                created=False,
                seats=_seat_state(license_, _counts(license_, now), now),
                environment=existing.environment,
            )
        _audited(
            "activation.created",
            license_=license_,
            activation=activation,
            actor=actor,
            after={**_activation_snapshot(activation), **extra},
        )
    counts.add(environment, rows=1, live=1)
    return ActivationResult(
        activation_id=activation.pk,
        created=True,
        seats=_seat_state(license_, counts, now),
        environment=environment,
    )


def _refresh(
    *, license_: License, activation: Activation, counts: _Counts, now: datetime, claim: str
) -> ActivationResult:
    """An instance that holds its place activates again: ``last_seen_at`` refreshed (a dead
    row is live again: the check cache is forgotten, ``seats_used`` changed)."""
    changes: dict[str, object] = {"last_seen_at": now}
    if claim:
        changes["environment_claim"] = claim
    Activation.objects.filter(pk=activation.pk).update(**changes)
    threshold = _dead_threshold(license_, now)
    if threshold is not None and activation.last_seen_at < threshold:
        counts.add(activation.environment, rows=0, live=1)
        check_cache_forget_on_commit(license_.license_key.key)
    return ActivationResult(
        activation_id=activation.pk,
        created=False,
        seats=_seat_state(license_, counts, now),
        environment=activation.environment,
    )


def _release_replaced(
    *,
    license_: License,
    activation: Activation,
    by: str,
    counts: _Counts,
    now: datetime,
    actor: Actor,
) -> None:
    """The old instance of a replace gives its place up (before the new one is admitted)."""
    threshold = _dead_threshold(license_, now)
    live = threshold is None or activation.last_seen_at >= threshold
    Activation.objects.filter(pk=activation.pk).delete()
    _audited(
        "activation.released",
        license_=license_,
        activation=activation,
        actor=actor,
        before=_activation_snapshot(activation),
        after={"reason": "replaced", "by": by},
    )
    counts.add(activation.environment, rows=-1, live=-1 if live else 0)


def _release(*, license_: License, activation: Activation, actor: Actor) -> SeatState:
    before = _activation_snapshot(activation)
    activation_id = activation.pk
    deleted, _ = Activation.objects.filter(pk=activation_id).delete()
    if not deleted:
        raise ActivationNotFound()
    _audited(
        "activation.released",
        license_=license_,
        activation=activation,
        actor=actor,
        before=before,
    )
    return _seat_state(license_, _counts(license_, timezone.now()))


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
        .only(
            "pk",
            "license_id",
            "instance_identifier",
            "activated_at",
            "last_seen_at",
            "environment",
            "reclaimed_at",
        )
        .first()
    )
    if activation is None:
        raise NotFound()
    license_ = (
        License.objects.select_for_update(of=("self",))
        .select_related("license_key", "product__brand")
        .get(pk=activation.license_id)
    )
    return _release(license_=license_, activation=activation, actor=actor)


@transaction.atomic
def activations_release(*, license_: License, activation_ids: list[int], actor: Actor) -> int:
    """Staff free one or several seats of one license (the console's release button),
    whatever the license's status, each with its ``activation.released`` audit row, under
    the license's lock; the key's check answer is forgotten on commit.

    Returns how many were released. Ids not on this license (or already released by
    someone else meanwhile) are ignored; none of them left raises ActivationNotFound.
    """
    license_ = (
        License.objects.select_for_update(of=("self",))
        .select_related("license_key", "product__brand")
        .get(pk=license_.pk)
    )
    activations = list(
        Activation.objects.filter(license=license_, pk__in=activation_ids).order_by("pk")
    )
    if not activations:
        raise ActivationNotFound()
    for activation in activations:
        _release(license_=license_, activation=activation, actor=actor)
    return len(activations)


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


@dataclass(frozen=True, slots=True)
class HeartbeatResult:
    """What ``POST /heartbeat`` answers."""

    license_id: int
    activation_id: int
    instance_active: bool
    environment: str
    status: str  # ActivationState: active, or reclaimed when no place was free
    heartbeat_seconds: int | None
    last_seen_at: datetime


def activation_ping(
    *, license_key: str, product_slug: str, instance_identifier: str, actor: Actor
) -> HeartbeatResult:
    """The explicit heartbeat (SEATS rule 6): a live row's ``last_seen_at`` is refreshed
    (coalesced like the check's), a dead one's at once (it is live again: the check cache
    is forgotten), a reclaimed one takes a place back if one is free (``activation_return``)
    else stays reclaimed. No lock unless a reclaimed row asks for its place back.

    Raises LicenseNotFound (as activate), ActivationNotFound (no row of this instance on
    that license), ValidationFailed.
    """
    instance = _clean_instance(instance_identifier)
    key = canonical_license_key(license_key)
    if key is None:
        raise LicenseNotFound()
    found = (
        Activation.objects.select_related("license__product")
        .filter(
            license__license_key__key=key,
            license__product__slug=product_slug,
            instance_identifier=instance,
        )
        .first()
    )
    if found is None:
        if not License.objects.filter(license_key__key=key, product__slug=product_slug).exists():
            raise LicenseNotFound()
        raise ActivationNotFound()
    activation = found
    heartbeat_seconds = activation.license.product.heartbeat_seconds
    state = activation.state(heartbeat_seconds)
    if state != ActivationState.RECLAIMED:
        written = activation_heartbeat(
            license_key=key,
            license_ids=[activation.license_id],
            instance_identifier=instance,
            heartbeat_seconds=heartbeat_seconds,
            revive=state == ActivationState.DEAD,
        )
        if written or state == ActivationState.DEAD:
            activation.refresh_from_db(fields=["last_seen_at", "reclaimed_at"])
    # Reclaimed (maybe while this call ran): a place back if one is free.
    if activation.reclaimed_at is not None and activation_return(
        license_id=activation.license_id, instance_identifier=instance, actor=actor
    ):
        activation.refresh_from_db(fields=["last_seen_at", "reclaimed_at", "environment"])
    active = activation.reclaimed_at is None
    return HeartbeatResult(
        license_id=activation.license_id,
        activation_id=activation.pk,
        instance_active=active,
        environment=activation.environment,
        status=ActivationState.ACTIVE if active else ActivationState.RECLAIMED,
        heartbeat_seconds=heartbeat_seconds,
        last_seen_at=activation.last_seen_at,
    )


RECLAIM_BATCH = 500


@dataclass(frozen=True, slots=True)
class Reclaimed:
    """One activation the job reclaimed (or would, in a dry run)."""

    license_id: int
    activation_id: int
    instance_identifier: str
    environment: str
    last_seen_at: datetime


def dead_activations(*, license_id: int, now: datetime | None = None) -> list[Reclaimed]:
    """The dead rows of a license (what ``activations_reclaim`` would reclaim), unlocked."""
    license_ = License.objects.select_related("product").get(pk=license_id)
    threshold = _dead_threshold(license_, now or timezone.now())
    if threshold is None:
        return []
    return [
        _reclaimed(a)
        for a in Activation.objects.filter(
            license=license_, reclaimed_at__isnull=True, last_seen_at__lt=threshold
        ).order_by("last_seen_at", "id")
    ]


def _reclaimed(activation: Activation) -> Reclaimed:
    return Reclaimed(
        license_id=activation.license_id,
        activation_id=activation.pk,
        instance_identifier=activation.instance_identifier,
        environment=activation.environment,
        last_seen_at=activation.last_seen_at,
    )


@transaction.atomic
def activations_reclaim(
    *, license_id: int, actor: Actor, batch: int = RECLAIM_BATCH
) -> list[Reclaimed]:
    """Reclaim up to ``batch`` dead rows of this license, oldest first, under its lock
    (SEATS rule 3): the ``UPDATE`` re-checks deadness, so a heartbeat committed meanwhile
    wins; audited ``activation.reclaimed``; the key's check cache forgotten on commit.
    Idempotent: a row already reclaimed (by another host's run) is skipped. A constant
    number of queries per batch."""
    license_ = (
        License.objects.select_for_update(of=("self",))
        .select_related("license_key", "product")
        .filter(pk=license_id)
        .first()
    )
    if license_ is None:
        return []
    now = timezone.now()
    threshold = _dead_threshold(license_, now)
    if threshold is None:
        return []
    dead = list(
        Activation.objects.select_for_update()
        .filter(license=license_, reclaimed_at__isnull=True, last_seen_at__lt=threshold)
        .order_by("last_seen_at", "id")[:batch]
    )
    if not dead:
        return []
    reclaimed = Activation.objects.filter(
        pk__in=[a.pk for a in dead], reclaimed_at__isnull=True, last_seen_at__lt=threshold
    ).update(reclaimed_at=now)
    if reclaimed != len(dead):  # defensive (the rows are locked): the next run retries
        transaction.set_rollback(True)
        return []
    _audit_reclaimed(license_=license_, activations=dead, actor=actor, now=now)
    return [_reclaimed(a) for a in dead]
