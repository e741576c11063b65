"""What a check must answer, and what the database holds (the suite's ground truth)."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from typing import Any

from bench.faults.http import Answer, Api
from bench.faults.seeding import Lic, parse_time


def entitlement_of(answer: Answer, product: str) -> dict[str, Any] | None:
    if not isinstance(answer.body, dict):
        return None
    for ent in answer.body.get("entitlements") or []:
        if ent.get("product_slug") == product:
            return ent
    return None


def mismatch(answer: Answer, lic: Lic, instance: str | None = None) -> str | None:
    """Why a check answer does not reflect ``lic`` (None when it does)."""
    if answer.status != 200:
        return f"check answered {answer.brief()}"
    ent = entitlement_of(answer, lic.product)
    if ent is None:
        return f"no entitlement for {lic.product}: {answer.brief()}"
    expected = {
        "status": lic.status,
        "max_seats": lic.max_seats,
        "seats_used": len(lic.instances),
        "seats_remaining": lic.seats_remaining(),
    }
    wrong: dict[str, tuple[Any, Any]] = {
        k: (ent.get(k), v) for k, v in expected.items() if ent.get(k) != v
    }
    if parse_time(ent.get("expires_at")) != lic.expires_at:
        wrong["expires_at"] = (ent.get("expires_at"), lic.expires_at and lic.expires_at.isoformat())
    if instance is not None:
        active = instance in lic.instances
        if ent.get("instance_active") is not active:
            wrong["instance_active"] = (ent.get("instance_active"), active)
    if not wrong:
        return None
    return ", ".join(f"{k}: got {got!r}, expected {want!r}" for k, (got, want) in wrong.items())


def db_truth(keys: Iterable[str]) -> dict[str, dict[str, dict[str, Any]]]:
    """key -> product -> {status, max_seats, seats_used, expires_at}, from PostgreSQL;
    seats counted as the service counts them (``licensing.seats``: live production rows)."""
    from django.db.models import Count
    from django.utils import timezone

    from licensing.models import License
    from licensing.seats import seat_q

    truth: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
    rows = (
        License.objects.filter(license_key__key__in=list(keys))
        .select_related("license_key", "product")
        .annotate(used=Count("activations", filter=seat_q(timezone.now(), prefix="activations__")))
    )
    for row in rows:
        truth[row.license_key.key][row.product.slug] = {
            "status": row.effective_status(),
            "max_seats": row.max_seats,
            "seats_used": row.used,
            "expires_at": row.expires_at,
        }
    return truth


def sweep(api: Api, keys: Iterable[str]) -> list[str]:
    """Check every key once and compare with the database: any difference is stale."""
    keys = sorted(set(keys))
    truth = db_truth(keys)
    problems = []
    for key in keys:
        answer = api.check(key)
        if answer.status != 200:
            problems.append(f"{key[:10]}…: check answered {answer.brief()}")
            continue
        got = {ent["product_slug"]: ent for ent in answer.body.get("entitlements", [])}
        for product, want in truth[key].items():
            ent = got.get(product)
            if ent is None:
                problems.append(f"{key[:10]}… {product}: missing from the check answer")
                continue
            for name in ("status", "max_seats", "seats_used"):
                if ent.get(name) != want[name]:
                    problems.append(
                        f"{key[:10]}… {product}: {name} {ent.get(name)!r}, database {want[name]!r}"
                    )
            if parse_time(ent.get("expires_at")) != want["expires_at"]:
                problems.append(f"{key[:10]}… {product}: expires_at differs from the database")
        extra = set(got) - set(truth[key])
        if extra:
            problems.append(f"{key[:10]}…: entitlements not in the database: {sorted(extra)}")
    return problems


def db_invariants(brand_id: int) -> list[str]:
    """Nothing half-written: each license provisioned once in the audit trail, seats in use
    equal to activations created minus released, no idempotency record without its answer."""
    from django.db.models import Count

    from activations.models import Activation
    from audit.models import AuditEvent
    from licensing.models import IdempotencyRecord, License

    problems = []
    licenses = set(
        License.objects.filter(license_key__brand_id=brand_id).values_list("pk", flat=True)
    )
    provisioned = Counter(
        int(target)
        for target in AuditEvent.objects.filter(
            brand_id=brand_id, action="license.provisioned"
        ).values_list("target_id", flat=True)
    )
    for license_id in licenses:
        if provisioned[license_id] != 1:
            problems.append(f"license {license_id}: {provisioned[license_id]} provisioned events")
    for license_id in set(provisioned) - licenses:
        problems.append(f"license.provisioned event for missing license {license_id}")
    events = (
        AuditEvent.objects.filter(
            brand_id=brand_id, action__in=["activation.created", "activation.released"]
        )
        .values_list("license_id", "action")
        .annotate(n=Count("id"))
    )
    net: Counter[int] = Counter()
    for license_id, action, n in events:
        net[license_id] += n if action == "activation.created" else -n
    seats = Counter(
        dict(
            Activation.objects.filter(license__license_key__brand_id=brand_id)
            .values_list("license_id")
            .annotate(n=Count("id"))
            .values_list("license_id", "n")
        )
    )
    for license_id in set(net) | set(seats):
        if net[license_id] != seats[license_id]:
            problems.append(
                f"license {license_id}: {seats[license_id]} activations, audit trail says "
                f"{net[license_id]}"
            )
    half = IdempotencyRecord.objects.filter(brand_id=brand_id, response_status=0).count()
    if half:
        problems.append(f"{half} idempotency records without a stored answer")
    return problems


def audit_counts(brand_id: int) -> Counter[str]:
    from django.db.models import Count

    from audit.models import AuditEvent

    rows = (
        AuditEvent.objects.filter(brand_id=brand_id)
        .values("action")
        .annotate(n=Count("id"))
        .values_list("action", "n")
    )
    return Counter(dict(rows))


LIFECYCLE_EVENTS = {
    "renew": "license.renewed",
    "suspend": "license.suspended",
    "resume": "license.resumed",
    "cancel": "license.cancelled",
    "set_seats": "license.seats_changed",
}
