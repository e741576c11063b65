"""Typed domain errors. Each carries its SPEC §3 code and HTTP status; one handler renders
them (``license_service.api.exceptions``)."""

from __future__ import annotations

from typing import Any

from django.conf import settings


class DomainError(Exception):
    code = "error"
    http_status = 400
    default_message = "The request could not be completed."

    def __init__(self, message: str | None = None, *, details: dict[str, Any] | None = None):
        self.message = message or self.default_message
        self.details = details or {}
        super().__init__(self.message)


class ValidationFailed(DomainError):
    code = "validation_error"
    http_status = 400
    default_message = "The request is invalid."


class NotFound(DomainError):
    code = "not_found"
    http_status = 404
    default_message = "Not found."


class PermissionDenied(DomainError):
    code = "permission_denied"
    http_status = 403
    default_message = "You do not have permission to perform this action."


class Throttled(DomainError):
    code = "throttled"
    http_status = 429
    default_message = "Too many requests."

    def __init__(self, wait: int, message: str | None = None):
        self.wait = max(1, int(wait))
        super().__init__(
            message or f"Too many requests; retry in {self.wait} seconds.",
            details={"retry_after": self.wait},
        )


class ServiceUnavailable(DomainError):
    code = "service_unavailable"
    http_status = 503
    default_message = "The service is temporarily unavailable; retry later."


class PayloadTooLarge(DomainError):
    """A request body over ``DATA_UPLOAD_MAX_MEMORY_SIZE`` (Django's ``RequestDataTooBig``)."""

    code = "payload_too_large"
    http_status = 413

    def __init__(self) -> None:
        max_bytes: int = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        super().__init__(
            f"The request body is larger than {max_bytes} bytes.",
            details={"max_bytes": max_bytes},
        )
