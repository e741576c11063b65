"""Reads of the product API outside the check (``activations.check``): digests and
renderings the check shares with activate, and the one-query seat test."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from activations.models import Activation


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


def instance_active_on(*, license_key: str, product_slug: str, instance_identifier: str) -> bool:
    """Whether this instance (normalized) holds a seat of the key's license for this
    product: one indexed query."""
    return Activation.objects.filter(
        license__license_key__key=license_key,
        license__product__slug=product_slug,
        instance_identifier=instance_identifier,
    ).exists()
