"""Append-only record of every state change (SPEC §8). ``audit`` imports none of the apps:
targets are stored as (type, id) with the brand and license ids denormalized for lookup.

Append-only is enforced at every door Django offers: ``save()`` of a recorded row,
``delete()``, ``QuerySet.update()/delete()/bulk_update()`` and an upserting ``bulk_create``
raise ``AuditEventImmutable``; on PostgreSQL a trigger (migration 0002) refuses UPDATE and
DELETE of a row whatever sent them. No foreign key points at or out of this table, so no
cascade ever reaches it."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any

from django.db import models

from audit.errors import AuditEventImmutable


class AuditEventQuerySet(models.QuerySet["AuditEvent"]):
    """Reads, and inserts through ``create``/``bulk_create``; nothing that changes a row."""

    def update(self, **kwargs: Any) -> int:
        raise AuditEventImmutable("QuerySet.update()")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise AuditEventImmutable("QuerySet.delete()")

    def bulk_update(
        self, objs: Iterable[AuditEvent], fields: Iterable[str], batch_size: int | None = None
    ) -> int:
        raise AuditEventImmutable("QuerySet.bulk_update()")

    def bulk_create(  # noqa: PLR0913, PLR0917 (Django's own signature, whole: no argument slips past)
        self,
        objs: Iterable[AuditEvent],
        batch_size: int | None = None,
        ignore_conflicts: bool = False,
        update_conflicts: bool = False,
        update_fields: Collection[str] | None = None,
        unique_fields: Collection[str] | None = None,
    ) -> list[AuditEvent]:
        if update_conflicts:  # ON CONFLICT DO UPDATE rewrites the rows it collides with
            raise AuditEventImmutable("bulk_create(update_conflicts=True)")
        return super().bulk_create(
            objs,
            batch_size=batch_size,
            ignore_conflicts=ignore_conflicts,
            update_fields=update_fields,
            unique_fields=unique_fields,
        )


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

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        # Django's own internal paths (refresh_from_db, the save machinery) use the same
        # guarded queryset as everyone else.
        base_manager_name = "objects"
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["license_id", "-created_at"], name="audit_license_idx"),
            models.Index(fields=["target_type", "target_id"], name="audit_target_idx"),
            models.Index(fields=["brand_id", "-created_at"], name="audit_brand_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.action} {self.target_type}:{self.target_id} by {self.actor}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        """Insert only. An instance built with the pk of a recorded row would otherwise be
        saved as an UPDATE of that row: the insert is forced, so it fails on the pk instead."""
        if not self._state.adding:
            raise AuditEventImmutable("Model.save() of a recorded event")
        if kwargs.get("force_update") or kwargs.get("update_fields") is not None:
            raise AuditEventImmutable("Model.save(force_update/update_fields)")
        kwargs["force_insert"] = True
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise AuditEventImmutable("Model.delete()")
