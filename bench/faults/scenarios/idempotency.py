"""Scenario 5: identical provisions with one Idempotency-Key released together."""

from __future__ import annotations

import json
import uuid
from collections import Counter

from bench.faults.context import Context
from bench.faults.http import Answer, Api, Tally, burst, latency_text
from bench.faults.result import Result
from bench.faults.seeding import seed_tenant


def scenario_idempotency(ctx: Context) -> Result:
    result = Result("5", "Idempotent provisioning under retries")
    plan = ctx.plan
    tenant = seed_tenant("faults-idem", "FLTI", {"pro": 3})
    api = Api(ctx.server.base_url, tenant.api_key)
    tally = Tally()
    rounds = []
    try:
        for round_ in range(plan.idem_rounds):
            rounds.append(idempotency_round(ctx, api, tally, tenant.brand_id, round_, result))
    finally:
        api.close()
    result.require(tally.fivexx() == 0, f"5xx: {tally.server_errors[:3]}")
    result.require(not tally.hangs, f"hangs: {tally.hangs[:3]}")
    result.figures = {
        "rounds": len(rounds),
        "concurrent identical requests per round": plan.idem_concurrency,
        "licenses stored per round (value: rounds)": dict(Counter(r[2] for r in rounds)),
        "distinct response bodies per round (value: rounds)": dict(Counter(r[1] for r in rounds)),
        "answers marked Idempotent-Replayed per round": sorted({r[4] for r in rounds}),
        "same key, other body": dict(Counter(r[5] for r in rounds)),
        "answers": tally.codes(),
        "latency p50 / p99 / max (ms)": latency_text(tally),
    }
    result.passed = not result.problems
    return result


def idempotency_round(  # noqa: PLR0913, PLR0917 (one pass of the scenario's loop, with its state)
    ctx: Context, api: Api, tally: Tally, brand_id: int, round_: int, result: Result
) -> tuple[Counter[int], int, int, int, int, str | None]:
    """One burst of identical provisions with one Idempotency-Key, and its judgement."""
    from audit.models import AuditEvent
    from licensing.models import License

    concurrency = ctx.plan.idem_concurrency
    email = f"idem-{round_}@example.com"
    body = {"customer_email": email, "product_slug": "pro", "new_key": True}
    idem = f"order-{round_}-{uuid.uuid4().hex}"

    def provision(i: int) -> Answer:
        return tally.add(api.provision(body, idem))

    answers = burst(concurrency, provision)
    statuses = Counter(a.status for a in answers)
    bodies = {json.dumps(a.body, sort_keys=True) for a in answers}
    licenses = License.objects.filter(license_key__customer_email=email).count()
    events = AuditEvent.objects.filter(
        brand_id=brand_id, action="license.provisioned", after__customer_email=email
    ).count()
    replayed = sum(a.headers.get("idempotent-replayed") == "true" for a in answers)
    conflict = tally.add(api.provision({**body, "product_slug": "other"}, idem))
    result.require(
        statuses == Counter({201: concurrency}), f"round {round_}: statuses {dict(statuses)}"
    )
    result.require(len(bodies) == 1, f"round {round_}: {len(bodies)} different bodies")
    result.require(licenses == 1, f"round {round_}: {licenses} licenses stored")
    result.require(events == 1, f"round {round_}: {events} license.provisioned events")
    result.require(
        conflict.status == 409 and conflict.error == "idempotency_conflict",
        f"round {round_}: other body with the same key: {conflict.brief()}",
    )
    return statuses, len(bodies), licenses, events, replayed, conflict.error
