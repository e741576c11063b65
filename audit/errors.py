"""Errors of the append-only audit trail (SPEC §8).

Both are programming errors, never a client's: no request can ask for an audit row to change,
so they are not ``DomainError``s with an HTTP status of their own and surface as a 500
("unhandled error" in the log) if code ever tries. ``RuntimeError`` subclasses, as before.
"""

from __future__ import annotations


class AuditError(RuntimeError):
    pass


class AuditEventImmutable(AuditError):
    """Something tried to change or delete a recorded audit event."""

    def __init__(self, operation: str) -> None:
        self.operation = operation
        super().__init__(f"Audit events are append-only: {operation} is refused.")


class AuditOutsideTransaction(AuditError):
    """``audit_record`` was called outside ``transaction.atomic``: the row would be committed
    on its own, even if the change it describes is rolled back."""

    def __init__(self) -> None:
        super().__init__(
            "audit_record must run inside the service's transaction.atomic block, so the "
            "event is committed exactly when the change it describes is."
        )
