"""Scenario 9: the near cache's staleness bound across two servers (two hosts' worth).

Two gunicorn instances on two ports share one Redis and one PostgreSQL, as two hosts
would. Writers change a license through server A (brand API: suspend, resume, renew,
set_seats; product API: activate, deactivate) and, as soon as A answers, check the key on
server B, whose near caches background readers keep warm with the same keys.
"""

from __future__ import annotations

import threading
import time
from collections import Counter

from bench.faults.context import Context
from bench.faults.http import Api, Tally, latency_text
from bench.faults.load import Hammer, Writer
from bench.faults.plan import REQUEST_TIMEOUT
from bench.faults.result import Result
from bench.faults.scenarios.stale_reads import drive_writers
from bench.faults.seeding import Lic, provision_direct, seed_tenant, server_env
from bench.faults.truth import mismatch, sweep
from bench.services import Gunicorn

STALE_POLL = 0.005  # seconds between checks of a stale key on B until it is fresh
STALE_GIVE_UP = 5.0


class WindowWriter(Writer):
    """A writer that, on a stale check, polls until the answer is fresh and records how
    long after the write's answer that was (the staleness window)."""

    def __init__(  # noqa: PLR0913, PLR0917 (Writer's signature, unchanged)
        self, name: str, lic: Lic, brand: Api, product: Api, reader: Api, tally: Tally
    ):
        super().__init__(name, lic, brand, product, reader, tally)
        self.windows: list[float] = []

    def after_stale(self) -> None:
        while time.monotonic() - self.answered < STALE_GIVE_UP:
            again = self.tally.add(self.reader.check(self.lic.key), "check")
            if mismatch(again, self.lic) is None:
                self.windows.append(time.monotonic() - self.answered)
                return
            time.sleep(STALE_POLL)
        self.stale_persistent += 1
        self.windows.append(STALE_GIVE_UP)


def scenario_cross_server(ctx: Context) -> Result:
    server_b = ctx.stack.gunicorn(server_env(ctx.stack), name="gunicorn-9b")
    try:
        return CrossRun(ctx, ctx.server, server_b).run()
    finally:
        ctx.stack.stop_server(server_b)


class CrossRun:
    def __init__(self, ctx: Context, server_a: Gunicorn, server_b: Gunicorn) -> None:
        self.plan = plan = ctx.plan
        tenant = seed_tenant("faults-cross", "FLTX", {"pro": 5})
        self.tally = Tally()
        self.brand = Api(server_a.base_url, tenant.api_key)
        self.product = Api(server_a.base_url)
        self.reader = Api(server_b.base_url)
        self.hammer_api = Api(server_b.base_url)
        self.ports = (server_a.port, server_b.port)
        self.writers = [
            WindowWriter(
                f"s9w{i}",
                provision_direct(tenant, f"cross-{i}@example.com", "pro"),
                self.brand,
                self.product,
                self.reader,
                self.tally,
            )
            for i in range(plan.cross_writers)
        ]
        self.stop = threading.Event()
        self.hammer_tally = Tally()
        keys = [w.lic.key for w in self.writers]
        self.hammers = [
            Hammer(self.hammer_api, keys, self.hammer_tally, self.stop)
            for _ in range(plan.cross_readers)
        ]

    def run(self) -> Result:
        plan = self.plan
        per_writer = -(-plan.cross_rounds // plan.cross_writers)
        deadline = time.monotonic() + plan.scenario_time_limit
        try:
            for w in self.writers:  # B's near caches hold every key before the first write
                self.reader.check(w.lic.key)
            lookups_before = self.reader.cache_lookups()
            for hammer in self.hammers:
                hammer.start()
            started = time.monotonic()
            drive_writers(list(self.writers), per_writer, deadline)
            elapsed = time.monotonic() - started
            self.stop.set()
            for hammer in self.hammers:
                hammer.join(timeout=REQUEST_TIMEOUT + 5)
            leftovers = sweep(self.reader, [w.lic.key for w in self.writers])
            lookups = self.reader.cache_lookups()
            lookups.subtract(lookups_before)
        finally:
            self.stop.set()
            for api in (self.brand, self.product, self.reader, self.hammer_api):
                api.close()
        return self.judge(elapsed, leftovers, dict(sorted(lookups.items())))

    def judge(self, elapsed: float, leftovers: list[str], lookups: dict[str, int]) -> Result:
        result = Result("9", "Staleness across two servers sharing Redis and PostgreSQL")
        plan, writers = self.plan, self.writers
        rounds = sum(w.rounds for w in writers)
        stale = [s for w in writers for s in w.stale]
        windows = [x for w in writers for x in w.windows]
        failures = [f for w in writers for f in w.write_failures]
        result.require(rounds >= plan.cross_rounds, f"only {rounds} of {plan.cross_rounds} ran")
        result.require(not stale, f"{len(stale)} stale checks on B, e.g. {stale[:3]}")
        result.require(not leftovers, f"final sweep on B: {leftovers[:5]}")
        result.require(not failures, f"{len(failures)} writes failed: {failures[:3]}")
        result.require(
            lookups.get("near_hit", 0) > 0, f"B's near cache answered no check: {lookups}"
        )
        for t in (self.tally, self.hammer_tally):
            result.require(t.fivexx() == 0, f"{t.fivexx()} answers 5xx: {t.server_errors[:3]}")
            result.require(not t.hangs, f"hangs: {t.hangs[:3]}")
        writes: Counter[str] = Counter()
        for w in writers:
            writes.update(w.writes)
        result.figures = {
            "servers": f"A on port {self.ports[0]} (writes), B on port {self.ports[1]} "
            "(checks), 2 workers each, one Redis, one PostgreSQL",
            "rounds (write on A + check on B)": rounds,
            "writes by kind": dict(writes),
            "stale checks on B (at once / still stale after "
            f"{STALE_GIVE_UP:g} s)": f"{len(stale)} / {sum(w.stale_persistent for w in writers)}",
            "max staleness window (ms, from A's answer until B answered fresh)": (
                f"{max(windows) * 1000:.1f}" if windows else "none observed"
            ),
            "stale entries in the final sweep": len(leftovers),
            "background checks on B of the same keys": self.hammer_tally.count,
            "B's check answers by cache tier (/metrics)": lookups,
            "latency p50 / p99 / max (ms), writes and checks": latency_text(self.tally),
            "answers (writes and checks)": self.tally.codes(),
            "rounds per second": f"{rounds / elapsed:.0f}" if elapsed else "-",
        }
        result.passed = not result.problems
        return result
