from __future__ import annotations

import random
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from bench.faults.context import Context
from bench.faults.http import Api, Tally
from bench.faults.result import Result
from bench.faults.seeding import (
    Lic,
    future,
    parse_time,
    seed_tenant,
)
from bench.faults.truth import (
    LIFECYCLE_EVENTS,
    audit_counts,
    db_invariants,
)


def scenario_audit(ctx: Context) -> Result:
    result = Result("6", "Audit completeness under a mixed load")
    plan = ctx.plan
    tenant = seed_tenant("faults-audit", "FLTA", {"pro": 3, "team": 10, "unl": None})
    api = Api(ctx.server.base_url, tenant.api_key, connections=plan.audit_threads * 2)
    tally = Tally()
    baseline = audit_counts(tenant.brand_id)
    expected: Counter[str] = Counter()
    attempted: Counter[str] = Counter()
    lock = threading.Lock()
    per_thread = -(-plan.audit_ops // plan.audit_threads)
    deadline = time.monotonic() + plan.scenario_time_limit
    unexpected: list[str] = []

    def worker(index: int) -> None:
        rng = random.Random(f"audit-{index}")
        mine: list[Lic] = []
        keys: list[tuple[str, str]] = []  # (key, email)
        local: Counter[str] = Counter()
        tried: Counter[str] = Counter()
        serial = 0
        for _ in range(per_thread):
            if time.monotonic() > deadline:
                break
            serial += 1
            roll = rng.random()
            if not mine or roll < 0.15:
                email = f"audit-{index}-{serial}@example.com"
                product = rng.choice(["pro", "team", "unl"])
                body: dict[str, Any] = {"customer_email": email, "product_slug": product}
                if rng.random() < 0.3:
                    body["expires_at"] = future(365).isoformat()
                answer = tally.add(api.provision(body), "provision")
                tried["provision"] += 1
                if answer.status == 201:
                    local["license.provisioned"] += 1
                    lic = Lic(
                        answer.body["license_id"],
                        answer.body["license_key"],
                        product,
                        max_seats=answer.body["max_seats"],
                        expires_at=parse_time(answer.body["expires_at"]),
                    )
                    mine.append(lic)
                    keys.append((lic.key, email))
                elif answer.status != 409:
                    unexpected.append(f"provision: {answer.brief()}")
                continue
            if roll < 0.22 and keys:
                # Another product on an existing key: 201, or 409 already_entitled.
                key, email = rng.choice(keys)
                product = rng.choice(["pro", "team", "unl"])
                answer = tally.add(
                    api.provision(
                        {"customer_email": email, "product_slug": product, "license_key": key}
                    ),
                    "provision",
                )
                tried["provision"] += 1
                if answer.status == 201:
                    local["license.provisioned"] += 1
                    mine.append(
                        Lic(
                            answer.body["license_id"],
                            key,
                            product,
                            max_seats=answer.body["max_seats"],
                        )
                    )
                elif answer.error != "already_entitled":
                    unexpected.append(f"provision on a key: {answer.brief()}")
                continue
            lic = rng.choice(mine)
            if roll < 0.50:
                action = rng.choice(
                    ["renew", "suspend", "resume", "set_seats", "suspend", "resume", "cancel"]
                    if rng.random() < 0.15
                    else ["renew", "suspend", "resume", "set_seats"]
                )
                body = {"action": action}
                if action == "renew":
                    body["expires_at"] = future(rng.randint(30, 900)).isoformat()
                if action == "set_seats":
                    body["max_seats"] = rng.choice([None, 1, 2, 5, 50])
                answer = tally.add(api.lifecycle(lic.license_id, body), action)
                tried[f"license.{action}"] += 1
                if answer.status == 200:
                    local[LIFECYCLE_EVENTS[action]] += 1
                    if action == "cancel":
                        local["activation.released"] += len(lic.instances)
                        lic.instances.clear()
                        lic.status = "cancelled"
                    elif action == "suspend":
                        lic.status = "suspended"
                    elif action == "resume":
                        lic.status = "valid"
                    elif action == "set_seats":
                        lic.max_seats = body["max_seats"]
                elif answer.error != "invalid_transition":
                    unexpected.append(f"{action}: {answer.brief()}")
            elif roll < 0.80:
                lic.counter += 1
                instance = f"audit-{index}-{lic.license_id}-{lic.counter}"
                answer = tally.add(product_api.activate(lic.key, lic.product, instance), "activate")
                tried["activation.created"] += 1
                if answer.status == 200:
                    local["activation.created"] += 1
                    lic.instances.add(instance)
                elif answer.error not in (
                    "seat_limit_exceeded",
                    "license_suspended",
                    "license_cancelled",
                ):
                    unexpected.append(f"activate: {answer.brief()}")
            else:
                known = sorted(lic.instances)
                instance = rng.choice(known) if known and rng.random() < 0.8 else "never-seen"
                answer = tally.add(
                    product_api.deactivate(lic.key, lic.product, instance), "deactivate"
                )
                tried["activation.released"] += 1
                if answer.status == 200:
                    local["activation.released"] += 1
                    lic.instances.discard(instance)
                elif answer.error != "activation_not_found":
                    unexpected.append(f"deactivate: {answer.brief()}")
        with lock:
            expected.update(local)
            attempted.update(tried)

    product_api = Api(ctx.server.base_url, connections=plan.audit_threads * 2)
    started = time.monotonic()
    try:
        with ThreadPoolExecutor(max_workers=plan.audit_threads) as pool:
            for f in [pool.submit(worker, i) for i in range(plan.audit_threads)]:
                f.result()
    finally:
        api.close()
        product_api.close()
    elapsed = time.monotonic() - started
    stored = audit_counts(tenant.brand_id)
    stored.subtract(baseline)
    stored = Counter({k: v for k, v in stored.items() if v})
    actions = sorted(set(stored) | set(expected))
    table = {a: f"{stored[a]} events / {expected[a]} successful writes" for a in actions}
    for action in actions:
        result.require(
            stored[action] == expected[action],
            f"{action}: {stored[action]} events for {expected[action]} writes",
        )
    invariants = db_invariants(tenant.brand_id)
    result.require(not invariants, f"audit trail vs state: {invariants[:5]}")
    result.require(not unexpected, f"{len(unexpected)} unexpected answers: {unexpected[:3]}")
    result.require(tally.fivexx() == 0, f"5xx: {tally.server_errors[:3]}")
    result.require(not tally.hangs, f"hangs: {tally.hangs[:3]}")
    result.figures = {
        "requests (threads)": f"{tally.count} ({plan.audit_threads})",
        "by action: events stored / successful writes": table,
        "requests per second": f"{tally.count / elapsed:.0f}" if elapsed else "-",
        "answers": tally.codes(),
    }
    result.passed = not result.problems
    return result
