"""Scenario 10: heartbeats of live instances against the reclaim sweep (SPEC §10).

A server of its own (``HEARTBEAT_MIN_SECONDS=1``) and a product with a short
``heartbeat_seconds`` (``hb_seconds``). Each license holds 10 live instances and 2 that stop
after activating ("quitters"), 12 seats: 200 live instances in all. The live ones heartbeat
every ``heartbeat_seconds / 2``, as README tells clients to (``POST
/api/v1/product/heartbeat``, or a check with ``instance_identifier`` where the endpoint is
not routed), while ``hb_reclaimers`` loops run ``manage.py reclaim_activations`` against the
same database, as cron on several hosts would.

Judged: no live instance is ever reclaimed (no ``activation.reclaimed`` audit row names one,
none has ``reclaimed_at``, every heartbeat answers ``instance_active: true``); every quitter
is reclaimed, exactly once, never before ``heartbeat_seconds`` have passed since it was last
seen; every command run exits 0; no 5xx, no hang. The loops stop before the heartbeats do
(a live instance that stops heartbeating is a quitter too). The commands' output is kept in
``reclaim/server.log``, searched for license keys like the servers' output.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from bench.faults.context import Context
from bench.faults.http import Answer, Api, Tally, latency_text
from bench.faults.keys import KEYS_USED
from bench.faults.result import Result
from bench.faults.seeding import Lic, provision_direct, seed_tenant, server_env
from bench.services import REPO_ROOT

PRODUCT = "beat"
LIVE_PER_LICENSE = 10
QUITTERS_PER_LICENSE = 2
HEARTBEAT_PATH = "/api/v1/product/heartbeat"
# The share of live instances the harness may fail to keep on pace (a busy machine) before
# the run counts as proving nothing.
LATE_SHARE = 0.05
CLIENTS = 32


@dataclass
class Instance:
    lic: Lic
    identifier: str
    live: bool
    activation_id: int = 0
    last_ok: float = 0.0
    max_gap: float = 0.0


@dataclass
class ReclaimLoop:
    """Runs ``manage.py reclaim_activations`` again and again until told to stop."""

    env: dict[str, str]
    log: Path
    runs: int = 0
    failures: list[str] = field(default_factory=list)
    durations: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.ident is not None:
            self._thread.join(timeout=120)

    def _run(self) -> None:
        command = [sys.executable, "manage.py", "reclaim_activations"]
        while not self._stop.is_set():
            started = time.monotonic()
            with self.log.open("ab") as out:
                try:
                    done = subprocess.run(
                        command,
                        cwd=REPO_ROOT,
                        env=self.env,
                        stdin=subprocess.DEVNULL,
                        stdout=out,
                        stderr=subprocess.STDOUT,
                        timeout=60,
                        check=False,
                    )
                    code: int | str = done.returncode
                except subprocess.TimeoutExpired:
                    code = "timeout"
            self.durations.append(time.monotonic() - started)
            self.runs += 1
            if code != 0:
                self.failures.append(f"exit {code}")


def heartbeat_endpoint_routed(path: str = HEARTBEAT_PATH) -> bool:
    from django.urls import Resolver404, resolve

    try:
        match = resolve(path)
    except Resolver404:
        return False
    return match.url_name != "not-found"  # the catch-all that answers 404 JSON


class Heartbeats:
    """Every live instance heartbeats once per ``period``, rounds started on a fixed clock."""

    def __init__(self, api: Api, instances: list[Instance], period: float, endpoint: bool):
        self.api, self.instances, self.period, self.endpoint = api, instances, period, endpoint
        self.tally = Tally(keep_answers=False)
        self.refused: list[str] = []
        self.rounds = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._lock = threading.Lock()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.ident is not None:
            self._thread.join(timeout=60)

    def one(self, instance: Instance) -> None:
        key, slug = instance.lic.key, instance.lic.product
        KEYS_USED.note(key)
        if self.endpoint:
            body = {
                "license_key": key,
                "product_slug": slug,
                "instance_identifier": instance.identifier,
            }
            answer = self.tally.add(self.api.request("POST", HEARTBEAT_PATH, json=body), "beat")
            active = _heartbeat_active(answer)
        else:
            answer = self.tally.add(
                self.api.check(key, product=slug, instance=instance.identifier, post=True), "beat"
            )
            active = _check_active(answer)
        now = time.monotonic()
        with self._lock:
            if not active:
                self.refused.append(f"{instance.identifier}: {answer.brief()}")
                return
            if instance.last_ok:
                instance.max_gap = max(instance.max_gap, now - instance.last_ok)
            instance.last_ok = now

    def _run(self) -> None:
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
            while not self._stop.is_set():
                list(pool.map(self.one, self.instances))
                self.rounds += 1
                next_round = started + self.rounds * self.period
                self._stop.wait(max(0.0, next_round - time.monotonic()))


def _heartbeat_active(answer: Answer) -> bool:
    return (
        answer.status == 200
        and isinstance(answer.body, dict)
        and answer.body.get("instance_active") is True
    )


def _check_active(answer: Answer) -> bool:
    if answer.status != 200 or not isinstance(answer.body, dict):
        return False
    entitlements = answer.body.get("entitlements") or []
    return bool(entitlements) and entitlements[0].get("instance_active") is True


def scenario_heartbeat_reclaim(ctx: Context) -> Result:
    plan = ctx.plan
    from brands.models import Product

    tenant = seed_tenant("faults-heartbeat", "FLHB", {PRODUCT: None})
    # Seeded directly, as the suite seeds everything: the services refuse a heartbeat under
    # this process's HEARTBEAT_MIN_SECONDS (60); the server under test has it at 1.
    Product.objects.filter(brand_id=tenant.brand_id, slug=PRODUCT).update(
        heartbeat_seconds=plan.hb_seconds
    )
    per_license = LIVE_PER_LICENSE + QUITTERS_PER_LICENSE
    instances: list[Instance] = []
    for n in range(plan.hb_instances // LIVE_PER_LICENSE):
        lic = provision_direct(tenant, f"heartbeat-{n}@example.com", PRODUCT, max_seats=per_license)
        instances += [
            Instance(lic, f"live-{n}-{i}.example.com", True) for i in range(LIVE_PER_LICENSE)
        ]
        instances += [
            Instance(lic, f"quit-{n}-{i}.example.com", False) for i in range(QUITTERS_PER_LICENSE)
        ]
    env = server_env(ctx.stack, HEARTBEAT_MIN_SECONDS="1")
    server = ctx.stack.gunicorn(env, name="gunicorn-10")
    api = Api(server.base_url)
    # Beside the servers' logs: searched for license keys as theirs are (OutputWatch).
    log = ctx.stack.base / "reclaim" / "server.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    loops = [ReclaimLoop({**os.environ, **env}, log) for _ in range(plan.hb_reclaimers)]
    try:
        return HeartbeatRun(ctx, api, instances, loops).run()
    finally:
        api.close()
        ctx.stack.stop_server(server)


class HeartbeatRun:
    def __init__(
        self, ctx: Context, api: Api, instances: list[Instance], loops: list[ReclaimLoop]
    ) -> None:
        self.plan, self.api, self.instances, self.loops = ctx.plan, api, instances, loops
        self.result = Result("10", "Heartbeats against the reclaim sweep")
        self.activations = Tally()

    def activate_all(self) -> bool:
        def activate(instance: Instance) -> None:
            answer = self.activations.add(
                self.api.activate(instance.lic.key, PRODUCT, instance.identifier), "activate"
            )
            if answer.status == 200 and isinstance(answer.body, dict):
                instance.activation_id = int(answer.body.get("activation_id") or 0)

        with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
            list(pool.map(activate, self.instances))
        missing = [i.identifier for i in self.instances if not i.activation_id]
        self.result.require(
            not missing, f"{len(missing)} activations failed: {self.activations.codes()}"
        )
        return not missing

    def run(self) -> Result:
        if not self.activate_all():
            self.result.passed = False
            return self.result
        live = [i for i in self.instances if i.live]
        endpoint = heartbeat_endpoint_routed()
        beats = Heartbeats(self.api, live, self.plan.hb_seconds / 2, endpoint)
        started = time.monotonic()
        try:
            beats.start()
            for loop in self.loops:
                loop.start()
            time.sleep(self.plan.hb_run_seconds)
        finally:
            # The sweeps stop first: once the heartbeats stop, every instance dies for real.
            for loop in self.loops:
                loop.stop()
            beats.stop()
        return self.judge(beats, endpoint, time.monotonic() - started)

    def judge(self, beats: Heartbeats, endpoint: bool, seconds: float) -> Result:
        from activations.models import Activation
        from audit.models import AuditEvent

        result, plan = self.result, self.plan
        hb = plan.hb_seconds
        # Coalesced writes lag a heartbeat by up to max(1, hb // 4) s: a live instance whose
        # client (this harness, on a busy machine) let a longer gap pass may really have
        # looked dead, and proves nothing either way. Such instances are left out of the
        # judgement, counted, and may be at most LATE_SHARE of the live ones.
        allowed = hb - max(1, hb // 4)
        late = {i.activation_id for i in self.instances if i.live and i.max_gap >= allowed}
        live_ids = {i.activation_id for i in self.instances if i.live} - late
        quit_ids = {i.activation_id for i in self.instances if not i.live}
        reclaims = Counter(
            int(target)
            for target in AuditEvent.objects.filter(
                action="activation.reclaimed",
                target_id__in=[str(pk) for pk in live_ids | quit_ids],
            ).values_list("target_id", flat=True)
        )
        live_reclaimed = sum(reclaims[pk] for pk in live_ids)
        rows = {
            row["id"]: row
            for row in Activation.objects.filter(pk__in=live_ids | quit_ids).values(
                "id", "last_seen_at", "reclaimed_at"
            )
        }
        live_marked = [pk for pk in live_ids if rows[pk]["reclaimed_at"] is not None]
        quit_missed = [pk for pk in quit_ids if rows[pk]["reclaimed_at"] is None]
        quit_twice = [pk for pk in quit_ids if reclaims[pk] > 1]
        early, lags = [], []
        for pk in quit_ids:
            row = rows[pk]
            if row["reclaimed_at"] is None:
                continue
            dead_for = row["reclaimed_at"] - row["last_seen_at"]
            if dead_for < timedelta(seconds=hb):
                early.append(f"{pk}: reclaimed {dead_for.total_seconds():.2f}s after last seen")
            lags.append((dead_for - timedelta(seconds=hb)).total_seconds())

        result.require(
            live_reclaimed == 0, f"{live_reclaimed} activation.reclaimed rows name live instances"
        )
        result.require(not live_marked, f"{len(live_marked)} live instances have reclaimed_at")
        result.require(not beats.refused, f"heartbeats refused: {beats.refused[:3]}")
        result.require(
            not quit_missed, f"{len(quit_missed)} of {len(quit_ids)} quitters never reclaimed"
        )
        result.require(not quit_twice, f"{len(quit_twice)} quitters reclaimed more than once")
        result.require(not early, f"reclaimed before heartbeat_seconds: {early[:3]}")
        runs = sum(loop.runs for loop in self.loops)
        failures = [f for loop in self.loops for f in loop.failures]
        result.require(runs > 0, "reclaim_activations never ran")
        result.require(not failures, f"reclaim_activations failed: {failures[:3]}")
        gap = max((i.max_gap for i in self.instances if i.live), default=0.0)
        result.require(
            len(late) <= LATE_SHARE * (len(live_ids) + len(late)),
            f"{len(late)} live instances went {allowed}s or more between heartbeats (longest "
            f"{gap:.2f}s): the harness could not keep its pace",
        )
        tally = beats.tally
        result.require(tally.fivexx() == 0, f"5xx: {tally.server_errors[:3]}")
        result.require(not tally.hangs, f"hangs: {tally.hangs[:3]}")
        result.require(not tally.not_json, f"non-JSON answers: {tally.not_json[:3]}")
        durations = [d for loop in self.loops for d in loop.durations]
        result.figures = {
            "licenses, instances": (
                f"{len(self.instances) // (LIVE_PER_LICENSE + QUITTERS_PER_LICENSE)} licenses "
                f"of {LIVE_PER_LICENSE + QUITTERS_PER_LICENSE} seats: {len(live_ids)} live, "
                f"{len(quit_ids)} quitters"
            ),
            "heartbeat_seconds, heartbeat every": f"{hb} s, {hb / 2:g} s",
            "heartbeat through": HEARTBEAT_PATH if endpoint else "check with instance_identifier",
            "run": f"{seconds:.1f} s, {beats.rounds} heartbeat rounds, {tally.count} heartbeats",
            "longest gap between a live instance's answered heartbeats (s)": f"{gap:.2f}",
            "live instances left out (the harness let a gap reach hb - interval)": (f"{len(late)}"),
            "reclaim_activations loops, runs, run time p50 / max (s)": (
                f"{len(self.loops)}, {runs}, "
                + (
                    f"{sorted(durations)[len(durations) // 2]:.2f} / {max(durations):.2f}"
                    if durations
                    else "-"
                )
            ),
            "activation.reclaimed rows: live instances / quitters": (
                f"{live_reclaimed} / {sum(reclaims[pk] for pk in quit_ids)}"
            ),
            "quitters reclaimed after death, max lag (s)": (
                f"{len(quit_ids) - len(quit_missed)} of {len(quit_ids)}, {max(lags):.2f}"
                if lags
                else "-"
            ),
            "heartbeat answers": tally.codes(),
            "heartbeat latency p50 / p99 / max (ms)": latency_text(tally),
        }
        result.passed = not result.problems
        return result
