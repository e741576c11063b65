"""Domain errors of the product API and seat logic (SPEC §3)."""

from __future__ import annotations

from license_service.errors import DomainError
from licensing.errors import LicenseNotFound

__all__ = [
    "ActivationNotFound",
    "LicenseCancelled",
    "LicenseExpired",
    "LicenseNotFound",
    "LicenseSuspended",
    "NonProductionLimitExceeded",
    "SeatLimitExceeded",
]


class ActivationNotFound(DomainError):
    code = "activation_not_found"
    http_status = 404
    default_message = "This instance is not active on this license."


class SeatLimitExceeded(DomainError):
    code = "seat_limit_exceeded"
    http_status = 409

    def __init__(self, *, seats_used: int, max_seats: int):
        super().__init__(
            f"No available seats: {seats_used} of {max_seats} in use.",
            details={"seats_used": seats_used, "max_seats": max_seats},
        )


class NonProductionLimitExceeded(SeatLimitExceeded):
    """No staging/local place left (the product's ``non_production_limit``)."""

    def __init__(self, *, non_production_in_use: int, non_production_limit: int):
        DomainError.__init__(
            self,
            f"No available non-production places: {non_production_in_use} of "
            f"{non_production_limit} in use.",
            details={
                "non_production_in_use": non_production_in_use,
                "non_production_limit": non_production_limit,
            },
        )


class LicenseSuspended(DomainError):
    code = "license_suspended"
    http_status = 403
    default_message = "This license is suspended."


class LicenseCancelled(DomainError):
    code = "license_cancelled"
    http_status = 403
    default_message = "This license is cancelled."


class LicenseExpired(DomainError):
    code = "license_expired"
    http_status = 403
    default_message = "This license has expired."
