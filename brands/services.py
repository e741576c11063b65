"""Every write on brands, products and brand API keys, and the revocation of staff tokens."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from audit.services import Actor, audit_record
from brands.errors import DuplicateField
from brands.limits import (
    DEFAULT_NON_PRODUCTION_LIMIT,
    brand_catalog_changed,
    edd_item_id_problem,
    heartbeat_seconds_problem,
    non_production_limit_problem,
    product_heartbeat_changed,
)
from brands.models import (
    API_KEY_VISIBLE_CHARS,
    DEFAULT_SCOPES,
    Brand,
    BrandApiKey,
    Product,
    generate_api_key,
    hash_api_key,
)
from brands.patterns import host_patterns_problem
from license_service.errors import ValidationFailed

_UNSET: Any = object()

# last_used_at is bookkeeping: written at most this often per key, outside any audit.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def _brand_snapshot(brand: Brand) -> dict[str, Any]:
    return {
        "name": brand.name,
        "slug": brand.slug,
        "key_prefix": brand.key_prefix,
        "is_active": brand.is_active,
        "non_production_patterns": brand.non_production_patterns,
    }


def _product_snapshot(product: Product) -> dict[str, Any]:
    return {
        "name": product.name,
        "slug": product.slug,
        "default_max_seats": product.default_max_seats,
        "heartbeat_seconds": product.heartbeat_seconds,
        "non_production_limit": product.non_production_limit,
        "edd_item_id": product.edd_item_id,
    }


def _refuse(**problems: str | None) -> None:
    """Raise ValidationFailed naming every field with a problem (the staff API checks the
    same before; this keeps the admin, the demo data and scripts to the same bounds)."""
    details = {field: [problem] for field, problem in problems.items() if problem}
    if details:
        raise ValidationFailed("Invalid input.", details=details)


@transaction.atomic
def brand_create(
    *,
    name: str,
    slug: str,
    key_prefix: str,
    actor: Actor,
    non_production_patterns: list[str] | None = None,
) -> Brand:
    """Raises DuplicateField when the slug or key prefix is taken, ValidationFailed when a
    non-production pattern is not a host glob (``brands.patterns``)."""
    patterns = [] if non_production_patterns is None else non_production_patterns
    _refuse(non_production_patterns=host_patterns_problem(patterns))
    if Brand.objects.filter(slug=slug).exists():
        raise DuplicateField("slug", "A brand with this slug already exists.")
    if Brand.objects.filter(key_prefix=key_prefix).exists():
        raise DuplicateField("key_prefix", "A brand with this key prefix already exists.")
    try:
        with transaction.atomic():
            brand = Brand.objects.create(
                name=name, slug=slug, key_prefix=key_prefix, non_production_patterns=patterns
            )
    except IntegrityError as exc:  # lost a race with an identical request
        raise DuplicateField(
            "slug", "A brand with this slug or key prefix already exists."
        ) from exc
    audit_record(
        action="brand.created",
        actor=actor,
        target_type="brand",
        target_id=brand.pk,
        brand_id=brand.pk,
        after=_brand_snapshot(brand),
    )
    # An unknown brand's catalogue may be remembered (briefly) as unknown.
    brand_catalog_changed.send(sender=Brand, brand_slug=brand.slug)
    return brand


@transaction.atomic
def brand_update(
    *,
    brand: Brand,
    actor: Actor,
    name: str = _UNSET,
    is_active: bool = _UNSET,
    non_production_patterns: list[str] = _UNSET,
) -> Brand:
    """Name, active flag and non-production patterns: slug and key prefix are baked into
    URLs and keys. New patterns classify activations made from now on; existing ones keep
    the environment they were given. Raises ValidationFailed for a pattern that is not a
    host glob."""
    if non_production_patterns is not _UNSET:
        _refuse(non_production_patterns=host_patterns_problem(non_production_patterns))
    brand = Brand.objects.select_for_update().get(pk=brand.pk)
    before = _brand_snapshot(brand)
    patterns_changed = (
        non_production_patterns is not _UNSET
        and non_production_patterns != brand.non_production_patterns
    )
    if name is not _UNSET:
        brand.name = name
    if is_active is not _UNSET:
        brand.is_active = is_active
    if non_production_patterns is not _UNSET:
        brand.non_production_patterns = non_production_patterns
    brand.save()
    audit_record(
        action="brand.updated",
        actor=actor,
        target_type="brand",
        target_id=brand.pk,
        brand_id=brand.pk,
        before=before,
        after=_brand_snapshot(brand),
    )
    if patterns_changed:
        brand_catalog_changed.send(sender=Brand, brand_slug=brand.slug)
    return brand


@transaction.atomic
def product_create(
    *,
    brand: Brand,
    name: str,
    slug: str,
    default_max_seats: int | None,
    actor: Actor,
    heartbeat_seconds: int | None = None,
    non_production_limit: int = DEFAULT_NON_PRODUCTION_LIMIT,
    edd_item_id: int | None = None,
) -> Product:
    """Raises DuplicateField when the brand already has a product with this slug or
    ``edd_item_id``, ValidationFailed when ``heartbeat_seconds``, ``non_production_limit``
    or ``edd_item_id`` is out of its bounds (``brands.limits``)."""
    _refuse(
        heartbeat_seconds=heartbeat_seconds_problem(heartbeat_seconds),
        non_production_limit=non_production_limit_problem(non_production_limit),
        edd_item_id=edd_item_id_problem(edd_item_id),
    )
    if Product.objects.filter(brand=brand, slug=slug).exists():
        raise DuplicateField("slug", "This brand already has a product with this slug.")
    _refuse_taken_edd_item_id(brand_id=brand.pk, edd_item_id=edd_item_id)
    try:
        with transaction.atomic():
            product = Product.objects.create(
                brand=brand,
                name=name,
                slug=slug,
                default_max_seats=default_max_seats,
                heartbeat_seconds=heartbeat_seconds,
                non_production_limit=non_production_limit,
                edd_item_id=edd_item_id,
            )
    except IntegrityError as exc:  # lost a race: the slug or the EDD item id
        raise DuplicateField(
            "slug", "This brand already has a product with this slug or EDD item id."
        ) from exc
    audit_record(
        action="product.created",
        actor=actor,
        target_type="product",
        target_id=product.pk,
        brand_id=brand.pk,
        after=_product_snapshot(product),
    )
    brand_catalog_changed.send(sender=Product, brand_slug=brand.slug)
    return product


@transaction.atomic
def product_update(
    *,
    product: Product,
    actor: Actor,
    name: str = _UNSET,
    default_max_seats: int | None = _UNSET,
    heartbeat_seconds: int | None = _UNSET,
    non_production_limit: int = _UNSET,
    edd_item_id: int | None = _UNSET,
) -> Product:
    """The slug is fixed once licenses refer to it; name and default seats may change
    (existing licenses keep their own ``max_seats``), and so may the heartbeat and the
    non-production limit, which apply to every license of the product at once (a lower
    limit admits nothing new until the rows fall below it; nothing is released).
    Raises ValidationFailed when a value is out of its bounds (``brands.limits``),
    DuplicateField when another product of the brand has this ``edd_item_id``."""
    _refuse(
        edd_item_id=None if edd_item_id is _UNSET else edd_item_id_problem(edd_item_id),
        heartbeat_seconds=None
        if heartbeat_seconds is _UNSET
        else heartbeat_seconds_problem(heartbeat_seconds),
        non_production_limit=None
        if non_production_limit is _UNSET
        else non_production_limit_problem(non_production_limit),
    )
    product = Product.objects.select_for_update().get(pk=product.pk)
    before = _product_snapshot(product)
    catalog_changed = (name is not _UNSET and name != product.name) or (
        edd_item_id is not _UNSET and edd_item_id != product.edd_item_id
    )
    if edd_item_id is not _UNSET and edd_item_id != product.edd_item_id:
        _refuse_taken_edd_item_id(
            brand_id=product.brand_id, edd_item_id=edd_item_id, exclude_pk=product.pk
        )
        product.edd_item_id = edd_item_id
    if name is not _UNSET:
        product.name = name
    if default_max_seats is not _UNSET:
        product.default_max_seats = default_max_seats
    heartbeat_changed = (
        heartbeat_seconds is not _UNSET and heartbeat_seconds != product.heartbeat_seconds
    )
    if heartbeat_seconds is not _UNSET:
        product.heartbeat_seconds = heartbeat_seconds
    if non_production_limit is not _UNSET:
        product.non_production_limit = non_production_limit
    try:
        with transaction.atomic():
            product.save()
    except IntegrityError as exc:  # lost a race for the EDD item id
        raise DuplicateField(
            "edd_item_id", "Another product of this brand has this EDD item id."
        ) from exc
    audit_record(
        action="product.updated",
        actor=actor,
        target_type="product",
        target_id=product.pk,
        brand_id=product.brand_id,
        before=before,
        after=_product_snapshot(product),
    )
    if heartbeat_changed:
        product_heartbeat_changed.send(sender=Product, product_id=product.pk)
    if catalog_changed:
        slug = Brand.objects.values_list("slug", flat=True).get(pk=product.brand_id)
        brand_catalog_changed.send(sender=Product, brand_slug=slug)
    return product


def _refuse_taken_edd_item_id(
    *, brand_id: int, edd_item_id: int | None, exclude_pk: int | None = None
) -> None:
    if edd_item_id is None:
        return
    taken = Product.objects.filter(brand_id=brand_id, edd_item_id=edd_item_id)
    if exclude_pk is not None:
        taken = taken.exclude(pk=exclude_pk)
    if taken.exists():
        raise DuplicateField("edd_item_id", "Another product of this brand has this EDD item id.")


@transaction.atomic
def api_key_create(
    *,
    brand: Brand,
    name: str,
    scopes: list[str] | None,
    actor: Actor,
    plain: str | None = None,
) -> tuple[BrandApiKey, str]:
    """Returns the stored key and its plain text, which is never stored nor shown again.
    ``plain`` is for the demo data only (a documented key for the README's tour); real
    keys are always generated."""
    plain = plain or generate_api_key()
    api_key = BrandApiKey.objects.create(
        brand=brand,
        name=name,
        prefix=plain[:API_KEY_VISIBLE_CHARS],
        key_hash=hash_api_key(plain),
        scopes=sorted(set(scopes if scopes is not None else DEFAULT_SCOPES)),
    )
    audit_record(
        action="api_key.created",
        actor=actor,
        target_type="api_key",
        target_id=api_key.pk,
        brand_id=brand.pk,
        after={"name": api_key.name, "prefix": api_key.prefix, "scopes": api_key.scopes},
    )
    return api_key, plain


@transaction.atomic
def api_key_revoke(*, api_key: BrandApiKey, actor: Actor) -> BrandApiKey:
    """Idempotent: revoking a revoked key changes nothing and records nothing."""
    api_key = BrandApiKey.objects.select_for_update().get(pk=api_key.pk)
    if api_key.revoked_at is not None:
        return api_key
    api_key.revoked_at = timezone.now()
    api_key.save(update_fields=["revoked_at"])
    audit_record(
        action="api_key.revoked",
        actor=actor,
        target_type="api_key",
        target_id=api_key.pk,
        brand_id=api_key.brand_id,
        before={"revoked_at": None},
        after={"revoked_at": api_key.revoked_at.isoformat()},
    )
    return api_key


def api_key_mark_used(*, api_key: BrandApiKey) -> None:
    """Record that the key authenticated a request: one UPDATE at most once a minute per
    key, no audit row (usage, not a change of state)."""
    now = timezone.now()
    if api_key.last_used_at is None or now - api_key.last_used_at > LAST_USED_RESOLUTION:
        BrandApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)


@transaction.atomic
def staff_refresh_tokens_revoke(*, user: AbstractBaseUser) -> int:
    """Blacklist every refresh token issued to this staff user that is not blacklisted
    already; returns how many. Their access tokens stop at once as well (they carry the
    password digest, or the user is inactive). No audit row: the change it follows (a new
    password, a deactivation) is the user's, not a brand's."""
    outstanding = OutstandingToken.objects.filter(
        user_id=user.pk, expires_at__gt=timezone.now(), blacklistedtoken__isnull=True
    )
    created = BlacklistedToken.objects.bulk_create(
        [BlacklistedToken(token=token) for token in outstanding], ignore_conflicts=True
    )
    return len(created)
