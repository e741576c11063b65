"""Existing activations get the environment SPEC §10 gives them (issue 14): until now every
activation was a production seat (the column's default), so a staging copy or a developer's
``localhost`` took a seat. Each activation is classified from its stored (normalized)
identifier and its brand's ``non_production_patterns`` by
``activations.environment.classify_environment``, the function the activate path uses; the
ones that are not production become ``staging`` or ``local`` and stop taking a seat.

The app's function is imported, not copied, as 0002 imports the normalizer: a copy would
drift from what activate decides, and an activation classified differently here than on its
next activate is the worse outcome. The cost: this migration depends on that module's name
and signature (if it ever changes, squash or elide this migration: it is ``elidable``; on a
database created after it, it has no rows to change anyway).

Every change is audited as a service would (``activation.classified``, before/after the
environment, actor ``system``/``migration``), in batches; the check cache of every key whose
seats changed is invalidated after commit. A license may end up with more staging and local
activations than its product's ``non_production_limit``: nothing is released; new ones are
refused until it is below (as when staff lower a limit). Idempotent (a second run finds
nothing to change). Reversing is a no-op: the environment column stays as classified (it
goes away with 0003's reversal).
"""

from __future__ import annotations

from typing import Any

from django.db import migrations, transaction

ACTOR_TYPE = "system"
ACTOR = "migration"
BATCH = 500
PRODUCTION = "production"


def classify(apps: Any, schema_editor: Any) -> None:
    from activations.check.keys import check_cache_forget
    from activations.environment import classify_environment

    Activation = apps.get_model("activations", "Activation")
    Brand = apps.get_model("brands", "Brand")
    AuditEvent = apps.get_model("audit", "AuditEvent")
    db = schema_editor.connection.alias

    patterns = {
        brand_id: list(brand_patterns or [])
        for brand_id, brand_patterns in Brand.objects.using(db).values_list(
            "id", "non_production_patterns"
        )
    }
    # The scan only reads; the changes are written after it (SQLite does not isolate a
    # query being iterated from writes on its connection). Only changed rows are kept.
    scan = Activation.objects.using(db).values_list(
        "id",
        "instance_identifier",
        "environment",
        "license_id",
        "license__product__brand_id",
        "license__license_key__key",
    )
    changes: list[tuple[int, str, str, int, int, str]] = []
    for pk, identifier, old, license_id, brand_id, key in scan.order_by("id").iterator(
        chunk_size=2000
    ):
        new = classify_environment(identifier, patterns.get(brand_id, ()))
        if new != old:
            changes.append((pk, old, new, license_id, brand_id, key))

    counts: dict[str, int] = {}
    touched_keys: set[str] = set()
    for start in range(0, len(changes), BATCH):
        batch = changes[start : start + BATCH]
        by_environment: dict[str, list[int]] = {}
        for pk, _old, new, *_rest in batch:
            by_environment.setdefault(new, []).append(pk)
        for environment, ids in by_environment.items():
            Activation.objects.using(db).filter(pk__in=ids).update(environment=environment)
            counts[environment] = counts.get(environment, 0) + len(ids)
        AuditEvent.objects.using(db).bulk_create(
            [
                AuditEvent(
                    action="activation.classified",
                    actor_type=ACTOR_TYPE,
                    actor=ACTOR,
                    target_type="activation",
                    target_id=str(pk),
                    brand_id=brand_id,
                    license_id=license_id,
                    before={"environment": old},
                    after={"environment": new, "reason": "classified"},
                )
                for pk, old, new, license_id, brand_id, _key in batch
            ]
        )
        touched_keys.update(key for *_rest, key in batch)

    for key in touched_keys:
        transaction.on_commit(lambda key=key: check_cache_forget(key), using=db)
    if changes:
        summary = ", ".join(f"{n} {environment}" for environment, n in sorted(counts.items()))
        print(f"\n  activation environments reclassified: {summary}")


class Migration(migrations.Migration):
    dependencies = [
        ("activations", "0003_seats_environments"),
        ("brands", "0002_seats_environments"),
        ("audit", "0002_append_only"),
    ]

    operations = [
        migrations.RunPython(classify, migrations.RunPython.noop, elidable=True),
    ]
