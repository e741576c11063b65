"""Domain errors of releases and package downloads."""

from __future__ import annotations

from license_service.errors import DomainError


class PackageTooLarge(DomainError):
    """A package over ``RELEASE_MAX_UPLOAD_BYTES`` (SPEC §3: 413, ``details.max_bytes``)."""

    code = "payload_too_large"
    http_status = 413

    def __init__(self, max_bytes: int) -> None:
        super().__init__(
            f"The package is larger than {max_bytes} bytes.", details={"max_bytes": max_bytes}
        )


class DownloadForbidden(DomainError):
    """A download URL that was altered, has expired, or whose license may not download."""

    code = "permission_denied"
    http_status = 403
    default_message = "This download link is not valid."


class ReleaseInvalidTransition(DomainError):
    """A change a release's state does not allow (publish a yanked release, unpublish…)."""

    code = "invalid_transition"
    http_status = 409

    def __init__(self, *, action: str, current_status: str):
        super().__init__(
            f"Cannot {action} a release that is {current_status}.",
            details={"action": action, "current_status": current_status},
        )


class VersionConflict(DomainError):
    """The version exists with another package. The version works as the upload's
    idempotency key: the same package again is answered with the existing release, another
    one is SPEC §3's ``idempotency_conflict`` (409), naming the field."""

    code = "idempotency_conflict"
    http_status = 409

    def __init__(self, *, version: str, release_id: int):
        super().__init__(
            f"Release {version} already exists with another package; a version's package "
            "never changes (upload a new version).",
            details={"version": [f"Release {version} already exists."], "release_id": release_id},
        )
