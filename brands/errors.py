from __future__ import annotations

from license_service.errors import DomainError


class DuplicateField(DomainError):
    """A unique field (slug, key prefix) is already taken: a validation error naming it."""

    code = "validation_error"
    http_status = 400

    def __init__(self, field: str, message: str):
        super().__init__("Invalid input.", details={field: [message]})
