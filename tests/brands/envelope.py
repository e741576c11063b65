"""The SPEC §3 error envelope, asserted."""

from __future__ import annotations

from typing import Any


def assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    """The response is the error envelope with this status and code; returns its body."""
    assert response.status_code == status, response.content
    body: dict[str, Any] = response.json()
    assert set(body) == {"success", "error", "message", "details"}
    assert body["success"] is False
    assert body["error"] == code
    assert isinstance(body["message"], str)
    assert isinstance(body["details"], dict)
    return body
