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
from bench.faults.keys import (
    key_forms,
)
from bench.faults.load import StaticReader, Timeline
from bench.faults.plan import (
    REQUEST_TIMEOUT,
)
from bench.faults.result import Result
from bench.faults.seeding import (
    Lic,
    db_reconnect,
    provision_direct,
    seed_tenant,
)
from bench.faults.truth import (
    db_invariants,
    sweep,
)


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
    from activations.models import Activation
    from licensing.models import License

    result = Result("4", "PostgreSQL restarts under load")
    plan = ctx.plan
    pg = ctx.stack.postgres
    tenant = seed_tenant("faults-postgres", "FLTP", {"pro": 5, "unl": None})
    brand = Api(ctx.server.base_url, tenant.api_key, connections=8)
    product = Api(ctx.server.base_url, connections=8)
    reader = Api(ctx.server.base_url, connections=8)
    statics = [provision_direct(tenant, f"pg-static-{i}@example.com", "pro") for i in range(20)]
    unlimited = [provision_direct(tenant, f"pg-unl-{i}@example.com", "unl") for i in range(2)]
    # Never checked, so never cached: its checks reach the database, and answer 503 while it
    # is down, which the server logs with the request (its URL, the key in it).
    cold = provision_direct(tenant, "pg-cold@example.com", "pro")
    reader_tally, write_tally = Tally(), Tally()
    log = WriteLog()
    stop = threading.Event()
    timeline = Timeline()
    readers = [StaticReader(reader, statics, reader_tally, stop) for _ in range(3)]
    counter = iter(range(10**9))
    counter_lock = threading.Lock()

    def next_n() -> int:
        with counter_lock:
            return next(counter)

    def provisioner() -> None:
        while not stop.is_set():
            n = next_n()
            body = {"customer_email": f"pg-new-{n}@example.com", "product_slug": "pro"}
            idem = uuid.uuid4().hex
            answer = write_tally.add(brand.provision(body, idem), "provision")
            with log.lock:
                log.provisions.append((idem, body, answer))
            if not answer.ok:
                time.sleep(0.05)

    def activator(lic: Lic) -> None:
        while not stop.is_set():
            instance = f"pg-{lic.license_id}-{next_n()}"
            answer = write_tally.add(product.activate(lic.key, "unl", instance), "activate")
            with log.lock:
                log.activations.append((lic, instance, answer))
            if not answer.ok:
                time.sleep(0.05)

    for lic in statics:  # cache every static key: these must answer while the database is down
        reader_tally.add(reader.check(lic.key), "warm")
    pool = ThreadPoolExecutor(max_workers=4)
    retried: list[Answer] = []
    forms_sent: Counter[str] = Counter()
    try:
        timeline.mark("start")
        for r in readers:
            r.start()
        futures = [pool.submit(provisioner), pool.submit(provisioner)]
        futures += [pool.submit(activator, lic) for lic in unlimited]
        time.sleep(plan.pg_before)
        timeline.mark("down")
        pg.stop("immediate")
        forms_sent = send_key_forms(reader, ctx.server.port, cold.key)
        time.sleep(max(0.0, plan.pg_down - (time.monotonic() - timeline.marks["down"])))
        timeline.mark("restart")
        pg.start()
        timeline.mark("up")
        time.sleep(plan.pg_after)
        timeline.mark("end")
        stop.set()
        for f in futures:
            f.result(timeout=REQUEST_TIMEOUT * 3)
        for r in readers:
            r.join(timeout=REQUEST_TIMEOUT + 5)
        db_reconnect()
        # A provision answered 503 may still have committed (the answer was lost, not the
        # write): count those, then retry every failed one as a client would, with the
        # same Idempotency-Key. Either way each customer must end up with one license.
        failed_emails = [b["customer_email"] for _, b, a in log.provisions if not a.ok]
        ambiguous = License.objects.filter(license_key__customer_email__in=failed_emails).count()
        for idem, body, answer in log.provisions:
            if not answer.ok:
                retried.append(write_tally.add(brand.provision(body, idem), "retry"))
        leftovers = sweep(reader, [lic.key for lic in [*statics, *unlimited]])
        invariants = db_invariants(tenant.brand_id)
    finally:
        stop.set()
        pool.shutdown(wait=True, cancel_futures=True)
        if not pg.running():
            pg.start()
        for api in (brand, product, reader):
            api.close()

    down, up = timeline.marks["down"], timeline.marks["up"]
    writes = [a for _, _, a in log.provisions] + [a for _, _, a in log.activations]
    # Answers to requests sent while the server was down (after the in-flight ones).
    down_writes = [a for a in writes if down + 0.2 <= a.started < timeline.marks["restart"]]
    down_ok = sum(a.ok for a in down_writes)
    down_503 = [a for a in down_writes if a.status == 503 and a.error == "service_unavailable"]
    down_bad = [a for a in down_writes if not a.ok and a not in down_503]
    retry_after = sum("retry-after" in a.headers for a in down_503)
    first_ok_after = min(
        (a.started + a.elapsed for a in writes if a.ok and a.started >= up), default=None
    )
    recovery = (first_ok_after - up) if first_ok_after else None
    last_fail_after = max(
        (a.started + a.elapsed for a in writes if not a.ok and a.started >= up), default=None
    )
    all_ok_after = (last_fail_after - up) if last_fail_after else 0.0
    reads_down = [
        (t, ok) for t, _, ok in reader_tally.events if down + 0.2 <= t < timeline.marks["restart"]
    ]
    wrong = [s for r in readers for s in r.wrong]
    # Nothing lost: each 201 is a stored license, each 200 activation a stored seat.
    ok_licenses = [a.body["license_id"] for _, _, a in log.provisions if a.status == 201]
    ok_licenses += [a.body["license_id"] for a in retried if a.status == 201]
    stored = set(License.objects.filter(pk__in=ok_licenses).values_list("pk", flat=True))
    lost_licenses = set(ok_licenses) - stored
    activation_ids = [a.body.get("activation_id") for _, _, a in log.activations if a.status == 200]
    stored_acts = set(Activation.objects.filter(pk__in=activation_ids).values_list("pk", flat=True))
    lost_acts = set(activation_ids) - stored_acts
    emails = [b["customer_email"] for _, b, _ in log.provisions]
    per_email = Counter(
        License.objects.filter(license_key__customer_email__in=emails).values_list(
            "license_key__customer_email", flat=True
        )
    )
    duplicates = [e for e, n in per_email.items() if n > 1]
    missing_after_retry = [e for e in emails if per_email[e] != 1]

    result.require(bool(down_writes), "no write was sent while PostgreSQL was down")
    result.require(
        not down_bad,
        f"{len(down_bad)} writes during the outage answered other than "
        f"503 service_unavailable: {[a.brief() for a in down_bad[:3]]}",
    )
    result.require(down_ok == 0, f"{down_ok} writes succeeded while PostgreSQL was down")
    result.require(retry_after == len(down_503), "a 503 without Retry-After")
    result.require(
        recovery is not None and recovery <= 5.0,
        f"writes did not succeed within 5 s of the restart ({recovery})",
    )
    result.require(
        all_ok_after <= 5.0, f"writes still failing {all_ok_after:.1f} s after the restart"
    )
    result.require(
        bool(reads_down) and all(ok for _, ok in reads_down),
        f"cached checks failed while PostgreSQL was down: "
        f"{sum(not ok for _, ok in reads_down)} of {len(reads_down)}",
    )
    result.require(not wrong, f"{len(wrong)} wrong check answers, e.g. {wrong[:3]}")
    for t in (reader_tally, write_tally):
        result.require(not t.server_errors, f"5xx other than 503: {t.server_errors[:3]}")
        result.require(not t.hangs, f"hangs: {t.hangs[:3]}")
        result.require(not t.not_json, f"non-JSON answers: {t.not_json[:3]}")
    result.require(
        not lost_licenses, f"licenses answered 201 but not stored: {sorted(lost_licenses)[:5]}"
    )
    result.require(
        not lost_acts, f"activations answered 200 but not stored: {sorted(lost_acts)[:5]}"
    )
    result.require(not duplicates, f"customers with two licenses after retries: {duplicates[:5]}")
    result.require(
        not missing_after_retry, f"{len(missing_after_retry)} provisions not stored after a retry"
    )
    result.require(
        all(a.status == 201 for a in retried),
        f"retries with the same Idempotency-Key: {Counter(a.status for a in retried)}",
    )
    result.require(not invariants, f"half-written state: {invariants[:5]}")
    result.require(not leftovers, f"final sweep: {leftovers[:5]}")
    forms_expected = {
        "check 503 service_unavailable": len(key_forms(cold.key)),
        "bad request line 400": 2,
    }
    result.require(
        forms_sent == forms_expected,
        f"an uncached key in its forms while down: {dict(forms_sent)}, expected {forms_expected}",
    )
    down_latency = max((a.elapsed for a in down_writes), default=0.0)
    result.figures = {
        "phases (s)": f"{plan.pg_before:g} up, {plan.pg_down:g} down (stop -m immediate), "
        f"{plan.pg_after:g} after",
        "writes sent while down: 503 service_unavailable / other / succeeded": (
            f"{len(down_503)} / {len(down_bad)} / {down_ok}"
        ),
        "slowest answer to a write while down (ms)": f"{down_latency * 1000:.0f}",
        "cached checks while down: answered 200 / total": (
            f"{sum(ok for _, ok in reads_down)} / {len(reads_down)}"
        ),
        "first successful write after the restart (s)": f"{recovery:.2f}" if recovery else "never",
        "last failed write after the restart (s)": f"{all_ok_after:.2f}",
        "provisions / activations sent": f"{len(log.provisions)} / {len(log.activations)}",
        "retried with the same Idempotency-Key: 201 / total": (
            f"{sum(a.status == 201 for a in retried)} / {len(retried)}"
        ),
        "failed provisions that had committed (ambiguous commit)": ambiguous,
        "lost / duplicated / half-written": (
            f"{len(lost_licenses) + len(lost_acts)} / {len(duplicates)} / {len(invariants)}"
        ),
        "answers": write_tally.codes() + "; reads: " + reader_tally.codes(),
        "an uncached key while down, in its forms by URL and in request lines gunicorn "
        "refuses": ", ".join(f"{kind}: {n}" for kind, n in sorted(forms_sent.items())),
    }
    result.passed = not result.problems
    return result
