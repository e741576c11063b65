"""Scenario 4: PostgreSQL stopped (immediate) and started again under load."""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from bench.faults.context import Context
from bench.faults.http import Answer, Api, Tally
from bench.faults.keys import key_forms
from bench.faults.load import StaticReader, Timeline
from bench.faults.plan import REQUEST_TIMEOUT
from bench.faults.result import Result
from bench.faults.seeding import Lic, db_reconnect, provision_direct, seed_tenant
from bench.faults.truth import db_invariants, sweep

RECOVERY_WITHIN = 5.0  # seconds after the restart by which writes must succeed again


def send_key_forms(api: Api, port: int, key: str) -> Counter[str]:
    """Check ``key`` in each of its forms by URL, and send gunicorn two request lines it
    refuses with the key in them (it logs those lines itself). Statuses by kind."""
    statuses: Counter[str] = Counter()
    for form in key_forms(key):
        answer = api.request("GET", f"/api/v1/product/check/{quote(form, safe='-%')}")
        statuses[f"check {answer.status} {answer.error or ''}".strip()] += 1
    bare = key.replace("-", "").lower()
    for line in (f"GET /api/v1/product/check/{bare}\r\n\r\n", f"GET /{bare} HTTP/9 x\r\n\r\n"):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=REQUEST_TIMEOUT) as sock:
                sock.sendall(line.encode())
                head = sock.recv(64)
            statuses[f"bad request line {head[9:12].decode(errors='replace')}"] += 1
        except OSError as exc:
            statuses[f"bad request line {type(exc).__name__}"] += 1
    return statuses


@dataclass
class WriteLog:
    lock: threading.Lock = field(default_factory=threading.Lock)
    provisions: list[tuple[str, dict[str, Any], Answer]] = field(default_factory=list)
    activations: list[tuple[Lic, str, Answer]] = field(default_factory=list)


def scenario_postgres_restart(ctx: Context) -> Result:
    run = PgRun(ctx)
    try:
        run.drive()
        run.after_restart()
    finally:
        run.clean_up()
    return run.judge()


@dataclass
class Outcome:
    """What the answers and the database say after the run."""

    down_writes: list[Answer]
    down_503: list[Answer]
    down_bad: list[Answer]
    down_ok: int
    recovery: float | None
    all_ok_after: float
    reads_down: list[tuple[float, bool]]
    lost_licenses: set[int]
    lost_acts: set[int]
    duplicates: list[str]
    missing_after_retry: list[str]


class PgRun:
    """Scenario 4's licenses, load, phases and judgement."""

    def __init__(self, ctx: Context) -> None:
        self.ctx, self.plan, self.pg = ctx, ctx.plan, ctx.stack.postgres
        self.tenant = tenant = seed_tenant("faults-postgres", "FLTP", {"pro": 5, "unl": None})
        url = ctx.server.base_url
        self.brand = Api(url, tenant.api_key)
        self.product = Api(url)
        self.reader = Api(url)
        self.statics = [
            provision_direct(tenant, f"pg-static-{i}@example.com", "pro") for i in range(20)
        ]
        self.unlimited = [
            provision_direct(tenant, f"pg-unl-{i}@example.com", "unl") for i in range(2)
        ]
        # Never checked, so never cached: its checks reach the database, and answer 503 while
        # it is down, which the server logs with the request (its URL, the key in it).
        self.cold = provision_direct(tenant, "pg-cold@example.com", "pro")
        self.reader_tally, self.write_tally = Tally(), Tally()
        self.log = WriteLog()
        self.stop = threading.Event()
        self.timeline = Timeline()
        self.readers = [
            StaticReader(self.reader, self.statics, self.reader_tally, self.stop) for _ in range(3)
        ]
        self.counter = iter(range(10**9))
        self.counter_lock = threading.Lock()
        self.pool = ThreadPoolExecutor(max_workers=4)
        self.retried: list[Answer] = []
        self.forms_sent: Counter[str] = Counter()
        self.ambiguous = 0
        self.leftovers: list[str] = []
        self.invariants: list[str] = []

    def next_n(self) -> int:
        with self.counter_lock:
            return next(self.counter)

    def provisioner(self) -> None:
        while not self.stop.is_set():
            n = self.next_n()
            body = {"customer_email": f"pg-new-{n}@example.com", "product_slug": "pro"}
            idem = uuid.uuid4().hex
            answer = self.write_tally.add(self.brand.provision(body, idem), "provision")
            with self.log.lock:
                self.log.provisions.append((idem, body, answer))
            if not answer.ok:
                time.sleep(0.05)

    def activator(self, lic: Lic) -> None:
        while not self.stop.is_set():
            instance = f"pg-{lic.license_id}-{self.next_n()}"
            answer = self.write_tally.add(
                self.product.activate(lic.key, "unl", instance), "activate"
            )
            with self.log.lock:
                self.log.activations.append((lic, instance, answer))
            if not answer.ok:
                time.sleep(0.05)

    def drive(self) -> None:
        plan, timeline = self.plan, self.timeline
        for lic in self.statics:  # cache every static key: these must answer while it is down
            self.reader_tally.add(self.reader.check(lic.key), "warm")
        timeline.mark("start")
        for r in self.readers:
            r.start()
        futures = [self.pool.submit(self.provisioner), self.pool.submit(self.provisioner)]
        futures += [self.pool.submit(self.activator, lic) for lic in self.unlimited]
        time.sleep(plan.pg_before)
        timeline.mark("down")
        self.pg.stop("immediate")
        self.forms_sent = send_key_forms(self.reader, self.ctx.server.port, self.cold.key)
        time.sleep(max(0.0, plan.pg_down - (time.monotonic() - timeline.marks["down"])))
        timeline.mark("restart")
        self.pg.start()
        timeline.mark("up")
        time.sleep(plan.pg_after)
        timeline.mark("end")
        self.stop.set()
        for f in futures:
            f.result(timeout=REQUEST_TIMEOUT * 3)
        for r in self.readers:
            r.join(timeout=REQUEST_TIMEOUT + 5)

    def after_restart(self) -> None:
        from licensing.models import License

        db_reconnect()
        # A provision answered 503 may still have committed (the answer was lost, not the
        # write): count those, then retry every failed one as a client would, with the
        # same Idempotency-Key. Either way each customer must end up with one license.
        failed_emails = [b["customer_email"] for _, b, a in self.log.provisions if not a.ok]
        self.ambiguous = License.objects.filter(
            license_key__customer_email__in=failed_emails
        ).count()
        for idem, body, answer in self.log.provisions:
            if not answer.ok:
                self.retried.append(self.write_tally.add(self.brand.provision(body, idem), "retry"))
        keys = [lic.key for lic in [*self.statics, *self.unlimited]]
        self.leftovers = sweep(self.reader, keys)
        self.invariants = db_invariants(self.tenant.brand_id)

    def clean_up(self) -> None:
        self.stop.set()
        self.pool.shutdown(wait=True, cancel_futures=True)
        if not self.pg.running():
            self.pg.start()
        for api in (self.brand, self.product, self.reader):
            api.close()

    # --- judgement -------------------------------------------------------------------------

    def outcome(self) -> Outcome:
        marks, log = self.timeline.marks, self.log
        down, up = marks["down"], marks["up"]
        writes = [a for _, _, a in log.provisions] + [a for _, _, a in log.activations]
        # Answers to requests sent while the server was down (after the in-flight ones).
        down_writes = [a for a in writes if down + 0.2 <= a.started < marks["restart"]]
        down_503 = [a for a in down_writes if a.status == 503 and a.error == "service_unavailable"]
        first_ok_after = min(
            (a.started + a.elapsed for a in writes if a.ok and a.started >= up), default=None
        )
        last_fail_after = max(
            (a.started + a.elapsed for a in writes if not a.ok and a.started >= up), default=None
        )
        reads_down = [
            (t, ok) for t, _, ok in self.reader_tally.events if down + 0.2 <= t < marks["restart"]
        ]
        return Outcome(
            down_writes=down_writes,
            down_503=down_503,
            down_bad=[a for a in down_writes if not a.ok and a not in down_503],
            down_ok=sum(a.ok for a in down_writes),
            recovery=(first_ok_after - up) if first_ok_after else None,
            all_ok_after=(last_fail_after - up) if last_fail_after else 0.0,
            reads_down=reads_down,
            **self.stored(),
        )

    def stored(self) -> dict[str, Any]:
        """Nothing lost: each 201 is a stored license, each 200 activation a stored seat."""
        from activations.models import Activation
        from licensing.models import License

        log = self.log
        ok_licenses = [a.body["license_id"] for _, _, a in log.provisions if a.status == 201]
        ok_licenses += [a.body["license_id"] for a in self.retried if a.status == 201]
        stored = set(License.objects.filter(pk__in=ok_licenses).values_list("pk", flat=True))
        activation_ids = [
            a.body.get("activation_id") for _, _, a in log.activations if a.status == 200
        ]
        stored_acts = set(
            Activation.objects.filter(pk__in=activation_ids).values_list("pk", flat=True)
        )
        emails = [b["customer_email"] for _, b, _ in log.provisions]
        per_email = Counter(
            License.objects.filter(license_key__customer_email__in=emails).values_list(
                "license_key__customer_email", flat=True
            )
        )
        return {
            "lost_licenses": set(ok_licenses) - stored,
            "lost_acts": set(activation_ids) - stored_acts,
            "duplicates": [e for e, n in per_email.items() if n > 1],
            "missing_after_retry": [e for e in emails if per_email[e] != 1],
        }

    def judge(self) -> Result:
        result = Result("4", "PostgreSQL restarts under load")
        o = self.outcome()
        self.judge_outage(result, o)
        self.judge_state(result, o)
        result.figures = self.figures(o)
        result.passed = not result.problems
        return result

    def judge_outage(self, result: Result, o: Outcome) -> None:
        result.require(bool(o.down_writes), "no write was sent while PostgreSQL was down")
        result.require(
            not o.down_bad,
            f"{len(o.down_bad)} writes during the outage answered other than "
            f"503 service_unavailable: {[a.brief() for a in o.down_bad[:3]]}",
        )
        result.require(o.down_ok == 0, f"{o.down_ok} writes succeeded while PostgreSQL was down")
        retry_after = sum("retry-after" in a.headers for a in o.down_503)
        result.require(retry_after == len(o.down_503), "a 503 without Retry-After")
        result.require(
            o.recovery is not None and o.recovery <= RECOVERY_WITHIN,
            f"writes did not succeed within {RECOVERY_WITHIN:g} s of the restart ({o.recovery})",
        )
        result.require(
            o.all_ok_after <= RECOVERY_WITHIN,
            f"writes still failing {o.all_ok_after:.1f} s after the restart",
        )
        result.require(
            bool(o.reads_down) and all(ok for _, ok in o.reads_down),
            f"cached checks failed while PostgreSQL was down: "
            f"{sum(not ok for _, ok in o.reads_down)} of {len(o.reads_down)}",
        )
        wrong = [s for r in self.readers for s in r.wrong]
        result.require(not wrong, f"{len(wrong)} wrong check answers, e.g. {wrong[:3]}")
        for t in (self.reader_tally, self.write_tally):
            result.require(not t.server_errors, f"5xx other than 503: {t.server_errors[:3]}")
            result.require(not t.hangs, f"hangs: {t.hangs[:3]}")
            result.require(not t.not_json, f"non-JSON answers: {t.not_json[:3]}")

    def judge_state(self, result: Result, o: Outcome) -> None:
        result.require(
            not o.lost_licenses,
            f"licenses answered 201 but not stored: {sorted(o.lost_licenses)[:5]}",
        )
        result.require(
            not o.lost_acts, f"activations answered 200 but not stored: {sorted(o.lost_acts)[:5]}"
        )
        result.require(
            not o.duplicates, f"customers with two licenses after retries: {o.duplicates[:5]}"
        )
        result.require(
            not o.missing_after_retry,
            f"{len(o.missing_after_retry)} provisions not stored after a retry",
        )
        result.require(
            all(a.status == 201 for a in self.retried),
            f"retries with the same Idempotency-Key: {Counter(a.status for a in self.retried)}",
        )
        result.require(not self.invariants, f"half-written state: {self.invariants[:5]}")
        result.require(not self.leftovers, f"final sweep: {self.leftovers[:5]}")
        forms_expected = {
            "check 503 service_unavailable": len(key_forms(self.cold.key)),
            "bad request line 400": 2,
        }
        result.require(
            self.forms_sent == forms_expected,
            f"an uncached key in its forms while down: {dict(self.forms_sent)}, "
            f"expected {forms_expected}",
        )

    def figures(self, o: Outcome) -> dict[str, Any]:
        plan, retried = self.plan, self.retried
        down_latency = max((a.elapsed for a in o.down_writes), default=0.0)
        lost = len(o.lost_licenses) + len(o.lost_acts)
        return {
            "phases (s)": f"{plan.pg_before:g} up, {plan.pg_down:g} down (stop -m immediate), "
            f"{plan.pg_after:g} after",
            "writes sent while down: 503 service_unavailable / other / succeeded": (
                f"{len(o.down_503)} / {len(o.down_bad)} / {o.down_ok}"
            ),
            "slowest answer to a write while down (ms)": f"{down_latency * 1000:.0f}",
            "cached checks while down: answered 200 / total": (
                f"{sum(ok for _, ok in o.reads_down)} / {len(o.reads_down)}"
            ),
            "first successful write after the restart (s)": (
                f"{o.recovery:.2f}" if o.recovery else "never"
            ),
            "last failed write after the restart (s)": f"{o.all_ok_after:.2f}",
            "provisions / activations sent": (
                f"{len(self.log.provisions)} / {len(self.log.activations)}"
            ),
            "retried with the same Idempotency-Key: 201 / total": (
                f"{sum(a.status == 201 for a in retried)} / {len(retried)}"
            ),
            "failed provisions that had committed (ambiguous commit)": self.ambiguous,
            "lost / duplicated / half-written": (
                f"{lost} / {len(o.duplicates)} / {len(self.invariants)}"
            ),
            "answers": self.write_tally.codes() + "; reads: " + self.reader_tally.codes(),
            "an uncached key while down, in its forms by URL and in request lines gunicorn "
            "refuses": ", ".join(f"{kind}: {n}" for kind, n in sorted(self.forms_sent.items())),
        }
