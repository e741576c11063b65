"""Scenario 2: a write, then at once a check from another connection, under readers."""

from __future__ import annotations

import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from bench.faults.context import Context
from bench.faults.http import Api, Tally
from bench.faults.load import Hammer, Writer
from bench.faults.plan import REQUEST_TIMEOUT
from bench.faults.result import Result
from bench.faults.seeding import provision_direct, seed_tenant
from bench.faults.truth import sweep

WRITER_GIVES_UP = 20  # failed writes after which a writer stops (its failures are reported)


def scenario_stale_reads(ctx: Context) -> Result:
    plan = ctx.plan
    tenant = seed_tenant("faults-stale", "FLTR", {"pro": 3})
    tally = Tally()
    brand = Api(ctx.server.base_url, tenant.api_key)
    product = Api(ctx.server.base_url)
    reader = Api(ctx.server.base_url)
    hammer_api = Api(ctx.server.base_url)
    writers = [
        Writer(
            f"s2w{i}",
            provision_direct(tenant, f"stale-{i}@example.com", "pro"),
            brand,
            product,
            reader,
            tally,
        )
        for i in range(plan.stale_writers)
    ]
    keys = [w.lic.key for w in writers]
    stop = threading.Event()
    hammers = [Hammer(hammer_api, keys, Tally(), stop) for _ in range(plan.stale_readers)]
    per_writer = -(-plan.stale_rounds // plan.stale_writers)
    deadline = time.monotonic() + plan.scenario_time_limit
    started = time.monotonic()
    try:
        lookups_before = reader.cache_lookups()
        for hammer in hammers:
            hammer.start()
        drive_writers(writers, per_writer, deadline)
        stop.set()
        for hammer in hammers:
            hammer.join(timeout=REQUEST_TIMEOUT + 5)
        elapsed = time.monotonic() - started
        leftovers = sweep(reader, keys)
        lookups = reader.cache_lookups()
        lookups.subtract(lookups_before)
    finally:
        stop.set()
        for api in (brand, product, reader, hammer_api):
            api.close()
    hammer_tally = Tally()
    for hammer in hammers:
        hammer_tally.by_code.update(hammer.tally.by_code)
        hammer_tally.server_errors += hammer.tally.server_errors
        hammer_tally.hangs += hammer.tally.hangs
    return judge_stale_reads(ctx, writers, (tally, hammer_tally), elapsed, leftovers, lookups)


def drive_writers(writers: list[Writer], per_writer: int, deadline: float) -> None:
    """Each writer on a thread of its own: ``per_writer`` rounds, until the deadline, or
    until WRITER_GIVES_UP of its writes failed."""

    def drive(writer: Writer) -> None:
        failures = 0
        while (
            writer.rounds < per_writer
            and time.monotonic() < deadline
            and failures < WRITER_GIVES_UP
        ):
            if not writer.step():
                failures += 1

    with ThreadPoolExecutor(max_workers=len(writers)) as pool:
        list(pool.map(drive, writers))


def judge_stale_reads(  # noqa: PLR0913, PLR0917 (judges all the run collected: split from the run)
    ctx: Context,
    writers: list[Writer],
    tallies: tuple[Tally, Tally],
    elapsed: float,
    leftovers: list[str],
    lookups: Counter[str],
) -> Result:
    result = Result("2", "Stale reads")
    plan = ctx.plan
    tally, hammer_tally = tallies
    rounds = sum(w.rounds for w in writers)
    stale = [s for w in writers for s in w.stale]
    persistent = sum(w.stale_persistent for w in writers)
    write_failures = [f for w in writers for f in w.write_failures]
    writes: Counter[str] = Counter()
    for w in writers:
        writes.update(w.writes)
    result.require(rounds >= plan.stale_rounds, f"only {rounds} of {plan.stale_rounds} rounds ran")
    result.require(not stale, f"{len(stale)} stale checks, e.g. {stale[:3]}")
    result.require(not leftovers, f"final sweep: {leftovers[:5]}")
    result.require(not write_failures, f"{len(write_failures)} writes failed: {write_failures[:3]}")
    result.require(lookups["near_hit"] > 0, f"the near cache answered no check: {dict(lookups)}")
    for t in tallies:
        result.require(t.fivexx() == 0, f"{t.fivexx()} answers 5xx: {t.server_errors[:3]}")
        result.require(not t.hangs, f"hangs: {t.hangs[:3]}")
    result.figures = {
        "rounds (write + check)": rounds,
        "writes by kind": dict(writes),
        "stale checks (at once / still stale 0.5 s later)": f"{len(stale)} / {persistent}",
        "stale entries in the final sweep": len(leftovers),
        "background checks on the same keys": hammer_tally.count,
        "check answers by cache tier (/metrics, every worker)": dict(sorted(lookups.items())),
        "answers (writes and checks)": tally.codes(),
        "rounds per second": f"{rounds / elapsed:.0f}" if elapsed else "-",
    }
    result.passed = not result.problems
    return result
