"""Every write on brands, products and brand API keys, and the revocation of staff tokens."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from django.core.cache import cache
from django.db import IntegrityError, models, router, transaction
from django.db.models import Q
from django.utils import timezone
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from audit.services import Actor, audit_record
from brands.errors import DuplicateField
from brands.limits import (
    DEFAULT_NON_PRODUCTION_LIMIT,
    DEFAULT_TOKEN_LIFETIME_SECONDS,
    brand_catalog_changed,
    edd_item_id_problem,
    heartbeat_seconds_problem,
    non_production_limit_problem,
    product_heartbeat_changed,
    token_lifetime_problem,
)
from brands.models import (
    API_KEY_VISIBLE_CHARS,
    DEFAULT_SCOPES,
    Brand,
    BrandApiKey,
    BrandSigningKey,
    Product,
    generate_api_key,
    hash_api_key,
)
from brands.patterns import host_patterns_problem
from brands.signing import current_kid_cache_key, encrypt_private_key, new_key_pair
from license_service.errors import ValidationFailed
from license_service.redis.breaker import cache_failed

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
        "expiring_soon_days": brand.expiring_soon_days,
    }


def _product_snapshot(product: Product) -> dict[str, Any]:
    return {
        "name": product.name,
        "slug": product.slug,
        "default_max_seats": product.default_max_seats,
        "heartbeat_seconds": product.heartbeat_seconds,
        "non_production_limit": product.non_production_limit,
        "edd_item_id": product.edd_item_id,
        "token_lifetime_seconds": product.token_lifetime_seconds,
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
    expiring_soon_days: int = _UNSET,
) -> Brand:
    """Name, active flag, non-production patterns and ``expiring_soon_days``: slug and key
    prefix are baked into URLs and keys. New patterns classify activations made from now
    on; existing ones keep the environment they were given. Raises ValidationFailed for a
    pattern that is not a host glob."""
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
    if expiring_soon_days is not _UNSET:
        brand.expiring_soon_days = expiring_soon_days
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
    token_lifetime_seconds: int = DEFAULT_TOKEN_LIFETIME_SECONDS,
) -> Product:
    """Raises DuplicateField when the brand already has a product with this slug or
    ``edd_item_id``, ValidationFailed when ``heartbeat_seconds``, ``non_production_limit``,
    ``edd_item_id`` or ``token_lifetime_seconds`` is out of its bounds (``brands.limits``)."""
    _refuse(
        heartbeat_seconds=heartbeat_seconds_problem(heartbeat_seconds),
        non_production_limit=non_production_limit_problem(non_production_limit),
        edd_item_id=edd_item_id_problem(edd_item_id),
        token_lifetime_seconds=token_lifetime_problem(token_lifetime_seconds),
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
                token_lifetime_seconds=token_lifetime_seconds,
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
    token_lifetime_seconds: int = _UNSET,
) -> Product:
    """The slug is fixed once licenses refer to it; name and default seats may change
    (existing licenses keep their own ``max_seats``), and so may the heartbeat and the
    non-production limit, which apply to every license of the product at once (a lower
    limit admits nothing new until the rows fall below it; nothing is released).
    Raises ValidationFailed when a value is out of its bounds (``brands.limits``),
    DuplicateField when another product of the brand has this ``edd_item_id``. A new
    ``token_lifetime_seconds`` applies to tokens signed from then on."""
    _refuse(
        token_lifetime_seconds=None
        if token_lifetime_seconds is _UNSET
        else token_lifetime_problem(token_lifetime_seconds),
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
    if token_lifetime_seconds is not _UNSET:
        product.token_lifetime_seconds = token_lifetime_seconds
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


# --- signing keys (SPEC §12) ---------------------------------------------------------------

# signed_until is written rounded up to this step: one UPDATE per key per step at most.
SIGNED_UNTIL_STEP = timedelta(hours=1)


def _signing_keys() -> models.Manager[BrandSigningKey]:
    """Signing keys as the primary has them: a replica that lags a rotation must not make a
    process sign with a retired key."""
    return BrandSigningKey.objects.db_manager(router.db_for_write(BrandSigningKey))


def _create_signing_key(*, brand_id: int) -> BrandSigningKey:
    pair = new_key_pair()
    return _signing_keys().create(
        brand_id=brand_id,
        kid=pair.kid,
        public_key=pair.public_key,
        private_key_encrypted=encrypt_private_key(
            pair.private_raw, brand_id=brand_id, kid=pair.kid
        ),
    )


def _publish_current_kid(brand: Brand, kid: str) -> None:
    """After commit: the brand's current kid in the cache, where cached tokens are compared
    with it (activations.tokens): a rotation re-signs them at their next check."""

    def publish() -> None:
        try:
            cache.set(current_kid_cache_key(brand.slug), kid, None)
        except Exception:  # a cached token then lives out its half-life (its key published)
            cache_failed("signing kid publish")

    transaction.on_commit(publish)


def signing_key_current(*, brand_id: int) -> BrandSigningKey:
    """The brand's current signing key, made now if it has none yet (its first token): no
    request fails for want of a key. Two first signers race safely: the partial unique
    index admits one current key per brand, and the loser reads the winner's."""
    current = _signing_keys().filter(brand_id=brand_id, retired_at__isnull=True).first()
    if current is not None:
        return current
    try:
        with transaction.atomic(using=router.db_for_write(BrandSigningKey)):
            key = _create_signing_key(brand_id=brand_id)
            audit_record(
                action="brand.signing_key_created",
                actor=Actor.system("license-tokens"),
                target_type="brand",
                target_id=brand_id,
                brand_id=brand_id,
                after={"kid": key.kid},
            )
            # Its kid is not published to the cache: no token of the brand is cached yet.
            return key
    except IntegrityError:  # another request made it first
        return _signing_keys().get(brand_id=brand_id, retired_at__isnull=True)


@transaction.atomic
def signing_key_rotate(*, brand: Brand, actor: Actor) -> BrandSigningKey:
    """Retire the brand's current signing key (if any) and make a new current one: tokens
    signed from the commit on use the new key. The retired key stays published in the JWKS
    until the last token it signed has expired (its ``signed_until``). Rotating twice in a
    row is allowed: the key between never signed anything and is never published again."""
    Brand.objects.select_for_update().filter(pk=brand.pk).first()  # one rotation at a time
    now = timezone.now()
    current = (
        _signing_keys().select_for_update().filter(brand=brand, retired_at__isnull=True).first()
    )
    if current is not None:
        current.retired_at = now
        current.save(update_fields=["retired_at"])
    key = _create_signing_key(brand_id=brand.pk)
    audit_record(
        action="brand.signing_key_rotated",
        actor=actor,
        target_type="brand",
        target_id=brand.pk,
        brand_id=brand.pk,
        before={"kid": current.kid if current is not None else None},
        after={"kid": key.kid},
    )
    _publish_current_kid(brand, key.kid)
    return key


def signing_key_note_signed(*, key: BrandSigningKey, exp: datetime) -> None:
    """Record that ``key`` signed a token expiring at ``exp``, before the token is handed
    out, so the key stays published until then: ``signed_until`` only grows, rounded up to
    SIGNED_UNTIL_STEP (one conditional UPDATE per key and step at most; none when the row
    as this process read it already covers ``exp``). Bookkeeping, no audit row."""
    if key.signed_until is not None and key.signed_until >= exp:
        return
    step = SIGNED_UNTIL_STEP.total_seconds()
    until = datetime.fromtimestamp(math.ceil(exp.timestamp() / step) * step, tz=exp.tzinfo)
    _signing_keys().filter(pk=key.pk).filter(
        Q(signed_until__isnull=True) | Q(signed_until__lt=until)
    ).update(signed_until=until)
    key.signed_until = until
