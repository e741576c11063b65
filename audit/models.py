"""Append-only record of every state change (SPEC §8). ``audit`` imports none of the apps:
targets are stored as (type, id) with the brand and license ids denormalized for lookup."""

from __future__ import annotations

from django.db import models


class AuditEvent(models.Model):
    class ActorType(models.TextChoices):
        BRAND = "brand"
        STAFF = "staff"
        PRODUCT = "product"
        SYSTEM = "system"

    action = models.CharField(max_length=64)
    actor_type = models.CharField(max_length=16, choices=ActorType.choices)
    actor = models.CharField(max_length=150, help_text="Brand slug, staff username or 'product'.")
    target_type = models.CharField(max_length=32)
    target_id = models.CharField(max_length=64)
    brand_id = models.BigIntegerField(null=True, blank=True)
    license_id = models.BigIntegerField(null=True, blank=True)
    request_id = models.CharField(max_length=128, blank=True)
    client_ip = models.GenericIPAddressField(null=True, blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["license_id", "-created_at"], name="audit_license_idx"),
            models.Index(fields=["target_type", "target_id"], name="audit_target_idx"),
            models.Index(fields=["brand_id", "-created_at"], name="audit_brand_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.action} {self.target_type}:{self.target_id} by {self.actor}"

    def save(self, *args: object, **kwargs: object) -> None:
        if self.pk is not None and not self._state.adding:
            raise RuntimeError("Audit events are append-only.")
        super().save(*args, **kwargs)  # type: ignore[arg-type]

    def delete(self, *args: object, **kwargs: object) -> tuple[int, dict[str, int]]:
        raise RuntimeError("Audit events are append-only.")
