"""Scenarios 11-14: webhooks delivered at least once by real Celery workers (SPEC §13).

Each scenario seeds a brand of its own, starts the suite's receiver (bench/faults/receiver.py:
every delivery verified with the Standard Webhooks library), creates its endpoints through
the brand API, and starts 2 Celery workers (prefork, 4 processes each) and one beat on
the stack's Redis as the broker, with the gunicorn server's environment. Events are made
through the real API (provisions, suspends, resumes) from threads. The database is the
truth: every event of the brand must reach every endpoint that wants it.

11. 10,000 events (quick: 300) to 3 endpoints: all delivered, the feed has each once in
    order; lag from the event's ``created_at`` to its first receipt.
12. Redis (the broker, and the check cache) killed for 30 s (quick: 4 s) under load, then
    started again empty: writes and checks go on meanwhile; nothing lost afterwards.
13. One endpoint refusing connections and one answering 500 for the whole run, next to two
    healthy ones: retries scheduled, a delivery row for every event, healthy ones get every
    event exactly once.
14. A worker SIGKILLed while the receiver holds its requests open; the worker restarted:
    every event delivered after the restart, any duplicate with the same ``webhook-id``.
"""

from __future__ import annotations

import random
import statistics
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from bench.faults.context import Context
from bench.faults.http import Api, Tally
from bench.faults.receiver import Receipt, Receiver, first_receipts
from bench.faults.result import Result
from bench.faults.seeding import db_reconnect, seed_tenant, server_env
from bench.services import CeleryProcess, CeleryWorker, free_port, wait_until

TITLES = {
    "11": "Webhooks: events delivered to 3 endpoints by 2 workers, feed in order",
    "12": "Webhooks: the broker (Redis) killed under load, then started again",
    "13": "Webhooks: one endpoint down for the whole run, next to healthy ones",
    "14": "Webhooks: a worker SIGKILLed mid-delivery, then restarted",
}
# Scenario 12: a message lost with Redis is sent again by the sweep once it looks lost
# (WEBHOOK_REQUEUE_AFTER, 300 s in production): shortened so the recovery fits the run.
OUTAGE_ENV = {"WEBHOOK_REQUEUE_AFTER": "3"}
# Scenario 14: the claim of a killed worker lasts WEBHOOK_TIMEOUT * 2 + WEBHOOK_LEASE_MARGIN
# (60 s in production): 4 * 2 + 2 = 10 s here.
KILL_ENV = {"WEBHOOK_TIMEOUT": "4", "WEBHOOK_LEASE_MARGIN": "2", "WEBHOOK_REQUEUE_AFTER": "3"}
FEED_PAGE = 500


# --- the rig: brand, receiver, endpoints, workers -------------------------------------------


@dataclass
class Rig:
    """One scenario's brand, receiver, endpoints (name -> id) and Celery processes."""

    ctx: Context
    number: str
    tenant: Any = None
    brand: Api | None = None
    receiver: Receiver = field(default_factory=Receiver)
    endpoints: dict[str, int] = field(default_factory=dict)
    processes: list[CeleryProcess] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def set_up(self, slug: str, prefix: str, env: dict[str, str] | None = None) -> None:
        self.tenant = seed_tenant(slug, prefix, {"pro": None})
        self.brand = Api(self.ctx.server.base_url, self.tenant.api_key)
        self.receiver.start()
        self.env = server_env(self.ctx.stack, LOG_LEVEL="INFO", **(env or {}))
        skip_older_events()

    def endpoint(self, name: str, url: str | None = None) -> None:
        """An endpoint through the brand API; its secret goes to the receiver's hook."""
        assert self.brand is not None
        url = url or self.receiver.url(name)
        answer = self.brand.request(
            "POST",
            "/api/v1/brand/webhooks",
            json={"url": url, "events": [], "description": f"faults {name}"},
            headers={"X-Brand-API-Key": self.brand.brand_api_key or ""},
        )
        if answer.status != 201:
            raise RuntimeError(f"endpoint {name} not created: {answer.brief()}")
        self.endpoints[name] = answer.body["id"]
        if name in self.receiver.hooks:
            self.receiver.hooks[name].secret = answer.body["secret"]

    def healthy_endpoints(self, names: list[str]) -> None:
        for name in names:
            self.receiver.hook(name)
            self.endpoint(name)

    def start_celery(self, workers: int = 2) -> None:
        stack = self.ctx.stack
        started: list[CeleryProcess] = [
            stack.celery_worker(self.env, f"s{self.number}-worker{n}", wait=False)
            for n in range(workers)
        ]
        started.append(stack.celery_beat(self.env, f"s{self.number}-beat", wait=False))
        for process in started:
            process.wait_ready()
        self.processes += started

    def workers(self) -> list[CeleryWorker]:
        return [p for p in self.processes if isinstance(p, CeleryWorker)]

    def clean_up(self) -> None:
        self.ctx.stack.stop_celery()
        self.processes.clear()
        db_reconnect()
        if self.brand is not None:
            for webhook_id in self.endpoints.values():  # no retries left for later scenarios
                self.brand.request(
                    "DELETE",
                    f"/api/v1/brand/webhooks/{webhook_id}",
                    headers={"X-Brand-API-Key": self.brand.brand_api_key or ""},
                )
            self.brand.close()
        self.receiver.stop()

    # --- the database's view ------------------------------------------------------------

    def event_ids(self) -> list[int]:
        """The brand's events in feed order (sequencing any not yet placed)."""
        from events.models import Event
        from events.services import events_sequence, events_unsequenced

        while events_unsequenced():
            events_sequence()
        return list(
            Event.objects.filter(brand_id=self.tenant.brand_id)
            .order_by("position")
            .values_list("pk", flat=True)
        )

    def created_at(self) -> dict[int, float]:
        from events.models import Event

        rows = Event.objects.filter(brand_id=self.tenant.brand_id).values_list("pk", "created_at")
        return {pk: created.timestamp() for pk, created in rows}

    def wait_delivered(self, names: list[str], timeout: float) -> float:
        """Wait until every event of the brand reached each of ``names`` (valid signature);
        returns the seconds waited."""
        started = time.monotonic()
        expected = set(self.event_ids())

        def done() -> bool:
            return all(expected <= self.receiver.delivered(name) for name in names)

        wait_until(done, timeout=timeout, interval=0.25)
        return time.monotonic() - started

    def feed(self) -> tuple[list[int], list[str]]:
        """Every event id the feed answers, page by page; and any bad answer."""
        assert self.brand is not None
        ids: list[int] = []
        bad: list[str] = []
        after: int | None = None
        for _ in range(10_000):
            params: dict[str, Any] = {"limit": FEED_PAGE}
            if after is not None:
                params["after"] = after
            answer = self.brand.request(
                "GET",
                "/api/v1/brand/events",
                params=params,
                headers={"X-Brand-API-Key": self.brand.brand_api_key or ""},
            )
            if answer.status != 200:
                bad.append(answer.brief())
                break
            page = [int(e["id"]) for e in answer.body["results"]]
            ids += page
            if not answer.body["next"] or not page:
                break
            after = page[-1]
        return ids, bad


def skip_older_events() -> None:
    """Move the dispatch cursor past the events earlier scenarios left (they have no
    endpoint of this scenario's brand, which is new: dispatch would only read through them,
    1000 per run, before reaching this scenario's events)."""
    from django.db.models import Max

    from events.models import Event
    from events.services import events_sequence, events_unsequenced
    from webhooks.models import WebhookDispatchCursor

    while events_unsequenced():
        events_sequence()
    last = Event.objects.aggregate(n=Max("position"))["n"] or 0
    WebhookDispatchCursor.objects.update_or_create(pk=1, defaults={"position": last})


# --- events made through the API --------------------------------------------------------------


class EventMaker:
    """Threads that make events through the brand API: provisions of new licenses, and
    suspends and resumes of their own, one event per successful write. Bounded by a count
    (``target``) and by time (``deadline``, or ``stop``)."""

    def __init__(self, brand: Api, tag: str, target: int, threads: int) -> None:
        self.brand, self.tag, self.target, self.threads = brand, tag, target, threads
        self.tally = Tally(keep_answers=False)
        self.lock = threading.Lock()
        self.tickets = target
        self.succeeded = 0
        self.failures: list[str] = []
        self.stop = threading.Event()
        self.keys: list[str] = []
        self.timeline: list[tuple[float, bool]] = []  # (monotonic end, success)

    def _ticket(self) -> bool:
        with self.lock:
            if self.tickets <= 0:
                return False
            self.tickets -= 1
            return True

    def run(self, deadline: float) -> None:
        with ThreadPoolExecutor(max_workers=self.threads) as pool:
            for n in range(self.threads):
                pool.submit(self._thread, n, deadline)

    def _thread(self, n: int, deadline: float) -> None:
        rng = random.Random(f"{self.tag}-{n}")
        mine: list[tuple[int, str]] = []  # (license id, status)
        serial = 0
        while not self.stop.is_set() and time.monotonic() < deadline and self._ticket():
            serial += 1
            if len(mine) < 3 or rng.random() < 0.3:
                body = {
                    "customer_email": f"{self.tag}-{n}-{serial}@example.com",
                    "product_slug": "pro",
                }
                answer = self.tally.add(self.brand.provision(body), "provision")
                ok = answer.status == 201
                if ok:
                    mine.append((answer.body["license_id"], "valid"))
                    with self.lock:
                        if len(self.keys) < 20:
                            self.keys.append(answer.body["license_key"])
            else:
                i = rng.randrange(len(mine))
                license_id, status = mine[i]
                action = "suspend" if status == "valid" else "resume"
                answer = self.tally.add(
                    self.brand.lifecycle(license_id, {"action": action}), action
                )
                ok = answer.status == 200
                if ok:
                    mine[i] = (license_id, "suspended" if action == "suspend" else "valid")
            with self.lock:
                self.timeline.append((time.monotonic(), ok))
                if ok:
                    self.succeeded += 1
                else:
                    self.failures.append(answer.brief())

    def successes_between(self, start: float, end: float) -> int:
        with self.lock:
            return sum(1 for t, ok in self.timeline if ok and start <= t < end)


class Checker(threading.Thread):
    """Checks keys the event maker provisioned, every 20 ms, until stopped."""

    def __init__(self, base_url: str, maker: EventMaker) -> None:
        super().__init__(daemon=True)
        self.api = Api(base_url)
        self.maker = maker
        self.tally = Tally(keep_answers=False)
        self.halt = threading.Event()
        self.rng = random.Random("checker")

    def run(self) -> None:
        while not self.halt.is_set():
            keys = list(self.maker.keys)
            if keys:
                self.tally.add(self.api.check(self.rng.choice(keys)), "check")
            time.sleep(0.02)

    def finish(self) -> None:
        self.halt.set()
        self.join(timeout=15)
        self.api.close()


# --- figures -------------------------------------------------------------------------------


def lags(receipts: list[Receipt], created: dict[int, float]) -> list[float]:
    """Seconds from each event's created_at to its first valid receipt, per endpoint."""
    out: list[float] = []
    by_endpoint: dict[str, list[Receipt]] = {}
    for r in receipts:
        by_endpoint.setdefault(r.endpoint, []).append(r)
    for rows in by_endpoint.values():
        for event_id, first in first_receipts(rows).items():
            if event_id in created:
                out.append(first.received - created[event_id])
    return out


def lag_text(values: list[float]) -> str:
    if not values:
        return "-"
    ordered = sorted(values)

    def pick(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    return f"{pick(0.5):.2f} / {pick(0.99):.2f} / {ordered[-1]:.2f}"


def judge_delivery(result: Result, rig: Rig, names: list[str], *, exactly_once: bool) -> None:
    """Every event reached every endpoint in ``names`` with a valid signature; duplicates
    only with the same webhook-id (none at all when ``exactly_once``)."""
    expected = set(rig.event_ids())
    for name in names:
        missing = expected - rig.receiver.delivered(name)
        extra, mismatched = rig.receiver.duplicates(name)
        result.require(
            not missing,
            f"{name}: {len(missing)} of {len(expected)} events never delivered, e.g. "
            f"{sorted(missing)[:5]}",
        )
        result.require(mismatched == 0, f"{name}: {mismatched} duplicates with another webhook-id")
        if exactly_once:
            result.require(extra == 0, f"{name}: {extra} duplicate deliveries with no fault")
    invalid = rig.receiver.invalid()
    result.require(invalid == 0, f"{invalid} deliveries failed signature verification")


def judge_writes(result: Result, rig: Rig, maker: EventMaker) -> None:
    events = len(rig.event_ids())
    result.require(
        events == maker.succeeded,
        f"{events} events stored for {maker.succeeded} successful writes",
    )
    result.require(
        maker.tally.fivexx() == 0, f"writes answered 5xx: {maker.tally.server_errors[:3]}"
    )
    result.require(not maker.tally.hangs, f"writes hung: {maker.tally.hangs[:3]}")


def duplicates_text(rig: Rig, names: list[str]) -> str:
    parts = []
    for name in names:
        extra, mismatched = rig.receiver.duplicates(name)
        parts.append(f"{name} {extra} ({mismatched} with another webhook-id)")
    return ", ".join(parts)


# --- 11: volume ----------------------------------------------------------------------------


def scenario_webhook_volume(ctx: Context) -> Result:
    plan = ctx.plan
    result = Result("11", TITLES["11"])
    rig = Rig(ctx, "11")
    names = ["a", "b", "c"]
    try:
        rig.set_up("faults-webhooks-volume", "FWHV")
        rig.healthy_endpoints(names)
        rig.start_celery(workers=2)
        assert rig.brand is not None
        maker = EventMaker(rig.brand, "wh11", plan.webhook_events, plan.webhook_writers)
        started = time.monotonic()
        started_wall = time.time()
        maker.run(started + plan.webhook_write_seconds)
        wrote = time.monotonic() - started
        waited = rig.wait_delivered(names, plan.webhook_drain_seconds)
        feed, bad = rig.feed()
        expected = rig.event_ids()
        judge_writes(result, rig, maker)
        result.require(
            maker.succeeded >= plan.webhook_events * 0.99,
            f"only {maker.succeeded} of {plan.webhook_events} events made in time",
        )
        judge_delivery(result, rig, names, exactly_once=False)
        result.require(not bad, f"feed answers: {bad[:3]}")
        result.require(
            len(feed) == len(set(feed)), f"{len(feed) - len(set(feed))} events twice in the feed"
        )
        result.require(feed == expected, "the feed differs from the events in position order")
        receipts = rig.receiver.snapshot()
        lag = lags(receipts, rig.created_at())
        firsts = len(lag)
        last = max((r.received for r in receipts), default=started_wall)
        result.figures = {
            "events made through the API (provisions, suspends, resumes)": (
                f"{maker.succeeded} in {wrote:.1f} s "
                f"({maker.succeeded / max(wrote, 0.001):.0f}/s), {plan.webhook_writers} threads"
            ),
            "endpoints / workers": "3 / 2 prefork workers of 4 processes, 1 beat",
            "(endpoint, event) pairs delivered / expected": f"{firsts} / {len(expected) * 3}",
            "deliveries/s (first receipts, from the first write to the last receipt)": (
                f"{firsts / max(last - started_wall, 0.001):.0f}"
            ),
            "all delivered": f"{waited:.1f} s after the last write",
            "lag from the event's created_at to first receipt p50 / p99 / max (s)": lag_text(lag),
            "duplicate receipts (all with the same webhook-id)": duplicates_text(rig, names),
            "signatures failing verification": rig.receiver.invalid(),
            "feed": f"{len(feed)} events, {len(feed) - len(set(feed))} twice, "
            f"{'in' if feed == expected else 'NOT in'} position order",
            "write answers": maker.tally.codes(),
        }
    finally:
        rig.clean_up()
    result.passed = not result.problems
    return result


# --- 12: the broker killed -----------------------------------------------------------------


def scenario_webhook_broker_killed(ctx: Context) -> Result:
    plan = ctx.plan
    result = Result("12", TITLES["12"])
    rig = Rig(ctx, "12")
    names = ["a", "b", "c"]
    redis = ctx.stack.redis
    try:
        rig.set_up("faults-webhooks-broker", "FWHB", OUTAGE_ENV)
        rig.healthy_endpoints(names)
        rig.start_celery(workers=2)
        assert rig.brand is not None
        maker = EventMaker(rig.brand, "wh12", plan.webhook_outage_events, 4)
        checker = Checker(ctx.server.base_url, maker)
        checks = checker.tally
        total = plan.webhook_outage_before + plan.webhook_outage_down + plan.webhook_outage_after
        writing = threading.Thread(target=maker.run, args=(time.monotonic() + total,), daemon=True)
        writing.start()
        checker.start()
        time.sleep(plan.webhook_outage_before)
        down_at = time.monotonic()
        redis.kill()
        checks_before_down = checks.count
        time.sleep(plan.webhook_outage_down)
        checks_during = checks.count - checks_before_down
        up_at = time.monotonic()
        redis.start()
        writing.join(timeout=total + 30)
        maker.stop.set()
        checker.finish()
        waited = rig.wait_delivered(names, plan.webhook_drain_seconds)
        during = maker.successes_between(down_at, up_at)
        judge_writes(result, rig, maker)
        result.require(during > 0, "no write succeeded while Redis was down")
        result.require(checks_during > 0, "no check answered while Redis was down")
        result.require(checks.fivexx() == 0, f"checks answered 5xx: {checks.server_errors[:3]}")
        result.require(not checks.hangs, f"checks hung: {checks.hangs[:3]}")
        judge_delivery(result, rig, names, exactly_once=False)
        alive = [p.name for p in rig.processes if not p.running()]
        result.require(not alive, f"Celery processes that died with the broker: {alive}")
        result.figures = {
            "phases (s)": f"{plan.webhook_outage_before:g} up, {plan.webhook_outage_down:g} "
            f"Redis killed, {plan.webhook_outage_after:g} after (writes throughout)",
            "events made / while Redis was down": f"{maker.succeeded} / {during}",
            "checks answered while Redis was down": f"{checks_during} ({checks.codes()})",
            "all delivered": f"{waited:.1f} s after the last write",
            "lag p50 / p99 / max (s)": lag_text(lags(rig.receiver.snapshot(), rig.created_at())),
            "duplicate receipts": duplicates_text(rig, names),
            "signatures failing verification": rig.receiver.invalid(),
            "Celery processes alive after the outage": (
                f"{sum(p.running() for p in rig.processes)} of {len(rig.processes)}"
            ),
            "write answers": maker.tally.codes(),
            "WEBHOOK_REQUEUE_AFTER": f"{OUTAGE_ENV['WEBHOOK_REQUEUE_AFTER']} s (production 300 s)",
        }
    finally:
        if not redis.ping():
            redis.start()
        rig.clean_up()
    result.passed = not result.problems
    return result


# --- 13: an endpoint down ------------------------------------------------------------------


def scenario_webhook_endpoint_down(ctx: Context) -> Result:
    from django.utils import timezone

    from webhooks.models import WebhookDelivery

    plan = ctx.plan
    result = Result("13", TITLES["13"])
    rig = Rig(ctx, "13")
    healthy = ["a", "b"]
    try:
        rig.set_up("faults-webhooks-down", "FWHD")
        rig.healthy_endpoints(healthy)
        rig.receiver.hook("failing", mode="failing")
        rig.endpoint("failing")
        # Nothing listens there: connection refused.
        rig.endpoint("refused", url=f"http://127.0.0.1:{free_port(59000)}/hook/refused")
        rig.start_celery(workers=2)
        assert rig.brand is not None
        maker = EventMaker(rig.brand, "wh13", plan.webhook_down_events, 4)
        maker.run(time.monotonic() + plan.webhook_write_seconds)
        waited = rig.wait_delivered(healthy, plan.webhook_drain_seconds)
        expected = set(rig.event_ids())
        down_ids = [rig.endpoints["failing"], rig.endpoints["refused"]]

        def all_tried() -> bool:
            rows = WebhookDelivery.objects.filter(endpoint_id__in=down_ids)
            return rows.count() == 2 * len(expected) and not rows.filter(attempts=0).exists()

        wait_until(all_tried, timeout=plan.webhook_drain_seconds, interval=0.5)
        now = timezone.now()
        judge_writes(result, rig, maker)
        judge_delivery(result, rig, healthy, exactly_once=True)
        figures: dict[str, Any] = {}
        for name in ("failing", "refused"):
            figures.update(judge_down_endpoint(result, rig, name, expected, now))
        failing_hits = rig.receiver.by_endpoint("failing")
        result.require(
            all(r.valid for r in failing_hits), "the failing endpoint got unverifiable deliveries"
        )
        result.passed = not result.problems
        result.figures = {
            "events": f"{maker.succeeded} (writes: {maker.tally.codes()})",
            "healthy endpoints all delivered": f"{waited:.1f} s after the last write",
            "healthy duplicates (must be 0)": duplicates_text(rig, healthy),
            "failing (500) endpoint: attempts received, all signed": len(failing_hits),
            **figures,
            "lag to the healthy endpoints p50 / p99 / max (s)": lag_text(
                lags(
                    [r for r in rig.receiver.snapshot() if r.endpoint in healthy], rig.created_at()
                )
            ),
        }
    finally:
        rig.clean_up()
    result.passed = not result.problems
    return result


def judge_down_endpoint(
    result: Result, rig: Rig, name: str, expected: set[int], now: Any
) -> dict[str, str]:
    """A down endpoint: a pending row for every event, attempted, a retry scheduled after
    its last attempt. Returns its figures."""
    from webhooks.models import WebhookDelivery

    rows = list(
        WebhookDelivery.objects.filter(endpoint_id=rig.endpoints[name]).values(
            "event_id", "status", "attempts", "next_attempt_at", "last_attempt_at"
        )
    )
    missing = expected - {r["event_id"] for r in rows}
    not_pending = [r for r in rows if r["status"] != "pending"]
    untried = [r for r in rows if r["attempts"] < 1]
    unscheduled = [
        r
        for r in rows
        if r["next_attempt_at"] is None
        or r["last_attempt_at"] is None
        or r["next_attempt_at"] <= r["last_attempt_at"]
    ]
    result.require(not missing, f"{name}: {len(missing)} events without a delivery row")
    result.require(
        len(rows) == len(expected), f"{name}: {len(rows)} rows for {len(expected)} events"
    )
    result.require(not not_pending, f"{name}: {len(not_pending)} rows not pending")
    result.require(not untried, f"{name}: {len(untried)} rows never attempted")
    result.require(
        not unscheduled, f"{name}: {len(unscheduled)} rows with no retry after their last attempt"
    )
    attempts = Counter(r["attempts"] for r in rows)
    future = sum(1 for r in rows if r["next_attempt_at"] and r["next_attempt_at"] > now)
    waits = [
        (r["next_attempt_at"] - r["last_attempt_at"]).total_seconds()
        for r in rows
        if r["next_attempt_at"] and r["last_attempt_at"]
    ]
    median = statistics.median(waits) if waits else 0.0
    return {
        f"{name}: rows / pending / rows by attempts made": (
            f"{len(rows)} / {len(rows) - len(not_pending)} / "
            + ", ".join(f"{a}: {n}" for a, n in sorted(attempts.items()))
        ),
        f"{name}: next attempt still ahead at the end / median wait after the last (s)": (
            f"{future} of {len(rows)} / {median:.1f}"
        ),
    }


# --- 14: a worker killed mid-delivery ------------------------------------------------------


def scenario_webhook_worker_killed(ctx: Context) -> Result:
    from webhooks.models import WebhookDelivery

    plan = ctx.plan
    result = Result("14", TITLES["14"])
    rig = Rig(ctx, "14")
    try:
        rig.set_up("faults-webhooks-kill", "FWHK", KILL_ENV)
        # The receiver holds the first request of each event open far longer than the run:
        # the worker sending it is killed while it waits.
        hold = rig.receiver.hook("slow", mode="hold", hold_seconds=120)
        rig.endpoint("slow")
        rig.receiver.hook("ok")
        rig.endpoint("ok")
        rig.start_celery(workers=1)
        [worker] = rig.workers()
        assert rig.brand is not None
        maker = EventMaker(rig.brand, "wh14", plan.webhook_kill_events, 2)
        maker.run(time.monotonic() + plan.webhook_write_seconds)
        held = hold.holding.wait(timeout=30)
        result.require(held, "the worker never reached the slow endpoint")
        time.sleep(0.5)  # let its other threads take held requests too
        in_flight = len(rig.receiver.by_endpoint("slow"))
        claimed = WebhookDelivery.objects.filter(
            endpoint_id=rig.endpoints["slow"], claimed_until__isnull=False, status="pending"
        ).count()
        killed_at = time.time()
        worker.kill()
        hold.mode = "ok"  # the requests cut off are answered when sent again
        restarted = time.monotonic()
        worker.start()
        rows = WebhookDelivery.objects.filter(endpoint__in=list(rig.endpoints.values()))
        # A held request was received, never answered: done is every row succeeded.
        wait_until(
            lambda: not rows.exclude(status="succeeded").exists(),
            timeout=plan.webhook_drain_seconds,
            interval=0.25,
        )
        recovered = time.monotonic() - restarted
        judge_writes(result, rig, maker)
        judge_delivery(result, rig, ["slow", "ok"], exactly_once=False)
        slow = rig.receiver.by_endpoint("slow")
        cut = {r.webhook_id for r in slow if r.received < killed_at}
        again = {r.webhook_id for r in slow if r.received >= killed_at and r.webhook_id in cut}
        result.require(bool(cut), "no delivery was in flight when the worker was killed")
        result.require(
            cut <= again,
            f"{len(cut - again)} deliveries cut off by the kill never sent again after the restart",
        )
        statuses = Counter(rows.values_list("status", flat=True))
        result.require(
            statuses.get("succeeded", 0) == rows.count(),
            f"delivery rows not all succeeded: {dict(statuses)}",
        )
        result.figures = {
            "events": maker.succeeded,
            "requests held open when the worker was SIGKILLed / rows claimed": (
                f"{in_flight} / {claimed}"
            ),
            "cut off, then delivered again after the restart (same webhook-id)": (
                f"{len(again)} of {len(cut)}"
            ),
            "every delivery row succeeded": f"{recovered:.1f} s after the restart",
            "duplicate receipts": duplicates_text(rig, ["slow", "ok"]),
            "delivery rows by status": dict(statuses),
            "claim lease of a killed worker (WEBHOOK_TIMEOUT * 2 + WEBHOOK_LEASE_MARGIN)": (
                f"{int(KILL_ENV['WEBHOOK_TIMEOUT']) * 2 + int(KILL_ENV['WEBHOOK_LEASE_MARGIN'])} s "
                "(production 60 s)"
            ),
        }
    finally:
        rig.clean_up()
    result.passed = not result.problems
    return result
