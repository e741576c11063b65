"""The outbox's writes: record events (inside the caller's transaction, as audit rows are),
and give committed events their feed positions (``events_sequence``).

The services of the apps above pass the event's ``data`` in, already in the brand API's
shapes: events imports none of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import connection, transaction

from events.errors import EventOutsideTransaction
from events.models import EVENT_TYPES, Event

SEQUENCE_BATCH = 1000
# pg_advisory_xact_lock key of the sequencer: any constant no other code uses.
_SEQUENCER_LOCK = 0x65766E7473  # "evnts"


def _check(type_: str) -> None:
    if type_ not in EVENT_TYPES:
        raise ValueError(f"unknown event type {type_!r}")
    if not transaction.get_connection().in_atomic_block:
        raise EventOutsideTransaction()


def event_record(
    *, type_: str, brand_id: int, data: dict[str, Any], license_id: int | None = None
) -> Event:
    """One event of ``brand_id`` (about ``license_id``, if it is about a license),
    committed with the caller's transaction. Raises EventOutsideTransaction outside
    ``transaction.atomic``."""
    _check(type_)
    return Event.objects.create(type=type_, brand_id=brand_id, data=data, license_id=license_id)


def event_record_many(
    *,
    type_: str,
    brand_id: int,
    data: Sequence[dict[str, Any]],
    license_id: int | None = None,
) -> list[Event]:
    """``event_record`` for several events of one type, in one INSERT."""
    _check(type_)
    return Event.objects.bulk_create(
        [Event(type=type_, brand_id=brand_id, data=item, license_id=license_id) for item in data]
    )


def events_sequence(*, batch: int = SEQUENCE_BATCH) -> int:
    """Give feed positions to up to ``batch`` committed events that have none, in id order,
    after every position given so far. Returns how many were given.

    One sequencer at a time: on PostgreSQL an advisory lock held to commit, so the next one
    starts from the positions this one gave; on SQLite the transaction's write lock
    (``BEGIN IMMEDIATE``). The UPDATE reads only committed rows (its statement's snapshot
    starts once the lock is held), so an event whose transaction is still open gets its
    position later, after every position given now: a reader that moved past those never
    misses it.
    """
    table = connection.ops.quote_name(Event._meta.db_table)
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_SEQUENCER_LOCK])
        cursor.execute(
            f"UPDATE {table} SET position = numbered.position FROM ("  # noqa: S608 (the model's own table name)
            f"  SELECT id, (SELECT COALESCE(MAX(position), 0) FROM {table})"
            f"    + ROW_NUMBER() OVER (ORDER BY id) AS position"
            f"  FROM {table} WHERE position IS NULL ORDER BY id LIMIT %s"
            f") AS numbered WHERE {table}.id = numbered.id",
            [batch],
        )
        return int(cursor.rowcount)


def events_unsequenced() -> bool:
    return Event.objects.filter(position__isnull=True).exists()
