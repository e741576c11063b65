from __future__ import annotations

from django.db.models import QuerySet

from audit.models import AuditEvent


def audit_events_for_license(*, license_id: int) -> QuerySet[AuditEvent]:
    """Newest first."""
    return AuditEvent.objects.filter(license_id=license_id).order_by("-created_at", "-id")
