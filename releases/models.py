"""Release: one version of a product's package (SPEC §11)."""

from __future__ import annotations

import uuid
from typing import Any

from django.core.files.storage import Storage, storages
from django.db import models
from django.db.models import Q

from brands.models import Product


def releases_storage() -> Storage:
    """The "releases" alias of ``STORAGES`` (local directory or an S3-compatible bucket)."""
    return storages["releases"]


def package_upload_to(instance: Release, filename: str) -> str:
    """``<brand>/<product>/<version>-<uuid>.zip``: never the client's file name, which only
    its extension could have mattered for, and a package is always a zip. Brand and product
    slugs and the version are restricted to ``[0-9A-Za-z._+-]`` and hold no ``/`` nor a
    leading dot."""
    product = instance.product
    return f"{product.brand.slug}/{product.slug}/{instance.version}-{uuid.uuid4().hex}.zip"


class Release(models.Model):
    class Channel(models.TextChoices):
        STABLE = "stable"
        BETA = "beta"

    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="releases")
    version = models.CharField(max_length=64)
    channel = models.CharField(max_length=8, choices=Channel.choices, default=Channel.STABLE)
    package = models.FileField(
        storage=releases_storage, upload_to=package_upload_to, max_length=255
    )
    sha256 = models.CharField(max_length=64)
    size = models.PositiveBigIntegerField()
    changelog = models.TextField(blank=True, default="", help_text="Markdown.")
    requires = models.CharField(
        max_length=32, blank=True, default="", help_text="Lowest WordPress version."
    )
    requires_php = models.CharField(
        max_length=32, blank=True, default="", help_text="Lowest PHP version."
    )
    tested = models.CharField(
        max_length=32, blank=True, default="", help_text="WordPress version tested up to."
    )
    published_at = models.DateTimeField(null=True, blank=True, help_text="Empty: a draft.")
    yanked_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["product", "version"], name="release_one_per_version"),
            models.CheckConstraint(
                condition=Q(channel__in=["stable", "beta"]), name="release_channel_known"
            ),
        ]
        indexes = [
            models.Index(fields=["product", "published_at"], name="release_product_pub_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.product_id}@{self.version}"

    @property
    def is_published(self) -> bool:
        return self.published_at is not None

    @property
    def is_yanked(self) -> bool:
        return self.yanked_at is not None

    def audit_state(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "channel": self.channel,
            "sha256": self.sha256,
            "size": self.size,
            "requires": self.requires,
            "requires_php": self.requires_php,
            "tested": self.tested,
            "changelog_chars": len(self.changelog),
            "published_at": self.published_at.isoformat() if self.published_at else None,
            "yanked_at": self.yanked_at.isoformat() if self.yanked_at else None,
        }
