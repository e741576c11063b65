"""Audit events, read-only: nobody can add, change or delete one through the service."""

from __future__ import annotations

from django.contrib import admin

from audit.models import AuditEvent
from license_service.admin import ReadOnlyAdmin


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = [
        "created_at",
        "action",
        "actor_type",
        "actor",
        "target_type",
        "target_id",
        "license_id",
        "request_id",
    ]
    list_filter = ["action", "actor_type"]
    # Exact matches: ids are looked up, not browsed (and the target index serves them).
    search_fields = ["=target_id", "=request_id", "=actor"]
    fields = (
        "created_at",
        "action",
        "actor_type",
        "actor",
        "target_type",
        "target_id",
        "brand_id",
        "license_id",
        "request_id",
        "client_ip",
        "before",
        "after",
    )
    readonly_fields = fields
