"""Stored instance identifiers in the form SPEC §6 now gives them (issue 12, item 16):
hosts in their IDNA ASCII form, parsed by the WHATWG URL rules.

Per license, every activation whose identifier normalizes differently is rewritten. When
several activations of one license now name one instance (``exämple.com`` and
``xn--exmple-cua.com``), they were one site holding several seats: they are merged into
the one activated first (ties: the lowest id), which keeps the earliest ``activated_at``
and the latest ``last_seen_at``; the others are deleted. No site loses its seat, and a
license only gets back seats that its duplicates held.

Every change is audited as a service would (``activation.normalized`` on the activation
kept or rewritten, ``activation.merged`` on each one folded into it, naming the one it went
into), actor ``system``/``migration``. Audit rows are append-only and are never touched:
the rows of a merged activation keep pointing at its id, and its ``activation.merged`` row
says where it went, as ``activation.released`` does for a deleted seat.

An identifier that the new rules refuse (a URL without a valid host, or over 255
characters once in ASCII form) is left as it is, and counted in the output: the brand can
still free it by id. The check cache of every key whose seats changed is invalidated after
commit. Not reversible (the old spellings are in the audit rows, not needed to run).
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import groupby
from typing import Any

from django.db import migrations, transaction

ACTOR_TYPE = "system"
ACTOR = "migration"
_FIELDS = (
    "id",
    "license_id",
    "instance_identifier",
    "activated_at",
    "last_seen_at",
    "license__product__brand_id",
    "license__license_key__key",
)


def _snapshot(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "instance_identifier": row["instance_identifier"],
        "license_id": row["license_id"],
        "activated_at": row["activated_at"].isoformat(),
        "last_seen_at": row["last_seen_at"].isoformat(),
    }


def _new_form(identifier: str) -> str | None:
    """The identifier as the service now stores it; None when it now refuses it."""
    from activations.normalize import clean_instance_identifier

    try:
        return clean_instance_identifier(identifier)
    except ValueError:
        return None


def _licenses(Activation: Any, db: str) -> Iterator[list[dict[str, Any]]]:
    """The activations of each license that has one to rewrite. The scan for them reads
    only; each batch of licenses is read whole before it is changed (SQLite does not
    isolate a query being iterated from writes on its connection)."""
    scan = Activation.objects.using(db).values_list("license_id", "instance_identifier")
    affected = sorted(
        {
            license_id
            for license_id, identifier in scan.iterator(chunk_size=2000)
            if _new_form(identifier) != identifier
        }
    )
    for start in range(0, len(affected), 500):
        batch = affected[start : start + 500]
        rows = list(
            Activation.objects.using(db)
            .filter(license_id__in=batch)
            .order_by("license_id", "id")
            .values(*_FIELDS)
        )
        for _, group in groupby(rows, key=lambda row: row["license_id"]):
            yield list(group)


def renormalize(apps: Any, schema_editor: Any) -> None:
    from activations.check.keys import check_cache_forget

    Activation = apps.get_model("activations", "Activation")
    AuditEvent = apps.get_model("audit", "AuditEvent")
    db = schema_editor.connection.alias
    counts = {"rewritten": 0, "merged": 0, "refused": 0}
    touched_keys: set[str] = set()

    def audit(action: str, row: dict[str, Any], before: Any, after: Any) -> Any:
        return AuditEvent(
            action=action,
            actor_type=ACTOR_TYPE,
            actor=ACTOR,
            target_type="activation",
            target_id=str(row["id"]),
            brand_id=row["license__product__brand_id"],
            license_id=row["license_id"],
            before=before,
            after=after,
        )

    for rows in _licenses(Activation, db):
        by_instance: dict[str, list[dict[str, Any]]] = {}
        for row in rows:
            new = _new_form(row["instance_identifier"])
            if new is None:
                counts["refused"] += 1
                continue
            by_instance.setdefault(new, []).append(row)
        events = []
        for new, group in by_instance.items():
            if len(group) == 1 and group[0]["instance_identifier"] == new:
                continue
            keep = min(group, key=lambda row: (row["activated_at"], row["id"]))
            dropped = [row for row in group if row is not keep]
            kept = {
                **keep,
                "instance_identifier": new,
                "activated_at": min(row["activated_at"] for row in group),
                "last_seen_at": max(row["last_seen_at"] for row in group),
            }
            if dropped:
                # Deleted before the rewrite: the unique (license, instance) constraint.
                Activation.objects.using(db).filter(pk__in=[row["id"] for row in dropped]).delete()
            Activation.objects.using(db).filter(pk=keep["id"]).update(
                instance_identifier=new,
                activated_at=kept["activated_at"],
                last_seen_at=kept["last_seen_at"],
            )
            after = _snapshot(kept)
            if dropped:
                after["merged_activation_ids"] = [row["id"] for row in dropped]
            events.append(audit("activation.normalized", keep, _snapshot(keep), after))
            events.extend(
                audit(
                    "activation.merged",
                    row,
                    _snapshot(row),
                    {**_snapshot(kept), "merged_into_activation_id": keep["id"]},
                )
                for row in dropped
            )
            counts["rewritten"] += 1
            counts["merged"] += len(dropped)
            touched_keys.add(keep["license__license_key__key"])
        AuditEvent.objects.using(db).bulk_create(events, batch_size=500)

    for key in touched_keys:
        transaction.on_commit(lambda key=key: check_cache_forget(key), using=db)
    if any(counts.values()):
        print(
            f"\n  instance identifiers: {counts['rewritten']} rewritten, {counts['merged']} "
            f"merged into them, {counts['refused']} left as they were (refused by the new rules)"
        )


class Migration(migrations.Migration):
    dependencies = [
        ("activations", "0001_initial"),
        ("audit", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(renormalize, migrations.RunPython.noop, elidable=True),
    ]
