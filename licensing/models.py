"""License keys and the per-product licenses they carry."""

from __future__ import annotations

from datetime import datetime

from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone

from brands.models import Brand, Product
from license_service.hostnames import domain_to_ascii
from licensing.keys import key_masked

MAX_EMAIL_LENGTH = 254
# The brand API's PATCH actions (SPEC §5 US2), each a service in licensing.services.
LIFECYCLE_ACTIONS = ("renew", "suspend", "resume", "cancel", "set_seats")


def normalize_email(email: str, *, strict: bool = False) -> str:
    """How a customer e-mail is stored and matched: trimmed, lower-cased, its domain in
    its one ASCII form, as an instance identifier's host (SPEC §6): ``Ann@Exämple.COM.``
    is ``ann@xn--exmple-cua.com``.

    A domain that is no valid host name raises InvalidHostname when ``strict`` (storing);
    otherwise it is only lower-cased (a lookup then finds nothing).
    """
    email = email.strip().lower()
    local, at, domain = email.rpartition("@")
    if not at:
        return email
    try:
        return f"{local}@{domain_to_ascii(domain)}"
    except ValueError:
        if strict:
            raise
        return email


class LicenseKey(models.Model):
    brand = models.ForeignKey(Brand, on_delete=models.PROTECT, related_name="license_keys")
    # A UniqueConstraint rather than unique=True: on PostgreSQL the latter adds a second,
    # varchar_pattern_ops index that the exact-match check path never needs.
    key = models.CharField(max_length=64)
    customer_email = models.EmailField(
        max_length=MAX_EMAIL_LENGTH,
        help_text="Stored trimmed, lower-cased, its domain in IDNA ASCII form.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["customer_email", "brand"], name="licensekey_email_brand_idx"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["key"], name="licensekey_key_unique"),
            models.CheckConstraint(
                condition=Q(customer_email=Lower("customer_email")),
                name="licensekey_email_lowercase",
            ),
        ]

    def __str__(self) -> str:
        return self.key


class License(models.Model):
    class Status(models.TextChoices):
        VALID = "valid"
        SUSPENDED = "suspended"
        CANCELLED = "cancelled"

    EXPIRED = "expired"  # effective only, never stored

    license_key = models.ForeignKey(LicenseKey, on_delete=models.PROTECT, related_name="licenses")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="licenses")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.VALID)
    expires_at = models.DateTimeField(null=True, blank=True, help_text="Empty means lifetime.")
    max_seats = models.PositiveIntegerField(
        null=True, blank=True, help_text="Empty means unlimited seats."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # The expiry that ``license.expired`` / ``license.expiring_soon`` was announced for
    # (SPEC §14): once per license per expiry; a renewal sets a new expiry to announce.
    # The jobs claim an announcement with a conditional UPDATE of these (licensing.jobs).
    expired_announced_for = models.DateTimeField(null=True, blank=True, editable=False)
    expiring_soon_announced_for = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["license_key", "product"], name="license_one_per_key_and_product"
            ),
            models.CheckConstraint(
                condition=Q(status__in=["valid", "suspended", "cancelled"]),
                name="license_status_known",
            ),
            models.CheckConstraint(
                condition=Q(max_seats__isnull=True) | Q(max_seats__gte=1),
                name="license_max_seats_positive",
            ),
        ]
        indexes = [
            models.Index(fields=["product", "status"], name="license_product_status_idx"),
            # The expiry jobs' scan: valid licenses by expiry.
            models.Index(
                fields=["expires_at"],
                condition=Q(status="valid", expires_at__isnull=False),
                name="license_valid_expiry_idx",
            ),
        ]
        # What the staff console's buttons need (SPEC §15), besides view_license; the groups
        # "support" and "billing" (migration 0004) hold them.
        permissions = [
            ("issue_license", "Can issue a license (US1 provisioning)"),
            ("suspend_license", "Can suspend and resume a license"),
            ("renew_license", "Can renew a license"),
            ("cancel_license", "Can cancel a license"),
            ("change_seats", "Can change a license's seat limit"),
            ("release_activation", "Can release a license's activations"),
            ("change_customer_email", "Can correct a license key's customer email"),
        ]

    def __str__(self) -> str:
        """``RNKM-…-E8RJP · rankmath-pro``: the key masked (a page title needs no
        credential), and the product. Reads ``license_key`` and ``product``: select them."""
        return f"{key_masked(self.license_key.key)} · {self.product.slug}"

    def effective_status(self, now: datetime | None = None) -> str:
        return effective_status(self.status, self.expires_at, now)


def effective_status(status: str, expires_at: datetime | None, now: datetime | None = None) -> str:
    """SPEC §2: cancelled > suspended > expired (from the clock) > valid."""
    if status != License.Status.VALID:
        return status
    if expires_at is not None and expires_at <= (now or timezone.now()):
        return License.EXPIRED
    return status


class IdempotencyRecord(models.Model):
    """The first response to a provisioning request with an ``Idempotency-Key``."""

    brand = models.ForeignKey(Brand, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64)
    response_status = models.PositiveSmallIntegerField()
    response_body = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["brand", "key"], name="idempotency_key_unique_per_brand"
            )
        ]

    def __str__(self) -> str:
        return f"{self.brand_id}:{self.key}"
