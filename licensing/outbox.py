"""The events licensing writes to the outbox (SPEC §13), in the brand API's shapes: a
license as ``GET /api/v1/brand/licenses`` shows it, an activation as a license's detail
lists it. Called by the services inside their transaction, right after their audit row
(activations' services too: they pass their activations in)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from events.services import event_record, event_record_many
from licensing.selectors import license_with_seats
from licensing.serializers import LicenseActivationSerializer, LicenseOutputSerializer


def license_data(license_id: int) -> tuple[int, dict[str, Any]]:
    """(brand id, the license's body) as it stands in this transaction."""
    license_ = license_with_seats(license_id)
    return license_.license_key.brand_id, dict(LicenseOutputSerializer(license_).data)


def activation_data(activation: Any) -> dict[str, Any]:
    """An activation's body (its ``license`` with its product already loaded)."""
    return dict(LicenseActivationSerializer(activation).data)


def license_event(type_: str, *, license_id: int) -> None:
    brand_id, data = license_data(license_id)
    event_record(type_=type_, brand_id=brand_id, data={"license": data}, license_id=license_id)


def activation_events(
    type_: str, *, license_id: int, activations: Sequence[dict[str, Any]]
) -> None:
    """One event per activation (one INSERT), each with the license as it stands after the
    change."""
    if not activations:
        return
    brand_id, data = license_data(license_id)
    event_record_many(
        type_=type_,
        brand_id=brand_id,
        data=[{"license": data, "activation": activation} for activation in activations],
        license_id=license_id,
    )
