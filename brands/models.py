"""Tenants (brands), their products and their API credentials."""

from __future__ import annotations

import hashlib
import secrets

from django.core.validators import MaxValueValidator, RegexValidator
from django.db import models
from django.db.models import Q

slug_validator = RegexValidator(r"^[a-z0-9-]+\Z", "Use lower-case letters, digits and dashes.")
key_prefix_validator = RegexValidator(r"^[A-Z]{2,6}\Z", "Use 2 to 6 upper-case letters.")

SCOPE_LICENSES_READ = "licenses:read"
SCOPE_LICENSES_WRITE = "licenses:write"
SCOPE_ECOSYSTEM_READ = "ecosystem:read"
ALL_SCOPES = (SCOPE_LICENSES_READ, SCOPE_LICENSES_WRITE, SCOPE_ECOSYSTEM_READ)
DEFAULT_SCOPES = [SCOPE_LICENSES_READ, SCOPE_LICENSES_WRITE]

# The most seats a limit may name: what a PositiveIntegerField column holds on PostgreSQL.
MAX_SEATS = 2**31 - 1


MAX_EXPIRING_SOON_DAYS = 365


class Brand(models.Model):
    name = models.CharField(max_length=100)
    slug = models.CharField(max_length=50, unique=True, validators=[slug_validator])
    key_prefix = models.CharField(max_length=6, unique=True, validators=[key_prefix_validator])
    is_active = models.BooleanField(default=True)
    # Host globs (``*.staging.example.com``, ``dev-*.example.org``) whose activations are
    # staging, beside the built-in rules (activations.environment).
    non_production_patterns = models.JSONField(default=list, db_default=[], blank=True)
    # ``license.expiring_soon`` is announced this many days before a license expires
    # (SPEC §14); 0: never.
    expiring_soon_days = models.PositiveSmallIntegerField(
        default=7,
        db_default=7,
        validators=[MaxValueValidator(MAX_EXPIRING_SOON_DAYS)],
        help_text="Days before expiry that license.expiring_soon is announced (0: never).",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["slug"]
        constraints = [
            models.CheckConstraint(
                condition=Q(key_prefix__regex=r"^[A-Z]{2,6}$"), name="brand_key_prefix_format"
            ),
            models.CheckConstraint(
                condition=Q(slug__regex=r"^[a-z0-9-]+$"), name="brand_slug_format"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Product(models.Model):
    brand = models.ForeignKey(Brand, on_delete=models.PROTECT, related_name="products")
    name = models.CharField(max_length=100)
    slug = models.CharField(max_length=50, validators=[slug_validator])
    default_max_seats = models.PositiveIntegerField(
        null=True, blank=True, help_text="Empty means unlimited seats."
    )
    # SPEC §10: an activation not seen for longer is dead (no longer a seat); None: never.
    # At least settings.LICENSE_SERVICE["HEARTBEAT_MIN_SECONDS"] (checked where it is set).
    heartbeat_seconds = models.PositiveIntegerField(
        null=True, blank=True, help_text="Empty: activations never go stale."
    )
    # Staging and local activations a license may hold besides its seats.
    non_production_limit = models.PositiveIntegerField(default=10, db_default=10)
    # SPEC §11: the item id a WordPress plugin already shipped with sends to an EDD store
    # (``item_id``), so it keeps working unchanged at /edd/<brand>/. Unique per brand.
    edd_item_id = models.PositiveIntegerField(
        null=True, blank=True, help_text="The product's Easy Digital Downloads item id, if any."
    )
    # SPEC §12: how long a signed license token lives at most (never past the license's
    # own expires_at). Bounds in brands.limits.
    token_lifetime_seconds = models.PositiveIntegerField(
        default=7 * 24 * 3600,
        db_default=7 * 24 * 3600,
        help_text="Lifetime of a signed license token, in seconds (default 7 days).",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["brand_id", "slug"]
        constraints = [
            models.UniqueConstraint(fields=["brand", "slug"], name="product_slug_unique_per_brand"),
            models.UniqueConstraint(
                fields=["brand", "edd_item_id"],
                condition=Q(edd_item_id__isnull=False),
                name="product_edd_item_id_unique_per_brand",
            ),
            models.CheckConstraint(
                condition=Q(edd_item_id__isnull=True) | Q(edd_item_id__gte=1),
                name="product_edd_item_id_positive",
            ),
            models.CheckConstraint(
                condition=Q(default_max_seats__isnull=True) | Q(default_max_seats__gte=1),
                name="product_default_max_seats_positive",
            ),
            models.CheckConstraint(
                condition=Q(slug__regex=r"^[a-z0-9-]+$"), name="product_slug_format"
            ),
            models.CheckConstraint(
                condition=Q(token_lifetime_seconds__gte=60),
                name="product_token_lifetime_at_least_a_minute",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.brand.slug}/{self.slug}"


API_KEY_PREFIX = "lsk_"
API_KEY_VISIBLE_CHARS = 12
MAX_API_KEY_LENGTH = 128


def generate_api_key() -> str:
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


def hash_api_key(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


class BrandApiKey(models.Model):
    """A brand's credential. The plain key is shown once; only its SHA-256 is stored (the
    key carries 256 random bits, so a fast hash is the right one: nothing to brute-force)."""

    brand = models.ForeignKey(Brand, on_delete=models.PROTECT, related_name="api_keys")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, help_text="Visible start of the key.")
    key_hash = models.CharField(max_length=64, unique=True)
    scopes = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["brand_id", "-created_at"]
        verbose_name = "brand API key"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None


class BrandSigningKey(models.Model):
    """One Ed25519 key a brand signs license tokens with (SPEC §12). The brand's current key
    is its one row with ``retired_at`` null; a rotation retires it and makes the next. The
    private key is stored encrypted (``brands.signing``: AES-256-GCM under a key derived
    from ``SIGNING_KEYS_SECRET``, bound to this row's brand and kid); the public key is
    published in the JWKS until ``signed_until``, the latest ``exp`` a token it signed may
    carry, has passed."""

    brand = models.ForeignKey(Brand, on_delete=models.PROTECT, related_name="signing_keys")
    kid = models.CharField(max_length=64, unique=True)
    public_key = models.CharField(max_length=64, help_text="Raw Ed25519 key, base64url.")
    private_key_encrypted = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)
    retired_at = models.DateTimeField(null=True, blank=True)
    # The latest exp any token of this key may carry (rounded up when written, so a write
    # happens at most once per SIGNED_UNTIL_STEP per key); null: it signed nothing yet.
    signed_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["brand_id", "-created_at", "-id"]
        verbose_name = "brand signing key"
        constraints = [
            models.UniqueConstraint(
                fields=["brand"],
                condition=Q(retired_at__isnull=True),
                name="brand_signing_key_one_current_per_brand",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kid} ({'current' if self.retired_at is None else 'retired'})"
