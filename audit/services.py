"""The one function that records an audit event."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import transaction

from audit.errors import AuditOutsideTransaction
from audit.models import AuditEvent
from license_service.context import client_ip_var, request_id_var


@dataclass(frozen=True, slots=True)
class Actor:
    """Who performed a change: a brand (slug), a staff user (username), or the product API."""

    type: str
    name: str

    @classmethod
    def brand(cls, slug: str) -> Actor:
        return cls(AuditEvent.ActorType.BRAND, slug)

    @classmethod
    def staff(cls, username: str) -> Actor:
        return cls(AuditEvent.ActorType.STAFF, username)

    @classmethod
    def product(cls) -> Actor:
        return cls(AuditEvent.ActorType.PRODUCT, "product")

    @classmethod
    def system(cls, name: str = "system") -> Actor:
        return cls(AuditEvent.ActorType.SYSTEM, name)


def audit_record(
    *,
    action: str,
    actor: Actor,
    target_type: str,
    target_id: Any,
    brand_id: int | None = None,
    license_id: int | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditEvent:
    """Write one audit row. Must run inside the caller's transaction, so the row exists
    exactly when the change it describes was committed. Raises AuditOutsideTransaction when
    called outside ``transaction.atomic`` (autocommit would commit the row on its own)."""
    if not transaction.get_connection().in_atomic_block:
        raise AuditOutsideTransaction()
    return AuditEvent.objects.create(
        action=action,
        actor_type=actor.type,
        actor=actor.name,
        target_type=target_type,
        target_id=str(target_id),
        brand_id=brand_id,
        license_id=license_id,
        request_id=request_id_var.get(),
        client_ip=client_ip_var.get(),
        before=before,
        after=after,
    )
