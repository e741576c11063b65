"""The functions that record audit events: one, or several of one action in one INSERT."""

from __future__ import annotations

from collections.abc import Sequence
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


@dataclass(frozen=True, slots=True)
class Change:
    """One target of ``audit_record_many``: its id and its state before and after."""

    target_id: Any
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None


def audit_record_many(
    *,
    action: str,
    actor: Actor,
    target_type: str,
    changes: Sequence[Change],
    brand_id: int | None = None,
    license_id: int | None = None,
) -> list[AuditEvent]:
    """``audit_record`` for several targets of one action, in one INSERT whatever their
    number (a reclaim of many seats keeps a constant query count). The same rules."""
    if not transaction.get_connection().in_atomic_block:
        raise AuditOutsideTransaction()
    request_id, client_ip = request_id_var.get(), client_ip_var.get()
    return AuditEvent.objects.bulk_create(
        [
            AuditEvent(
                action=action,
                actor_type=actor.type,
                actor=actor.name,
                target_type=target_type,
                target_id=str(change.target_id),
                brand_id=brand_id,
                license_id=license_id,
                request_id=request_id,
                client_ip=client_ip,
                before=change.before,
                after=change.after,
            )
            for change in changes
        ]
    )
