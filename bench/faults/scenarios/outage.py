from __future__ import annotations

import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from bench.faults.context import Context
from bench.faults.http import Api, Tally, latency_text
from bench.faults.load import StaticReader, Timeline, Writer
from bench.faults.plan import (
    REQUEST_TIMEOUT,
)
from bench.faults.result import Result
from bench.faults.seeding import (
    provision_direct,
    seed_tenant,
)
from bench.faults.truth import (
    mismatch,
    sweep,
)


def outage_scenario(ctx: Context, number: str, mode: str) -> Result:
    """Redis killed and restarted (``kill``) or frozen and thawed (``freeze``) under load."""
    title = {
        "kill": "Redis dies under load (SIGKILL, then started again)",
        "freeze": "Redis unreachable under load (SIGSTOP, then SIGCONT; its data survives)",
    }[mode]
    result = Result(number, title)
    plan = ctx.plan
    redis = ctx.stack.redis
    tenant = seed_tenant(f"faults-redis-{mode}", "FLTK" if mode == "kill" else "FLTZ", {"pro": 5})
    writer_tally, reader_tally, probe_tally = Tally(), Tally(), Tally()
    brand = Api(ctx.server.base_url, tenant.api_key, connections=plan.outage_writers + 2)
    product = Api(ctx.server.base_url, connections=plan.outage_writers)
    reader = Api(ctx.server.base_url, connections=plan.outage_writers + plan.outage_readers + 2)
    writers = [
        Writer(
            f"s{number}w{i}",
            provision_direct(tenant, f"redis-writer-{i}@example.com", "pro"),
            brand,
            product,
            reader,
            writer_tally,
        )
        for i in range(plan.outage_writers)
    ]
    statics = [provision_direct(tenant, f"redis-static-{i}@example.com", "pro") for i in range(20)]
    probes = [
        provision_direct(tenant, f"redis-probe-{i}@example.com", "pro")
        for i in range(plan.outage_probes)
    ]
    stop = threading.Event()
    readers = [
        StaticReader(reader, statics, reader_tally, stop) for _ in range(plan.outage_readers)
    ]
    timeline = Timeline()
    probe_problems: list[str] = []
    downtime_answers: Counter[str] = Counter()

    def drive(writer: Writer) -> None:
        while not stop.is_set():
            if not writer.step():
                time.sleep(0.05)

    # Warm the cache of every key before the outage: entries that must not survive it.
    for lic in [*statics, *probes, *(w.lic for w in writers)]:
        probe_tally.add(reader.check(lic.key), "warm")
    pool = ThreadPoolExecutor(max_workers=len(writers))
    try:
        timeline.mark("start")
        for r in readers:
            r.start()
        futures = [pool.submit(drive, w) for w in writers]
        time.sleep(plan.outage_before)
        timeline.mark("outage")
        if mode == "kill":
            redis.kill()
        else:
            redis.freeze()
        time.sleep(plan.outage_down / 2)
        # Changes while the cache cannot be told: the pre-outage entries of these keys
        # are stale from now on.
        for lic in probes:
            answer = probe_tally.add(
                brand.lifecycle(lic.license_id, {"action": "suspend"}), "probe"
            )
            downtime_answers[f"{answer.status} {answer.error or ''}".strip()] += 1
            if answer.status == 200:
                lic.status = "suspended"
            else:
                probe_problems.append(f"suspend during the outage: {answer.brief()}")
        time.sleep(plan.outage_down / 2)
        timeline.mark("restore")
        if mode == "kill":
            redis.start()
        else:
            redis.thaw()
        time.sleep(plan.outage_after)
        timeline.mark("end")
        stop.set()
        for f in futures:
            f.result(timeout=REQUEST_TIMEOUT * 3)
        for r in readers:
            r.join(timeout=REQUEST_TIMEOUT + 5)
        # After the outage: every key must answer what the database holds.
        for lic in probes:
            why = mismatch(probe_tally.add(reader.check(lic.key), "probe"), lic)
            if why:
                probe_problems.append(f"probe {lic.key[:10]}… after the outage: {why}")
        leftovers = sweep(
            reader, [*(lic.key for lic in [*statics, *probes]), *(w.lic.key for w in writers)]
        )
    finally:
        stop.set()
        pool.shutdown(wait=True, cancel_futures=True)
        if mode == "freeze":
            redis.thaw()
        if not redis.ping():
            redis.start()
        for api in (brand, product, reader):
            api.close()

    stale = [s for w in writers for s in w.stale]
    wrong = [s for r in readers for s in r.wrong]
    write_failures = [f for w in writers for f in w.write_failures]
    all_tallies = (writer_tally, reader_tally, probe_tally)
    before = timeline.rate(reader_tally, "start", "outage", trim=0.5)
    during = timeline.rate(reader_tally, "outage", "restore")
    # The service stops asking a failed cache for a few seconds: judge recovery on the tail.
    tail_start = max(timeline.marks["restore"], timeline.marks["end"] - 3.0)
    timeline.marks["tail"] = tail_start
    after = timeline.rate(reader_tally, "tail", "end")
    w_before = timeline.rate(writer_tally, "start", "outage", trim=0.5)
    w_during = timeline.rate(writer_tally, "outage", "restore")
    w_after = timeline.rate(writer_tally, "tail", "end")
    for t in all_tallies:
        result.require(t.fivexx() == 0, f"{t.fivexx()} answers 5xx: {t.server_errors[:3]}")
        result.require(not t.hangs, f"hangs: {t.hangs[:3]}")
        result.require(not t.not_json, f"non-JSON answers: {t.not_json[:3]}")
    result.require(not stale, f"{len(stale)} stale checks after writes, e.g. {stale[:3]}")
    result.require(not wrong, f"{len(wrong)} wrong answers for unchanged keys, e.g. {wrong[:3]}")
    result.require(not write_failures, f"{len(write_failures)} writes failed: {write_failures[:3]}")
    result.require(
        not probe_problems, f"{len(probe_problems)} stale after the outage: {probe_problems[:3]}"
    )
    result.require(
        not leftovers, f"final sweep: {len(leftovers)} differences, e.g. {leftovers[:3]}"
    )
    result.require(
        after >= 0.6 * before,
        f"check throughput did not recover: {after:.0f}/s after vs {before:.0f}/s before",
    )
    result.figures = {
        "phases (s)": f"{plan.outage_before:g} up, {plan.outage_down:g} {mode}, "
        f"{plan.outage_after:g} after",
        "checks/s on unchanged keys: before / during / after (last 3 s)": (
            f"{before:.0f} / {during:.0f} / {after:.0f}"
        ),
        "verified write rounds/s: before / during / after": (
            f"{w_before:.0f} / {w_during:.0f} / {w_after:.0f}"
        ),
        "write rounds (write + verifying check)": sum(w.rounds for w in writers),
        "stale checks after writes": len(stale),
        "wrong answers on unchanged keys": f"{len(wrong)} of {sum(r.answers for r in readers)}",
        "keys changed during the outage, stale after it": (
            f"{sum('after the outage' in p for p in probe_problems)} of {len(probes)}"
        ),
        "final sweep differences": len(leftovers),
        "5xx / hangs": f"{sum(t.fivexx() for t in all_tallies)} / "
        f"{sum(len(t.hangs) for t in all_tallies)}",
        "latency of checks p50 / p99 / max (ms)": latency_text(reader_tally),
        "answers": writer_tally.codes() + "; reads: " + reader_tally.codes(),
    }
    result.passed = not result.problems
    return result
