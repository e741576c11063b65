"""Domain errors of provisioning and the license lifecycle."""

from __future__ import annotations

from license_service.errors import DomainError


class LicenseNotFound(DomainError):
    code = "license_not_found"
    http_status = 404
    default_message = "No license found for this key."


class InvalidTransition(DomainError):
    code = "invalid_transition"
    http_status = 409

    def __init__(self, *, action: str, current_status: str):
        super().__init__(
            f"Cannot {action.replace('_', ' ')} a license that is {current_status}.",
            details={"action": action, "current_status": current_status},
        )


class AlreadyEntitled(DomainError):
    code = "already_entitled"
    http_status = 409
    default_message = "This license key already carries a license for this product."


class KeyConflict(DomainError):
    code = "key_conflict"
    http_status = 409
    default_message = "This license key belongs to another customer or brand."


class IdempotencyConflict(DomainError):
    code = "idempotency_conflict"
    http_status = 409
    default_message = "This Idempotency-Key was already used with a different request body."
