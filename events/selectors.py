"""Reads of the outbox: the brand's feed, and an event's body as the feed and webhooks show
it."""

from __future__ import annotations

from typing import Any

from brands.models import Brand
from events.models import Event
from events.services import SEQUENCE_BATCH, events_sequence, events_unsequenced
from license_service.errors import NotFound

# A feed read sequences at most this many batches; the rest wait for the next read.
MAX_SEQUENCE_ROUNDS = 10


def event_body(event: Event, brand_slug: str) -> dict[str, Any]:
    """SPEC §13: ``{id, type, created_at, brand, data}``."""
    return {
        "id": event.pk,
        "type": event.type,
        "created_at": event.created_at.isoformat().replace("+00:00", "Z"),
        "brand": brand_slug,
        "data": event.data,
    }


def events_feed(
    brand: Brand, *, after: int | None, type_: str | None, limit: int
) -> tuple[list[Event], bool]:
    """The brand's events after the event ``after`` (None: from the start), in feed order,
    at most ``limit``; and whether more follow. Events committed since the last read are
    sequenced first. Raises NotFound when ``after`` is no event of this brand (as the other
    lists answer a cursor that points nowhere; another brand's event is answered the same:
    its existence is not revealed)."""
    for _ in range(MAX_SEQUENCE_ROUNDS):
        if not events_unsequenced() or events_sequence() < SEQUENCE_BATCH:
            break
    start = 0
    if after is not None:
        cursor = Event.objects.filter(pk=after, brand=brand).values_list("position", flat=True)
        position = cursor.first()
        if position is None:  # unknown, another brand's, or still in flight
            raise NotFound(
                "No event of this brand has this id.", details={"after": ["Unknown event."]}
            )
        start = position
    queryset = Event.objects.filter(brand=brand, position__gt=start)
    if type_:
        queryset = queryset.filter(type=type_)
    page = list(queryset.order_by("position")[: limit + 1])
    return page[:limit], len(page) > limit
