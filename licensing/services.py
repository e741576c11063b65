"""Every write on license keys and licenses: provisioning and the lifecycle (US1, US2).

Each service runs in one transaction, writes its audit row inside it, and drops the
cached check answer of the affected key after commit.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.services import Actor, audit_record
from brands.models import Brand, Product
from license_service.errors import NotFound, ValidationFailed
from licensing.errors import (
    AlreadyEntitled,
    IdempotencyConflict,
    InvalidTransition,
    KeyConflict,
    LicenseNotFound,
)
from licensing.expiry import check_expiry
from licensing.keys import canonical_license_key, generate_license_key
from licensing.models import (
    MAX_EMAIL_LENGTH,
    IdempotencyRecord,
    License,
    LicenseKey,
    normalize_email,
)
from licensing.outbox import activation_data, activation_events, license_event
from licensing.signals import check_cache_forget_on_commit

UNSET: Any = object()

Status = License.Status


def license_snapshot(license_: License) -> dict[str, Any]:
    return {
        "status": license_.status,
        "expires_at": license_.expires_at.isoformat() if license_.expires_at else None,
        "max_seats": license_.max_seats,
    }


def _audit(action: str, license_: License, actor: Actor, before: dict[str, Any] | None) -> None:
    audit_record(
        action=action,
        actor=actor,
        target_type="license",
        target_id=license_.pk,
        brand_id=license_.license_key.brand_id,
        license_id=license_.pk,
        before=before,
        after=license_snapshot(license_),
    )


# --- Provisioning ------------------------------------------------------------------------


def _license_key_create(*, brand: Brand, customer_email: str) -> LicenseKey:
    # 115 random bits: a collision is astronomically unlikely, but retrying costs nothing.
    for _ in range(3):
        try:
            with transaction.atomic():
                return LicenseKey.objects.create(
                    brand=brand,
                    key=generate_license_key(brand.key_prefix),
                    customer_email=customer_email,
                )
        except IntegrityError:
            continue
    raise RuntimeError("could not generate a unique license key")


def _license_key_choose(
    *, brand: Brand, customer_email: str, license_key: str | None, new_key: bool
) -> LicenseKey:
    """SPEC §5 US1 key choice. Raises LicenseNotFound, KeyConflict."""
    if license_key is not None:
        # A key that fails its checksum is answered like an unknown key, as everywhere.
        canonical = canonical_license_key(license_key)
        chosen = (
            LicenseKey.objects.select_for_update().filter(key=canonical).first()
            if canonical is not None
            else None
        )
        if chosen is None:
            raise LicenseNotFound("No license key matches license_key.")
        if chosen.brand_id != brand.pk or chosen.customer_email != customer_email:
            raise KeyConflict()
        return chosen
    if new_key:
        return _license_key_create(brand=brand, customer_email=customer_email)

    existing = LicenseKey.objects.filter(brand=brand, customer_email=customer_email).order_by("id")
    chosen = existing.first()
    if chosen is not None:
        return chosen
    # First key of this customer at this brand: serialize on the brand row so two
    # concurrent first purchases end up on one key, not two.
    Brand.objects.select_for_update().filter(pk=brand.pk).first()
    return existing.first() or _license_key_create(brand=brand, customer_email=customer_email)


@transaction.atomic
def license_provision(
    *,
    brand: Brand,
    customer_email: str,
    product_slug: str,
    actor: Actor,
    expires_at: datetime | None = None,
    max_seats: int | None = UNSET,
    license_key: str | None = None,
    new_key: bool = False,
) -> License:
    """Create a license for one product of ``brand`` on the chosen key.

    ``max_seats`` absent → the product's default; None → unlimited.
    Raises NotFound (no such product at this brand), ValidationFailed (an expiry in the
    past or past the horizon of licensing.expiry, an e-mail whose domain is no valid host
    name or that is too long in its ASCII form), LicenseNotFound (unknown ``license_key``),
    KeyConflict, AlreadyEntitled.
    """
    try:
        customer_email = normalize_email(customer_email, strict=True)
    except ValueError as exc:
        raise ValidationFailed(details={"customer_email": [str(exc)]}) from exc
    if len(customer_email) > MAX_EMAIL_LENGTH:
        raise ValidationFailed(
            details={
                "customer_email": [
                    f"Must be at most {MAX_EMAIL_LENGTH} characters with its domain in "
                    "ASCII (punycode) form."
                ]
            }
        )
    product = Product.objects.filter(brand=brand, slug=product_slug).first()
    if product is None:
        raise NotFound(
            "This brand has no product with this slug.",
            details={"product_slug": ["No product with this slug."]},
        )
    if expires_at is not None:
        check_expiry(expires_at, timezone.now())

    chosen = _license_key_choose(
        brand=brand, customer_email=customer_email, license_key=license_key, new_key=new_key
    )
    if License.objects.filter(license_key=chosen, product=product).exists():
        raise AlreadyEntitled()
    try:
        with transaction.atomic():
            license_ = License.objects.create(
                license_key=chosen,
                product=product,
                status=Status.VALID,
                expires_at=expires_at,
                max_seats=product.default_max_seats if max_seats is UNSET else max_seats,
            )
    except IntegrityError as exc:  # a concurrent request provisioned the same product
        raise AlreadyEntitled() from exc
    audit_record(
        action="license.provisioned",
        actor=actor,
        target_type="license",
        target_id=license_.pk,
        brand_id=brand.pk,
        license_id=license_.pk,
        before=None,
        after={
            **license_snapshot(license_),
            "license_key_id": chosen.pk,
            "product": product.slug,
            "customer_email": customer_email,
        },
    )
    license_event("license.provisioned", license_id=license_.pk)
    check_cache_forget_on_commit(chosen.key)
    return license_


@transaction.atomic
def idempotent_call(
    *,
    brand: Brand,
    idempotency_key: str,
    request_hash: str,
    perform: Callable[[], tuple[int, dict[str, Any]]],
) -> tuple[int, dict[str, Any], bool]:
    """Run ``perform`` at most once per (brand, Idempotency-Key) within the TTL.

    Returns (status, body, replayed). The record is inserted before ``perform`` runs, in
    the same transaction: a concurrent duplicate blocks on the unique index until this
    one commits, then replays its answer. If ``perform`` raises, everything rolls back and
    the key stays unused. Raises IdempotencyConflict for the same key with another body.
    """
    cutoff = timezone.now() - settings.LICENSE_SERVICE["IDEMPOTENCY_TTL"]
    IdempotencyRecord.objects.filter(
        brand=brand, key=idempotency_key, created_at__lt=cutoff
    ).delete()
    try:
        with transaction.atomic():
            record = IdempotencyRecord.objects.create(
                brand=brand,
                key=idempotency_key,
                request_hash=request_hash,
                response_status=0,
                response_body={},
            )
    except IntegrityError:
        record = IdempotencyRecord.objects.get(brand=brand, key=idempotency_key)
        if record.request_hash != request_hash:
            raise IdempotencyConflict() from None
        return record.response_status, record.response_body, True
    status, body = perform()
    record.response_status = status
    record.response_body = body
    record.save(update_fields=["response_status", "response_body"])
    return status, body, False


# --- Lifecycle ---------------------------------------------------------------------------


def _lock(license_: License) -> License:
    return (
        License.objects.select_for_update(of=("self",))
        .select_related("license_key", "product")
        .get(pk=license_.pk)
    )


def _changed(license_: License, action: str, actor: Actor, before: dict[str, Any]) -> License:
    license_.save(update_fields=["status", "expires_at", "max_seats", "updated_at"])
    _audit(action, license_, actor, before)
    license_event(action, license_id=license_.pk)
    check_cache_forget_on_commit(license_.license_key.key)
    return license_


@transaction.atomic
def license_renew(*, license_: License, expires_at: datetime, actor: Actor) -> License:
    """New expiry (in the future, within the horizon of licensing.expiry). Allowed unless
    cancelled; a suspended license stays suspended, an expired one becomes valid again.
    Raises InvalidTransition, ValidationFailed."""
    license_ = _lock(license_)
    if license_.status == Status.CANCELLED:
        raise InvalidTransition(action="renew", current_status=license_.effective_status())
    check_expiry(expires_at, timezone.now())
    before = license_snapshot(license_)
    license_.expires_at = expires_at
    return _changed(license_, "license.renewed", actor, before)


@transaction.atomic
def license_suspend(*, license_: License, actor: Actor) -> License:
    """valid/expired → suspended. Raises InvalidTransition otherwise."""
    license_ = _lock(license_)
    if license_.status != Status.VALID:
        raise InvalidTransition(action="suspend", current_status=license_.effective_status())
    before = license_snapshot(license_)
    license_.status = Status.SUSPENDED
    return _changed(license_, "license.suspended", actor, before)


@transaction.atomic
def license_resume(*, license_: License, actor: Actor) -> License:
    """suspended → valid (effectively expired if its date has passed)."""
    license_ = _lock(license_)
    if license_.status != Status.SUSPENDED:
        raise InvalidTransition(action="resume", current_status=license_.effective_status())
    before = license_snapshot(license_)
    license_.status = Status.VALID
    return _changed(license_, "license.resumed", actor, before)


@transaction.atomic
def license_cancel(*, license_: License, actor: Actor) -> License:
    """Any non-cancelled → cancelled (terminal). Its activations are released, each with
    its own ``activation.released`` audit row."""
    license_ = _lock(license_)
    if license_.status == Status.CANCELLED:
        raise InvalidTransition(action="cancel", current_status=license_.effective_status())
    before = license_snapshot(license_)
    license_.status = Status.CANCELLED
    activations = list(license_.activations.all())
    released = [activation_data(a) for a in activations if a.reclaimed_at is None]
    for activation in activations:
        audit_record(
            action="activation.released",
            actor=actor,
            target_type="activation",
            target_id=activation.pk,
            brand_id=license_.license_key.brand_id,
            license_id=license_.pk,
            before={"instance_identifier": activation.instance_identifier},
            after={"reason": "license.cancelled"},
        )
    license_.activations.all().delete()
    _changed(license_, "license.cancelled", actor, before)
    activation_events("activation.released", license_id=license_.pk, activations=released)
    return license_


@transaction.atomic
def license_set_seats(*, license_: License, max_seats: int | None, actor: Actor) -> License:
    """New seat limit (None = unlimited). Lowering below the seats in use is allowed: new
    activations are refused until seats are freed. Not allowed once cancelled."""
    license_ = _lock(license_)
    if license_.status == Status.CANCELLED:
        raise InvalidTransition(action="set_seats", current_status=license_.effective_status())
    before = license_snapshot(license_)
    license_.max_seats = max_seats
    return _changed(license_, "license.seats_changed", actor, before)


# --- License keys --------------------------------------------------------------------------


@transaction.atomic
def license_key_change_email(
    *, license_key: LicenseKey, customer_email: str, actor: Actor
) -> LicenseKey:
    """Correct the customer e-mail of a key (a typo at purchase, a customer's new address).

    Stored normalized as at provisioning. Audited as ``license_key.email_changed`` (before
    and after); the key's check answer (which masks the e-mail) is forgotten on commit. The
    same e-mail is no change (nothing written). Raises ValidationFailed for an invalid or
    too long e-mail, or one another key of the same brand already belongs to (a correction
    never makes a customer two keys: merging them is a decision, not a typo fix).
    """
    try:
        email = normalize_email(customer_email, strict=True)
    except ValueError as exc:
        raise ValidationFailed(details={"customer_email": [str(exc)]}) from exc
    try:
        validate_email(email)
        valid = len(email) <= MAX_EMAIL_LENGTH
    except DjangoValidationError:
        valid = False
    if not valid:
        raise ValidationFailed(
            details={
                "customer_email": [
                    f"Enter a valid e-mail address of at most {MAX_EMAIL_LENGTH} characters."
                ]
            }
        )
    key = LicenseKey.objects.select_for_update().get(pk=license_key.pk)
    if key.customer_email == email:
        return key
    taken = (
        LicenseKey.objects.filter(brand_id=key.brand_id, customer_email=email)
        .exclude(pk=key.pk)
        .exists()
    )
    if taken:
        raise ValidationFailed(
            details={"customer_email": ["Another license key of this brand has this e-mail."]}
        )
    before = {"customer_email": key.customer_email}
    key.customer_email = email
    key.save(update_fields=["customer_email"])
    audit_record(
        action="license_key.email_changed",
        actor=actor,
        target_type="license_key",
        target_id=key.pk,
        brand_id=key.brand_id,
        before=before,
        after={"customer_email": email},
    )
    check_cache_forget_on_commit(key.key)
    return key
