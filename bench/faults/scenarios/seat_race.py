"""Scenario 1: concurrent activations of distinct instances on 5 seats."""

from __future__ import annotations

import time
from collections import Counter

from bench.faults.context import Context
from bench.faults.http import Answer, Api, Tally, burst, latency_text
from bench.faults.result import Result
from bench.faults.seeding import Lic, provision_direct, seed_tenant


def scenario_seat_race(ctx: Context) -> Result:
    result = Result("1", "Seat race over HTTP")
    plan = ctx.plan
    tenant = seed_tenant("faults-seats", "FLTS", {"seats": plan.seats})
    api = Api(ctx.server.base_url)
    tally = Tally()
    per_round: list[tuple[int, int, int]] = []
    from activations.models import Activation

    try:
        deadline = time.monotonic() + plan.scenario_time_limit
        for round_ in range(plan.seat_rounds):
            if time.monotonic() > deadline:
                result.fail(f"time limit reached after {round_} rounds")
                break
            lic = provision_direct(tenant, f"seat-race-{round_}@example.com", "seats")

            def activate(i: int, lic: Lic = lic, r: int = round_) -> Answer:
                return tally.add(
                    api.activate(lic.key, "seats", f"race-{r}-{i}.example.com"), "activate"
                )

            answers = burst(plan.seat_concurrency, activate)
            won = sum(a.status == 200 for a in answers)
            refused = sum(a.status == 409 and a.error == "seat_limit_exceeded" for a in answers)
            rows = Activation.objects.filter(license_id=lic.license_id).count()
            per_round.append((won, refused, rows))
            if won != plan.seats or rows != plan.seats:
                result.fail(f"round {round_}: {won} activations succeeded, {rows} rows stored")
            if refused != plan.seat_concurrency - won:
                others = Counter(f"{a.status} {a.error}" for a in answers if a.status != 200)
                result.fail(f"round {round_}: other answers than seat_limit_exceeded: {others}")
    finally:
        api.close()
    result.require(tally.fivexx() == 0, f"{tally.fivexx()} answers 5xx: {tally.server_errors[:3]}")
    result.require(not tally.hangs, f"hangs: {tally.hangs[:3]}")
    result.require(not tally.not_json, f"non-JSON answers: {tally.not_json[:3]}")
    wins = Counter(w for w, _, _ in per_round)
    result.figures = {
        "rounds": len(per_round),
        "concurrent activations per round": plan.seat_concurrency,
        "seats": plan.seats,
        "successes per round (value: rounds)": dict(wins),
        "activation rows per round (value: rounds)": dict(Counter(r for _, _, r in per_round)),
        "answers": tally.codes(),
        "latency p50 / p99 / max (ms)": latency_text(tally),
    }
    result.passed = not result.problems
    return result
