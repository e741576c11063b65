"""Fill ``Event.license_id`` of the events written before the column existed, from their
body: every license.* and activation.* event carries its license (``data["license"]
["license_id"]``, the brand API's shape). In batches of 1,000 rows by id, so a large outbox
is never read into memory at once; plain ORM reads and ``bulk_update``, on SQLite and
PostgreSQL alike. Rows with no usable id are left null. Reversing keeps the values (the
column goes with 0003's reverse)."""

from __future__ import annotations

from typing import Any

from django.db import migrations

BATCH = 1000
# As they were when this migration was written (the model's list may grow).
TYPES = (
    "license.provisioned",
    "license.renewed",
    "license.suspended",
    "license.resumed",
    "license.cancelled",
    "license.seats_changed",
    "license.expiring_soon",
    "license.expired",
    "activation.created",
    "activation.released",
    "activation.reclaimed",
)


def license_id_of(data: Any) -> int | None:
    license_ = data.get("license") if isinstance(data, dict) else None
    value = license_.get("license_id") if isinstance(license_, dict) else None
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**63:
        return value
    return None


def backfill(apps: Any, schema_editor: Any) -> None:
    Event = apps.get_model("events", "Event")
    events = Event.objects.using(schema_editor.connection.alias)
    last = 0
    while True:
        batch = list(
            events.filter(pk__gt=last, type__in=TYPES, license_id__isnull=True)
            .order_by("pk")
            .only("pk", "data")[:BATCH]
        )
        if not batch:
            return
        last = batch[-1].pk
        changed = []
        for event in batch:
            event.license_id = license_id_of(event.data)
            if event.license_id is not None:
                changed.append(event)
        events.bulk_update(changed, ["license_id"])


class Migration(migrations.Migration):
    dependencies = [("events", "0003_event_license_id")]

    operations = [migrations.RunPython(backfill, migrations.RunPython.noop)]
