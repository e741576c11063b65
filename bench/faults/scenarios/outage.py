"""Scenarios 3 and 3b: Redis killed and restarted, or frozen and thawed, under load."""

from __future__ import annotations

import statistics
import threading
import time
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor

from bench.faults.context import Context
from bench.faults.http import Api, Tally, latency_text
from bench.faults.load import StaticReader, Timeline, Writer
from bench.faults.plan import REQUEST_TIMEOUT
from bench.faults.result import Result
from bench.faults.seeding import Lic, provision_direct, seed_tenant
from bench.faults.truth import mismatch, sweep

TITLES = {
    "kill": "Redis dies under load (SIGKILL, then started again)",
    "freeze": "Redis unreachable under load (SIGSTOP, then SIGCONT; its data survives)",
}
RECOVERY_SHARE = 0.6  # checks/s after the outage, at least this share of before
BUCKET = 0.5  # seconds: throughput is judged on the median of buckets this wide


def outage_scenario(ctx: Context, number: str, mode: str) -> Result:
    """Redis killed and restarted (``kill``) or frozen and thawed (``freeze``) under load."""
    run = OutageRun(ctx, number, mode)
    try:
        run.drive()
    finally:
        run.clean_up()
    return run.judge()


class OutageRun:
    """One outage scenario: its licenses, its load, its phases and its judgement."""

    def __init__(self, ctx: Context, number: str, mode: str) -> None:
        self.ctx, self.number, self.mode = ctx, number, mode
        self.plan = plan = ctx.plan
        self.redis = ctx.stack.redis
        prefix = "FLTK" if mode == "kill" else "FLTZ"
        tenant = seed_tenant(f"faults-redis-{mode}", prefix, {"pro": 5})
        self.writer_tally, self.reader_tally, self.probe_tally = Tally(), Tally(), Tally()
        url = ctx.server.base_url
        self.brand = Api(url, tenant.api_key)
        self.product = Api(url)
        self.reader = Api(url)
        self.writers = [
            Writer(
                f"s{number}w{i}",
                provision_direct(tenant, f"redis-writer-{i}@example.com", "pro"),
                self.brand,
                self.product,
                self.reader,
                self.writer_tally,
            )
            for i in range(plan.outage_writers)
        ]
        self.statics = [
            provision_direct(tenant, f"redis-static-{i}@example.com", "pro") for i in range(20)
        ]
        self.probes = [
            provision_direct(tenant, f"redis-probe-{i}@example.com", "pro")
            for i in range(plan.outage_probes)
        ]
        self.stop = threading.Event()
        self.readers = [
            StaticReader(self.reader, self.statics, self.reader_tally, self.stop)
            for _ in range(plan.outage_readers)
        ]
        self.timeline = Timeline()
        self.probe_problems: list[str] = []
        self.downtime_answers: Counter[str] = Counter()
        self.leftovers: list[str] = []
        self.pool = ThreadPoolExecutor(max_workers=len(self.writers))

    def _drive_writer(self, writer: Writer) -> None:
        while not self.stop.is_set():
            if not writer.step():
                time.sleep(0.05)

    def drive(self) -> None:
        plan, timeline = self.plan, self.timeline
        # Warm the cache of every key before the outage: entries that must not survive it.
        for lic in [*self.statics, *self.probes, *(w.lic for w in self.writers)]:
            self.probe_tally.add(self.reader.check(lic.key), "warm")
        timeline.mark("start")
        for r in self.readers:
            r.start()
        futures = [self.pool.submit(self._drive_writer, w) for w in self.writers]
        time.sleep(plan.outage_before)
        timeline.mark("outage")
        if self.mode == "kill":
            self.redis.kill()
        else:
            self.redis.freeze()
        time.sleep(plan.outage_down / 2)
        self._suspend_probes()
        time.sleep(plan.outage_down / 2)
        timeline.mark("restore")
        if self.mode == "kill":
            self.redis.start()
        else:
            self.redis.thaw()
        time.sleep(plan.outage_after)
        timeline.mark("end")
        self._finish(futures)

    def _suspend_probes(self) -> None:
        """Changes while the cache cannot be told: the pre-outage entries of these keys are
        stale from now on."""
        for lic in self.probes:
            answer = self.probe_tally.add(
                self.brand.lifecycle(lic.license_id, {"action": "suspend"}), "probe"
            )
            self.downtime_answers[f"{answer.status} {answer.error or ''}".strip()] += 1
            if answer.status == 200:
                lic.status = "suspended"
            else:
                self.probe_problems.append(f"suspend during the outage: {answer.brief()}")

    def _finish(self, futures: list[Future[None]]) -> None:
        self.stop.set()
        for f in futures:
            f.result(timeout=REQUEST_TIMEOUT * 3)
        for r in self.readers:
            r.join(timeout=REQUEST_TIMEOUT + 5)
        # After the outage: every key must answer what the database holds.
        for lic in self.probes:
            why = mismatch(self.probe_tally.add(self.reader.check(lic.key), "probe"), lic)
            if why:
                self.probe_problems.append(f"probe {lic.key[:10]}… after the outage: {why}")
        lics: list[Lic] = [*self.statics, *self.probes, *(w.lic for w in self.writers)]
        self.leftovers = sweep(self.reader, [lic.key for lic in lics])

    def clean_up(self) -> None:
        self.stop.set()
        self.pool.shutdown(wait=True, cancel_futures=True)
        if self.mode == "freeze":
            self.redis.thaw()
        if not self.redis.ping():
            self.redis.start()
        for api in (self.brand, self.product, self.reader):
            api.close()

    # --- judgement -------------------------------------------------------------------------

    def recovery(self) -> tuple[float, float, float]:
        """Checks/s before, during and after the outage, each the median of 0.5 s buckets.

        "After" starts ``outage_settle`` seconds after Redis is back: a process that saw the
        cache fail skips it for CACHE_RETRY_SECONDS (5 s) after its last failed call, which
        can come a socket timeout after the restore. Before that the service is by design
        still on its fallback path, so those seconds say nothing about recovery. The median
        of half-second buckets, not the mean of a short tail, is judged: one slow second
        (another process on the host taking the cores) moves a mean of 3 s by a third, and
        a median of 8 buckets not at all, while a service that did not recover is slow in
        every bucket and still fails.
        """
        timeline, tally = self.timeline, self.reader_tally
        timeline.marks["settled"] = min(
            timeline.marks["end"], timeline.marks["restore"] + self.plan.outage_settle
        )

        def median(start: str, end: str, trim: float = 0.0) -> float:
            rates = timeline.bucket_rates(tally, start, end, BUCKET, trim=trim)
            return statistics.median(rates) if rates else 0.0

        return (
            median("start", "outage", trim=0.5),
            median("outage", "restore"),
            median("settled", "end"),
        )

    def judge(self) -> Result:
        result = Result(self.number, TITLES[self.mode])
        before, during, after = self.recovery()
        stale = [s for w in self.writers for s in w.stale]
        wrong = [s for r in self.readers for s in r.wrong]
        write_failures = [f for w in self.writers for f in w.write_failures]
        for t in self.tallies:
            result.require(t.fivexx() == 0, f"{t.fivexx()} answers 5xx: {t.server_errors[:3]}")
            result.require(not t.hangs, f"hangs: {t.hangs[:3]}")
            result.require(not t.not_json, f"non-JSON answers: {t.not_json[:3]}")
        result.require(not stale, f"{len(stale)} stale checks after writes, e.g. {stale[:3]}")
        result.require(
            not wrong, f"{len(wrong)} wrong answers for unchanged keys, e.g. {wrong[:3]}"
        )
        result.require(
            not write_failures, f"{len(write_failures)} writes failed: {write_failures[:3]}"
        )
        problems = self.probe_problems
        result.require(not problems, f"{len(problems)} stale after the outage: {problems[:3]}")
        leftovers = self.leftovers
        result.require(
            not leftovers, f"final sweep: {len(leftovers)} differences, e.g. {leftovers[:3]}"
        )
        result.require(
            after >= RECOVERY_SHARE * before,
            f"check throughput did not recover: {after:.0f}/s after vs {before:.0f}/s before",
        )
        result.figures = self.figures(before, during, after, len(stale), len(wrong))
        result.passed = not result.problems
        return result

    @property
    def tallies(self) -> tuple[Tally, Tally, Tally]:
        return (self.writer_tally, self.reader_tally, self.probe_tally)

    def figures(
        self, before: float, during: float, after: float, stale: int, wrong: int
    ) -> dict[str, object]:
        plan, timeline = self.plan, self.timeline
        w_before = timeline.rate(self.writer_tally, "start", "outage", trim=0.5)
        w_during = timeline.rate(self.writer_tally, "outage", "restore")
        w_after = timeline.rate(self.writer_tally, "settled", "end")
        judged = timeline.marks["end"] - timeline.marks["settled"]
        tallies = self.tallies
        return {
            "phases (s)": f"{plan.outage_before:g} up, {plan.outage_down:g} {self.mode}, "
            f"{plan.outage_after:g} after",
            f"checks/s on unchanged keys: before / during / after (median of {BUCKET:g} s "
            f"buckets; after: the last {judged:.0f} s, from {plan.outage_settle:g} s after "
            "the restore)": f"{before:.0f} / {during:.0f} / {after:.0f}",
            "checks/s in each second from the restore": " ".join(
                f"{rate:.0f}"
                for rate in timeline.bucket_rates(self.reader_tally, "restore", "end", 1.0)
            ),
            "verified write rounds/s: before / during / after": (
                f"{w_before:.0f} / {w_during:.0f} / {w_after:.0f}"
            ),
            "write rounds (write + verifying check)": sum(w.rounds for w in self.writers),
            "stale checks after writes": stale,
            "wrong answers on unchanged keys": (
                f"{wrong} of {sum(r.answers for r in self.readers)}"
            ),
            "keys changed during the outage, stale after it": (
                f"{sum('after the outage' in p for p in self.probe_problems)} of {len(self.probes)}"
            ),
            "final sweep differences": len(self.leftovers),
            "5xx / hangs": f"{sum(t.fivexx() for t in tallies)} / "
            f"{sum(len(t.hangs) for t in tallies)}",
            "latency of checks p50 / p99 / max (ms)": latency_text(self.reader_tally),
            "answers": self.writer_tally.codes() + "; reads: " + self.reader_tally.codes(),
        }
