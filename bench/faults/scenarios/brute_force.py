"""Scenario 7: a concurrent burst of random keys from one client vs the unknown-key limit."""

from __future__ import annotations

import random
import time

from bench.faults.context import Context
from bench.faults.http import Answer, Api, Tally, burst, tally_free
from bench.faults.plan import UNKNOWN_KEY_LIMIT
from bench.faults.result import Result
from bench.faults.seeding import provision_direct, seed_tenant, server_env

SYMBOLS = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
PREFIXES = ["FLTB", "ABCD", "ZZ"]
LIMIT_WINDOW = 3600  # seconds: the unknown-key limit counts per fixed hour
MIN_WINDOW_LEFT = 30  # seconds: with less of the window left, wait for the next one


def brute_keys(count: int) -> list[str]:
    """Valid checksums of real and made-up prefixes, and every fifth one malformed."""
    from licensing.keys import generate_license_key

    rng = random.Random(7)

    def random_key(i: int) -> str:
        if i % 5 == 4:  # not even a well-formed key: fails its checksum
            return "FLTB-" + "-".join(
                "".join(rng.choice(SYMBOLS) for _ in range(5)) for _ in range(6)
            )
        return generate_license_key(PREFIXES[i % len(PREFIXES)])

    return [random_key(i) for i in range(count)]


def fire_all(api: Api, tally: Tally, keys: list[str], clients: int) -> None:
    """``clients`` threads released together, each sending its share of ``keys`` to check
    (GET, POST) and activate in turn."""
    per_thread = -(-len(keys) // clients)

    def fire(t: int) -> Answer:
        last = None
        for i in range(t * per_thread, min(len(keys), (t + 1) * per_thread)):
            key = keys[i]
            kind = i % 3
            if kind == 0:
                last = tally.add(api.check(key), "check")
            elif kind == 1:
                last = tally.add(api.check(key, post=True), "check")
            else:
                last = tally.add(api.activate(key, "pro", f"brute-{i}"), "activate")
        return last or Answer(0, None, False, 0, 0)

    burst(clients, fire)


def scenario_brute_force(ctx: Context) -> Result:
    plan = ctx.plan
    tenant = seed_tenant("faults-brute", "FLTB", {"pro": 3})
    real = provision_direct(tenant, "brute-real@example.com", "pro")
    # The limit is per fixed window (an hour): do not straddle a window boundary.
    to_boundary = LIMIT_WINDOW - time.time() % LIMIT_WINDOW
    if to_boundary < MIN_WINDOW_LEFT:
        time.sleep(to_boundary + 1)
    ctx.stack.redis.command("FLUSHALL")
    server = ctx.stack.gunicorn(
        server_env(ctx.stack, THROTTLE_UNKNOWN_KEY_IP=f"{UNKNOWN_KEY_LIMIT}/h"), name="gunicorn-7"
    )
    api = Api(server.base_url)
    tally = Tally()
    keys = brute_keys(plan.brute_requests)
    try:
        started = time.monotonic()
        fire_all(api, tally, keys, plan.brute_concurrency)
        elapsed = time.monotonic() - started
        # An honest key from the same client, after the burst (informational).
        honest = tally_free(api.check(real.key))
    finally:
        api.close()
        ctx.stack.stop_server(server)
    return judge_brute_force(ctx, tally, elapsed, honest)


def judge_brute_force(ctx: Context, tally: Tally, elapsed: float, honest: str) -> Result:
    result = Result("7", "Brute force: unknown-key limit under a concurrent burst")
    through = tally.by_code.get("404 license_not_found", 0)
    throttled = tally.by_code.get("429 throttled", 0)
    allowed = int(UNKNOWN_KEY_LIMIT * 1.05)
    missing_retry_after = sum(
        1 for a in tally.answers if a.status == 429 and "retry-after" not in a.headers
    )
    result.require(not missing_retry_after, f"{missing_retry_after} 429s without Retry-After")
    result.require(
        through <= allowed,
        f"{through} unknown-key lookups got through, limit {UNKNOWN_KEY_LIMIT} (+5%)",
    )
    result.require(through >= 1, "no unknown key was answered 404 at all")
    result.require(
        through + throttled == tally.count, f"answers other than 404/429: {tally.codes()}"
    )
    result.require(tally.fivexx() == 0, f"5xx: {tally.server_errors[:3]}")
    result.require(not tally.hangs, f"hangs: {tally.hangs[:3]}")
    result.require(not tally.not_json, f"non-JSON answers: {tally.not_json[:3]}")
    result.figures = {
        "requests (concurrent clients)": f"{tally.count} ({ctx.plan.brute_concurrency})",
        "limit (THROTTLE_UNKNOWN_KEY_IP)": f"{UNKNOWN_KEY_LIMIT}/h, at most {allowed} through",
        "answered 404 license_not_found (got through)": through,
        "answered 429 throttled": throttled,
        "burst duration (s)": f"{elapsed:.2f}",
        "a real key from the same client afterwards": honest,
        "answers": tally.codes(),
    }
    result.passed = not result.problems
    return result
