"""Audit events, read-only: nobody can add, change or delete one through the service."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from audit.models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
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

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
