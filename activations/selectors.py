"""Reads of the product API: the check answer and its cache.

The cache holds, per license key, the raw facts of every entitlement (stored status,
``expires_at``, seats, hashes of the active instances), never a rendered answer: the
effective status is computed when the answer is served, so a cached entry can outlive an
expiry time without ever reporting a license as valid after it. Entries are dropped after
commit by every service that changes them (``licensing.cache.check_cache_forget_on_commit``)
and live at most ``CHECK_CACHE_TTL`` seconds; unknown keys are remembered for
``CHECK_NEGATIVE_CACHE_TTL`` seconds; an entry read from the read replica (which may lag)
for at most ``REPLICA_CACHE_TTL`` seconds.

A hit costs no SQL query; a miss costs two (the key with its licenses, products, brand and
seat counts; then the active instances).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal

from django.conf import settings
from django.core.cache import cache
from django.db.models import Count
from django.utils import timezone

from activations.errors import LicenseNotFound
from activations.models import Activation
from license_service.ratelimit import cache_failed, cache_unavailable
from license_service.routers import replica_was_used
from licensing.cache import check_cache_key, negative_cache_key
from licensing.models import LicenseKey, effective_status
from licensing.selectors import seats_remaining

# Above this many seats in use, a license's instances are not cached; instance_active is
# then answered by one indexed query.
MAX_CACHED_INSTANCES = 1000

# Seconds an answer read from the replica is cached: a few times a replication lag.
REPLICA_CACHE_TTL = 5

CacheResult = Literal["hit", "miss", "negative_hit", "error"]
CheckData = dict[str, Any]


def mask_email(email: str) -> str:
    """``user@example.com`` -> ``u***@example.com``."""
    local, _, domain = email.partition("@")
    return f"{local[:1]}***@{domain}"


def instance_hash(instance_identifier: str) -> str:
    """A short digest of an identifier, so a cached entry stays small."""
    digest = hashlib.blake2b(instance_identifier.encode("utf-8", "surrogatepass"), digest_size=8)
    return digest.hexdigest()


def iso_datetime(value: datetime | None) -> str | None:
    """ISO 8601 in UTC with ``Z``, as DRF renders datetimes."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def check_data_load(key: str) -> CheckData | None:
    """The raw check facts of a canonical key from the database (two queries), or None."""
    rows = list(
        LicenseKey.objects.filter(key=key)
        .values(
            "customer_email",
            "brand__slug",
            "licenses__id",
            "licenses__status",
            "licenses__expires_at",
            "licenses__max_seats",
            "licenses__product__slug",
        )
        .annotate(seats_used=Count("licenses__activations"))
        .order_by("licenses__id")
    )
    if not rows:
        return None
    licenses = [
        {
            "license_id": row["licenses__id"],
            "product_slug": row["licenses__product__slug"],
            "status": row["licenses__status"],
            "expires_at": row["licenses__expires_at"],
            "max_seats": row["licenses__max_seats"],
            "seats_used": row["seats_used"],
            "instances": frozenset() if row["seats_used"] <= MAX_CACHED_INSTANCES else None,
        }
        for row in rows
        if row["licenses__id"] is not None
    ]
    listed = {
        lic["license_id"]: lic
        for lic in licenses
        if lic["seats_used"] and lic["instances"] is not None
    }
    if listed:
        instances: dict[int, set[str]] = {license_id: set() for license_id in listed}
        for license_id, identifier in Activation.objects.filter(
            license_id__in=list(listed)
        ).values_list("license_id", "instance_identifier"):
            instances[license_id].add(instance_hash(identifier))
        for license_id, hashes in instances.items():
            listed[license_id]["instances"] = frozenset(hashes)
    return {
        "license_key": key,
        "brand": rows[0]["brand__slug"],
        "customer_email_masked": mask_email(rows[0]["customer_email"]),
        "licenses": licenses,
    }


def check_data(
    key: str, *, cached: Mapping[str, Any] | None = None
) -> tuple[CheckData | None, CacheResult]:
    """The check facts of a canonical key, from the cache or else the database (which then
    fills the cache). ``cached`` is a ``get_many`` the caller already made for the check
    and negative keys (so a hit is one round trip with the caller's own keys)."""
    positive_key, negative_key = check_cache_key(key), negative_cache_key(key)
    down = cache_unavailable()
    if cached is None and not down:
        try:
            cached = cache.get_many([positive_key, negative_key])
        except Exception:
            cache_failed("check cache read")
            down = True
    cached = cached or {}
    data = cached.get(positive_key)
    if isinstance(data, dict):
        return data, "hit"
    if cached.get(negative_key) is not None:
        return None, "negative_hit"
    data = check_data_load(key)
    if not down:
        _remember(positive_key, negative_key, data)
    return data, "error" if down else "miss"


def _remember(positive_key: str, negative_key: str, data: CheckData | None) -> None:
    knobs = settings.LICENSE_SERVICE
    ttl = knobs["CHECK_NEGATIVE_CACHE_TTL"] if data is None else knobs["CHECK_CACHE_TTL"]
    if replica_was_used():  # may lag the primary: a just-provisioned key, a fresh seat
        ttl = min(ttl, REPLICA_CACHE_TTL)
    try:
        if data is None:
            cache.set(negative_key, 1, timeout=ttl)
        else:
            cache.set(positive_key, data, timeout=ttl)
    except Exception:
        cache_failed("check cache write")


def check_answer(
    data: CheckData,
    *,
    product_slug: str | None = None,
    instance_identifier: str | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The SPEC §6 check body from cached facts, with statuses as of ``now``.

    Raises LicenseNotFound when ``product_slug`` is given and the key does not carry it.
    """
    now = now or timezone.now()
    licenses = data["licenses"]
    if product_slug is not None:
        licenses = [lic for lic in licenses if lic["product_slug"] == product_slug]
        if not licenses:
            raise LicenseNotFound("This key has no license for that product.")
    active: set[int] = set()
    if instance_identifier is not None:
        active = _active_license_ids(licenses, instance_identifier)
    entitlements = []
    for lic in licenses:
        entitlement = {
            "product_slug": lic["product_slug"],
            "license_id": lic["license_id"],
            "status": effective_status(lic["status"], lic["expires_at"], now),
            "expires_at": iso_datetime(lic["expires_at"]),
            "seats_used": lic["seats_used"],
            "max_seats": lic["max_seats"],
            "seats_remaining": seats_remaining(
                seats_used=lic["seats_used"], max_seats=lic["max_seats"]
            ),
        }
        if instance_identifier is not None:
            entitlement["instance_active"] = lic["license_id"] in active
        entitlements.append(entitlement)
    return {
        "success": True,
        "license_key": data["license_key"],
        "brand": data["brand"],
        "customer_email_masked": data["customer_email_masked"],
        "entitlements": entitlements,
    }


def _active_license_ids(licenses: list[dict[str, Any]], instance_identifier: str) -> set[int]:
    digest = instance_hash(instance_identifier)
    active = {
        lic["license_id"]
        for lic in licenses
        if lic["instances"] is not None and digest in lic["instances"]
    }
    uncached = [lic["license_id"] for lic in licenses if lic["instances"] is None]
    if uncached:
        active.update(
            Activation.objects.filter(
                license_id__in=uncached, instance_identifier=instance_identifier
            ).values_list("license_id", flat=True)
        )
    return active
