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
from brands.models import (
    API_KEY_VISIBLE_CHARS,
    DEFAULT_SCOPES,
    Brand,
    BrandApiKey,
    Product,
    generate_api_key,
    hash_api_key,
)

_UNSET: Any = object()

# last_used_at is bookkeeping: written at most this often per key, outside any audit.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def _brand_snapshot(brand: Brand) -> dict[str, Any]:
    return {
        "name": brand.name,
        "slug": brand.slug,
        "key_prefix": brand.key_prefix,
        "is_active": brand.is_active,
    }


def _product_snapshot(product: Product) -> dict[str, Any]:
    return {
        "name": product.name,
        "slug": product.slug,
        "default_max_seats": product.default_max_seats,
    }


@transaction.atomic
def brand_create(*, name: str, slug: str, key_prefix: str, actor: Actor) -> Brand:
    """Raises DuplicateField when the slug or key prefix is taken."""
    if Brand.objects.filter(slug=slug).exists():
        raise DuplicateField("slug", "A brand with this slug already exists.")
    if Brand.objects.filter(key_prefix=key_prefix).exists():
        raise DuplicateField("key_prefix", "A brand with this key prefix already exists.")
    try:
        with transaction.atomic():
            brand = Brand.objects.create(name=name, slug=slug, key_prefix=key_prefix)
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
    return brand


@transaction.atomic
def brand_update(
    *,
    brand: Brand,
    actor: Actor,
    name: str = _UNSET,
    is_active: bool = _UNSET,
) -> Brand:
    """Name and active flag only: slug and key prefix are baked into URLs and keys."""
    brand = Brand.objects.select_for_update().get(pk=brand.pk)
    before = _brand_snapshot(brand)
    if name is not _UNSET:
        brand.name = name
    if is_active is not _UNSET:
        brand.is_active = is_active
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
    return brand


@transaction.atomic
def product_create(
    *, brand: Brand, name: str, slug: str, default_max_seats: int | None, actor: Actor
) -> Product:
    """Raises DuplicateField when the brand already has a product with this slug."""
    if Product.objects.filter(brand=brand, slug=slug).exists():
        raise DuplicateField("slug", "This brand already has a product with this slug.")
    try:
        with transaction.atomic():
            product = Product.objects.create(
                brand=brand, name=name, slug=slug, default_max_seats=default_max_seats
            )
    except IntegrityError as exc:
        raise DuplicateField("slug", "This brand already has a product with this slug.") from exc
    audit_record(
        action="product.created",
        actor=actor,
        target_type="product",
        target_id=product.pk,
        brand_id=brand.pk,
        after=_product_snapshot(product),
    )
    return product


@transaction.atomic
def product_update(
    *,
    product: Product,
    actor: Actor,
    name: str = _UNSET,
    default_max_seats: int | None = _UNSET,
) -> Product:
    """The slug is fixed once licenses refer to it; name and default seats may change
    (existing licenses keep their own ``max_seats``)."""
    product = Product.objects.select_for_update().get(pk=product.pk)
    before = _product_snapshot(product)
    if name is not _UNSET:
        product.name = name
    if default_max_seats is not _UNSET:
        product.default_max_seats = default_max_seats
    product.save()
    audit_record(
        action="product.updated",
        actor=actor,
        target_type="product",
        target_id=product.pk,
        brand_id=product.brand_id,
        before=before,
        after=_product_snapshot(product),
    )
    return product


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
