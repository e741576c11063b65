"""Scenario 6: audit events stored per action equal successful writes per action."""

from __future__ import annotations

import random
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from bench.faults.context import Context
from bench.faults.http import Api, Tally
from bench.faults.result import Result
from bench.faults.seeding import Lic, future, parse_time, seed_tenant
from bench.faults.truth import LIFECYCLE_EVENTS, audit_counts, db_invariants

PRODUCTS = ["pro", "team", "unl"]
REFUSED_ACTIVATION = ("seat_limit_exceeded", "license_suspended", "license_cancelled")


class AuditWorker:
    """One thread's writes on its own licenses, counting each that succeeded."""

    def __init__(self, index: int, brand: Api, product: Api, tally: Tally) -> None:
        self.index, self.brand, self.product, self.tally = index, brand, product, tally
        self.rng = random.Random(f"audit-{index}")
        self.mine: list[Lic] = []
        self.keys: list[tuple[str, str]] = []  # (key, email)
        self.local: Counter[str] = Counter()  # successful writes by audit action
        self.tried: Counter[str] = Counter()
        self.unexpected: list[str] = []
        self.serial = 0

    def run(self, ops: int, deadline: float) -> None:
        for _ in range(ops):
            if time.monotonic() > deadline:
                break
            self.serial += 1
            self.one(self.rng.random())

    def one(self, roll: float) -> None:
        if not self.mine or roll < 0.15:
            self.provision_new()
        elif roll < 0.22 and self.keys:
            self.provision_on_key()
        elif roll < 0.50:
            self.lifecycle(self.rng.choice(self.mine))
        elif roll < 0.80:
            self.activate(self.rng.choice(self.mine))
        else:
            self.deactivate(self.rng.choice(self.mine))

    def provision_new(self) -> None:
        rng = self.rng
        email = f"audit-{self.index}-{self.serial}@example.com"
        product = rng.choice(PRODUCTS)
        body: dict[str, Any] = {"customer_email": email, "product_slug": product}
        if rng.random() < 0.3:
            body["expires_at"] = future(365).isoformat()
        answer = self.tally.add(self.brand.provision(body), "provision")
        self.tried["provision"] += 1
        if answer.status == 201:
            self.local["license.provisioned"] += 1
            lic = Lic(
                answer.body["license_id"],
                answer.body["license_key"],
                product,
                max_seats=answer.body["max_seats"],
                expires_at=parse_time(answer.body["expires_at"]),
            )
            self.mine.append(lic)
            self.keys.append((lic.key, email))
        elif answer.status != 409:
            self.unexpected.append(f"provision: {answer.brief()}")

    def provision_on_key(self) -> None:
        """Another product on an existing key: 201, or 409 already_entitled."""
        key, email = self.rng.choice(self.keys)
        product = self.rng.choice(PRODUCTS)
        body = {"customer_email": email, "product_slug": product, "license_key": key}
        answer = self.tally.add(self.brand.provision(body), "provision")
        self.tried["provision"] += 1
        if answer.status == 201:
            self.local["license.provisioned"] += 1
            self.mine.append(
                Lic(answer.body["license_id"], key, product, max_seats=answer.body["max_seats"])
            )
        elif answer.error != "already_entitled":
            self.unexpected.append(f"provision on a key: {answer.brief()}")

    def lifecycle(self, lic: Lic) -> None:
        rng = self.rng
        action = rng.choice(
            ["renew", "suspend", "resume", "set_seats", "suspend", "resume", "cancel"]
            if rng.random() < 0.15
            else ["renew", "suspend", "resume", "set_seats"]
        )
        body: dict[str, Any] = {"action": action}
        if action == "renew":
            body["expires_at"] = future(rng.randint(30, 900)).isoformat()
        if action == "set_seats":
            body["max_seats"] = rng.choice([None, 1, 2, 5, 50])
        answer = self.tally.add(self.brand.lifecycle(lic.license_id, body), action)
        self.tried[f"license.{action}"] += 1
        if answer.status != 200:
            if answer.error != "invalid_transition":
                self.unexpected.append(f"{action}: {answer.brief()}")
            return
        self.local[LIFECYCLE_EVENTS[action]] += 1
        if action == "cancel":
            self.local["activation.released"] += len(lic.instances)
            lic.instances.clear()
            lic.status = "cancelled"
        elif action in ("suspend", "resume"):
            lic.status = "suspended" if action == "suspend" else "valid"
        elif action == "set_seats":
            lic.max_seats = body["max_seats"]

    def activate(self, lic: Lic) -> None:
        lic.counter += 1
        instance = f"audit-{self.index}-{lic.license_id}-{lic.counter}"
        answer = self.tally.add(self.product.activate(lic.key, lic.product, instance), "activate")
        self.tried["activation.created"] += 1
        if answer.status == 200:
            self.local["activation.created"] += 1
            lic.instances.add(instance)
        elif answer.error not in REFUSED_ACTIVATION:
            self.unexpected.append(f"activate: {answer.brief()}")

    def deactivate(self, lic: Lic) -> None:
        known = sorted(lic.instances)
        instance = self.rng.choice(known) if known and self.rng.random() < 0.8 else "never-seen"
        answer = self.tally.add(
            self.product.deactivate(lic.key, lic.product, instance), "deactivate"
        )
        self.tried["activation.released"] += 1
        if answer.status == 200:
            self.local["activation.released"] += 1
            lic.instances.discard(instance)
        elif answer.error != "activation_not_found":
            self.unexpected.append(f"deactivate: {answer.brief()}")


def scenario_audit(ctx: Context) -> Result:
    plan = ctx.plan
    tenant = seed_tenant("faults-audit", "FLTA", {"pro": 3, "team": 10, "unl": None})
    api = Api(ctx.server.base_url, tenant.api_key)
    product_api = Api(ctx.server.base_url)
    tally = Tally()
    baseline = audit_counts(tenant.brand_id)
    per_thread = -(-plan.audit_ops // plan.audit_threads)
    deadline = time.monotonic() + plan.scenario_time_limit
    workers = [AuditWorker(i, api, product_api, tally) for i in range(plan.audit_threads)]
    started = time.monotonic()
    try:
        with ThreadPoolExecutor(max_workers=plan.audit_threads) as pool:
            for f in [pool.submit(w.run, per_thread, deadline) for w in workers]:
                f.result()
    finally:
        api.close()
        product_api.close()
    elapsed = time.monotonic() - started
    stored = audit_counts(tenant.brand_id)
    stored.subtract(baseline)
    return judge_audit(ctx, tenant.brand_id, workers, tally, elapsed, stored)


def judge_audit(  # noqa: PLR0913, PLR0917 (judges all the run collected: split from the run)
    ctx: Context,
    brand_id: int,
    workers: list[AuditWorker],
    tally: Tally,
    elapsed: float,
    stored: Counter[str],
) -> Result:
    result = Result("6", "Audit completeness under a mixed load")
    expected: Counter[str] = Counter()
    for w in workers:
        expected.update(w.local)
    unexpected = [u for w in workers for u in w.unexpected]
    stored = Counter({k: v for k, v in stored.items() if v})
    actions = sorted(set(stored) | set(expected))
    table = {a: f"{stored[a]} events / {expected[a]} successful writes" for a in actions}
    for action in actions:
        result.require(
            stored[action] == expected[action],
            f"{action}: {stored[action]} events for {expected[action]} writes",
        )
    invariants = db_invariants(brand_id)
    result.require(not invariants, f"audit trail vs state: {invariants[:5]}")
    result.require(not unexpected, f"{len(unexpected)} unexpected answers: {unexpected[:3]}")
    result.require(tally.fivexx() == 0, f"5xx: {tally.server_errors[:3]}")
    result.require(not tally.hangs, f"hangs: {tally.hangs[:3]}")
    result.figures = {
        "requests (threads)": f"{tally.count} ({ctx.plan.audit_threads})",
        "by action: events stored / successful writes": table,
        "requests per second": f"{tally.count / elapsed:.0f}" if elapsed else "-",
        "answers": tally.codes(),
    }
    result.passed = not result.problems
    return result
