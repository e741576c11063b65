"""Scenario 8: one worker's memory under a soak with more distinct keys than its near cache.

A server of its own with ONE gunicorn worker (the other scenarios' setup otherwise: Redis,
PostgreSQL, near cache on) and its near cache bounded to ``soak_cache_bytes`` by
``CHECK_NEAR_CACHE_MAX_BYTES``. Clients send checks: 70 % of 200 hot keys, 25 % of distinct
keys (each sent once, far more than the cache holds at ~1 KiB an entry), 5 % of unknown keys
(fresh valid-checksum keys, not throttled). The worker's RSS is sampled every second.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from bench.faults.context import Context
from bench.faults.http import Api, Tally, latency_text
from bench.faults.result import Result
from bench.faults.seeding import seed_bulk, server_env
from bench.services import Gunicorn

MIB = 1024 * 1024
MIN_TAIL_SAMPLES = 3  # RSS samples over the last third, at least, to judge the levelling off
HOT_SHARE, DISTINCT_SHARE = 0.70, 0.25  # the rest: unknown keys


@dataclass
class RssSampler:
    """The RSS of one process, sampled every ``interval`` seconds on a thread of its own."""

    pid: int
    interval: float = 1.0
    samples: list[tuple[float, int]] = field(default_factory=list)
    lost: bool = False

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.is_set():
            rss = rss_of(self.pid)
            if rss is None:
                self.lost = True
                return
            self.samples.append((time.monotonic(), rss))
            self._stop.wait(self.interval)

    def between(self, lo: float, hi: float) -> list[int]:
        return [rss for t, rss in self.samples if lo <= t <= hi]


def rss_of(pid: int) -> int | None:
    """Resident set size in bytes (psutil when installed, else /proc), None once gone."""
    try:
        import psutil
    except ImportError:
        psutil = None
    if psutil is not None:
        try:
            return int(psutil.Process(pid).memory_info().rss)
        except psutil.Error:
            return None
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return None


def worker_pids(arbiter: int) -> list[int]:
    """The processes whose parent is ``arbiter`` (gunicorn's workers), from /proc."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        fields = text[text.rfind(")") + 2 :].split()
        if int(fields[1]) == arbiter:
            found.append(int(stat.parent.name))
    return sorted(found)


def the_worker(server: Gunicorn) -> int:
    assert server.proc is not None
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        pids = worker_pids(server.proc.pid)
        if len(pids) == 1:
            return pids[0]
        time.sleep(0.1)
    raise RuntimeError(f"expected one gunicorn worker, found {worker_pids(server.proc.pid)}")


class Traffic:
    """The soak's mix of checks; distinct keys are each sent once, in a shuffled order."""

    def __init__(self, hot: list[str], distinct: list[str], api: Api, tally: Tally) -> None:
        self.hot, self.distinct, self.api, self.tally = hot, distinct, api, tally
        self.lock = threading.Lock()
        self.next_distinct = 0
        self.sent: Counter[str] = Counter()
        self.unexpected: list[str] = []

    def _distinct_key(self) -> str:
        with self.lock:
            key = self.distinct[self.next_distinct % len(self.distinct)]
            self.next_distinct += 1
            return key

    def one(self, rng: random.Random) -> None:
        from licensing.keys import generate_license_key

        roll = rng.random()
        if roll < HOT_SHARE:
            kind, key, want = "hot", rng.choice(self.hot), 200
        elif roll < HOT_SHARE + DISTINCT_SHARE:
            kind, key, want = "distinct", self._distinct_key(), 200
        else:
            kind, key, want = "unknown", generate_license_key("BNCH"), 404
        answer = self.tally.add(self.api.check(key), kind)
        with self.lock:
            self.sent[kind] += 1
            if answer.status != want:
                self.unexpected.append(f"{kind}: {answer.brief()}")

    def run(self, seconds: float, clients: int, seed: int) -> None:
        deadline = time.monotonic() + seconds

        def client(index: int) -> None:
            rng = random.Random(seed * 1000 + index)
            while time.monotonic() < deadline:
                self.one(rng)

        with ThreadPoolExecutor(max_workers=clients) as pool:
            for f in [pool.submit(client, i) for i in range(clients)]:
                f.result()


def scenario_memory_soak(ctx: Context) -> Result:
    plan = ctx.plan
    keys = seed_bulk("faults-soak", plan.soak_hot_keys + plan.soak_distinct_keys)
    hot, distinct = keys[: plan.soak_hot_keys], keys[plan.soak_hot_keys :]
    random.Random(8).shuffle(distinct)
    env = server_env(
        ctx.stack,
        GUNICORN_WORKERS="1",
        CHECK_NEAR_CACHE_MAX_BYTES=str(plan.soak_cache_bytes),
        THROTTLE_PRODUCT_KEY=plan.soak_key_rate,
    )
    server = ctx.stack.gunicorn(env, name="gunicorn-8")
    api = Api(server.base_url)
    try:
        return SoakRun(ctx, server, api, hot, distinct).run()
    finally:
        api.close()
        ctx.stack.stop_server(server)


class SoakRun:
    def __init__(
        self, ctx: Context, server: Gunicorn, api: Api, hot: list[str], distinct: list[str]
    ) -> None:
        self.plan, self.server, self.api = ctx.plan, server, api
        self.tally = Tally(keep_answers=False)
        self.traffic = Traffic(hot, distinct, api, self.tally)
        self.pid = the_worker(server)
        self.sampler = RssSampler(self.pid)

    def run(self) -> Result:
        # Warm-up (not judged): every hot key once, so the run starts from a served worker.
        for key in self.traffic.hot:
            self.api.check(key)
        lookups_before = self.api.cache_lookups()
        self.sampler.start()
        started = time.monotonic()
        self.traffic.run(self.plan.soak_seconds, self.plan.soak_clients, seed=8)
        ended = time.monotonic()
        self.sampler.stop()
        lookups = self.api.cache_lookups()
        lookups.subtract(lookups_before)
        return self.judge(started, ended, lookups)

    def judge(self, started: float, ended: float, lookups: Counter[str]) -> Result:
        result = Result("8", "Memory: one worker under a soak larger than its near cache")
        plan, tally, sent = self.plan, self.tally, self.traffic.sent
        rss = self.sampler.between(started, ended)
        third = started + (ended - started) * 2 / 3
        tail = self.sampler.between(third, ended)
        growth = (max(tail) - tail[0]) / MIB if len(tail) >= 2 else float("nan")
        result.require(len(tail) >= MIN_TAIL_SAMPLES, f"only {len(rss)} RSS samples of the worker")
        result.require(not self.sampler.lost, "the worker went away during the soak")
        level = plan.soak_level_mib
        result.require(
            growth < level,
            f"RSS did not level off: +{growth:.1f} MiB over the last third (limit {level:g})",
        )
        unexpected = self.traffic.unexpected
        result.require(not unexpected, f"{len(unexpected)} unexpected answers: {unexpected[:3]}")
        result.require(tally.fivexx() == 0, f"5xx: {tally.server_errors[:3]}")
        result.require(not tally.hangs, f"hangs: {tally.hangs[:3]}")
        result.require(sent["distinct"] > 0 and sent["unknown"] > 0, f"traffic mix: {sent}")
        near = lookups.get("near_hit", 0)
        hot = sent["hot"]
        result.figures = {
            "worker, near cache": (
                f"1 gunicorn worker (pid {self.pid}), CHECK_NEAR_CACHE_MAX_BYTES="
                f"{plan.soak_cache_bytes} ({plan.soak_cache_bytes / MIB:g} MiB), "
                f"THROTTLE_PRODUCT_KEY={plan.soak_key_rate}"
            ),
            "keys: hot / distinct seeded / distinct sent (each once)": (
                f"{len(self.traffic.hot)} / {len(self.traffic.distinct)} / {sent['distinct']}"
            ),
            "checks sent: hot / distinct / unknown": (
                f"{hot} / {sent['distinct']} / {sent['unknown']} in {ended - started:.0f} s "
                f"({tally.count / (ended - started):.0f}/s, {plan.soak_clients} clients)"
            ),
            "worker RSS start / peak / end (MiB)": (
                f"{rss[0] / MIB:.1f} / {max(rss) / MIB:.1f} / {rss[-1] / MIB:.1f}" if rss else "-"
            ),
            "RSS growth over the last third (MiB)": f"{growth:+.1f} (must be < {level:g})",
            "RSS every 10 s (MiB)": " ".join(f"{r / MIB:.0f}" for r in rss[::10]),
            "near-hit ratio of the hot keys (near hits / hot checks)": (
                f"{near / hot:.1%} ({near} / {hot})" if hot else "-"
            ),
            "check answers by cache tier (/metrics)": dict(sorted(lookups.items())),
            "latency p50 / p99 / max (ms)": latency_text(tally),
            "answers": tally.codes(),
        }
        result.passed = not result.problems
        return result
