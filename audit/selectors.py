from __future__ import annotations

from django.db.models import Q, QuerySet

from audit.models import AuditEvent


def audit_events_for_license(
    *, license_id: int, license_key_id: int | None = None
) -> QuerySet[AuditEvent]:
    """Newest first. With ``license_key_id``, the events of its key too (an e-mail
    correction concerns every license on the key)."""
    where = Q(license_id=license_id)
    if license_key_id is not None:
        where |= Q(target_type="license_key", target_id=str(license_key_id))
    return AuditEvent.objects.filter(where).order_by("-created_at", "-id")
