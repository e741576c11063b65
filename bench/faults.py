"""``make faults``: the fault and load suite. Nothing lost, nothing stale, nothing wrong.

Runs the real service under gunicorn (``gunicorn.conf.py``, production settings) against a
throwaway PostgreSQL cluster and Redis server of its own (bench/services.py), on loopback
only, and reports each scenario as pass/fail with its figures in bench/faults.md:

1. seat race        50 concurrent activations of distinct instances on 5 seats, per round
2. stale reads      a write, then at once a check from another connection, with readers
                    hammering the same keys in the background
3. redis killed     Redis SIGKILLed under load, then started again (empty)
3b. redis frozen    Redis SIGSTOPped (unreachable, data kept), then SIGCONTed
4. postgres restart PostgreSQL stopped (immediate) under load, then started again
5. idempotency      20 concurrent identical provisions with one Idempotency-Key
6. audit            mixed writes; audit events by action == successful writes by action
7. brute force      a concurrent burst of random keys from one client vs the unknown-key limit

After every scenario, the output of every server it ran is searched for every license key
the suite used, in any form (any case, dashes or none, percent-encoded): one found fails the
scenario (SPEC §7: logs never carry a full key).

``python -m bench.faults`` runs the full suite (a few minutes); ``--quick`` (or
``FAULTS_QUICK=1``) runs a few rounds of each (CI). ``--only 1,5`` picks scenarios,
``--skip 3b`` leaves some out;
``--keep`` leaves the temporary directory (server logs) behind. The throwaway servers try
ports 55432 (PostgreSQL), 56379 (Redis) and 58000 (gunicorn) first, or ``FAULTS_PG_PORT``,
``FAULTS_REDIS_PORT`` and ``FAULTS_HTTP_PORT`` (the next free port when one is busy).
The exit status is 1 when any scenario fails. Every request has a timeout; a request that
times out is a hang, and a hang fails its scenario.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import random
import re
import socket
import sys
import threading
import time
import traceback
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from bench.services import REPO_ROOT, Gunicorn, Stack

REPORT = REPO_ROOT / "bench" / "faults.md"
QUICK_REPORT = REPO_ROOT / "bench" / "tmp" / "faults-quick.md"
REQUEST_TIMEOUT = 10.0  # seconds; an answer slower than this is a hang
SECRET_KEY = "faults-" + "0123456789abcdef" * 3
HIGH_RATE = "1000000/m"
UNKNOWN_KEY_LIMIT = 50  # scenario 7: THROTTLE_UNKNOWN_KEY_IP = "50/h"


# --- configuration -------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """How much each scenario does. Every loop is bounded by a count and by time."""

    quick: bool
    seat_rounds: int = 20
    seat_concurrency: int = 50
    seats: int = 5
    stale_rounds: int = 2000
    stale_writers: int = 8
    stale_readers: int = 4
    outage_before: float = 6.0
    outage_down: float = 6.0
    outage_after: float = 10.0
    outage_writers: int = 4
    outage_readers: int = 4
    outage_probes: int = 20
    pg_before: float = 4.0
    pg_down: float = 5.0
    pg_after: float = 8.0
    idem_rounds: int = 10
    idem_concurrency: int = 20
    audit_ops: int = 1500
    audit_threads: int = 8
    brute_requests: int = 600
    brute_concurrency: int = 50
    scenario_time_limit: float = 150.0

    @classmethod
    def full(cls) -> Plan:
        return cls(quick=False)

    @classmethod
    def quick_plan(cls) -> Plan:
        return cls(
            quick=True,
            seat_rounds=3,
            stale_rounds=200,
            stale_writers=4,
            stale_readers=1,
            outage_before=3.0,
            outage_down=3.0,
            outage_after=7.0,
            outage_writers=3,
            outage_readers=2,
            outage_probes=8,
            pg_before=2.0,
            pg_down=3.0,
            pg_after=5.0,
            idem_rounds=2,
            audit_ops=200,
            audit_threads=4,
            brute_requests=200,
            scenario_time_limit=60.0,
        )


# --- license keys in the servers' output ---------------------------------------------------


class KeysUsed:
    """Every license key the suite sent or was given, canonical (thread-safe)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.keys: set[str] = set()

    def note(self, raw: object) -> None:
        from licensing.keys import canonical_license_key

        key = canonical_license_key(raw)
        if key is not None:  # a malformed key of scenario 7 is no key
            with self.lock:
                self.keys.add(key)

    def snapshot(self) -> set[str]:
        with self.lock:
            return set(self.keys)


KEYS_USED = KeysUsed()
_LOOKALIKES = str.maketrans({"O": "0", "I": "1", "L": "1"})
_NOT_A_SYMBOL = re.compile(r"[^0-9A-Z]+")
KEY_BODY = 30  # the symbols after a key's prefix: what no log line may show


def squeezed(text: str) -> str:
    """``text`` as a key reader sees it: percent-decoded, upper-cased, look-alikes mapped,
    everything but letters and digits dropped, so a key shows in any form it was written."""
    return _NOT_A_SYMBOL.sub("", unquote(text).upper()).translate(_LOOKALIKES)


def leaked_keys(text: str, keys: Iterable[str]) -> dict[str, int]:
    """The keys whose 30 symbols after the prefix appear in ``text`` in any form, with how
    many times (by display prefix, so the report itself shows no key)."""
    bodies = {key.replace("-", "")[-KEY_BODY:]: key for key in keys}
    found: Counter[str] = Counter()
    for line in text.splitlines():
        flat = squeezed(line)
        for start in range(len(flat) - KEY_BODY + 1):
            key = bodies.get(flat[start : start + KEY_BODY])
            if key is not None:
                found[key[:10] + "…"] += 1
    return dict(found)


class OutputWatch:
    """Reads what each server wrote since the last look (whole lines only)."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.offsets: dict[Path, int] = {}

    def new_text(self) -> str:
        parts = []
        for path in sorted(self.stack.base.glob("*/server.log")):
            if path == self.stack.postgres.log:  # PostgreSQL's own log is not the service's
                continue
            with path.open("rb") as handle:
                handle.seek(self.offsets.get(path, 0))
                data = handle.read()
            complete = data[: data.rfind(b"\n") + 1]
            self.offsets[path] = self.offsets.get(path, 0) + len(complete)
            parts.append(complete.decode(errors="replace"))
        return "".join(parts)


def judge_output(result: Result, watch: OutputWatch) -> None:
    """Fail the scenario if the servers' output of its run shows any key the suite used."""
    keys = KEYS_USED.snapshot()
    leaks = leaked_keys(watch.new_text(), keys)
    if leaks:
        shown = ", ".join(f"{prefix} ({n}x)" for prefix, n in sorted(leaks.items())[:5])
        result.fail(f"{len(leaks)} full license keys in the server output: {shown}")
        result.passed = False
    result.figures["license keys in the server output"] = (
        f"{len(leaks)} of the {len(keys)} keys used so far (any case, dashes, %-encoding)"
    )


def key_forms(key: str) -> list[str]:
    """A key as customers and scripts send it: the service accepts every one of these."""
    bare = key.replace("-", "")
    return [
        key,
        key.lower(),
        bare,
        bare.lower(),
        key[:5] + key[5:].replace("-", ""),
        key[:8] + "-" + key[8:].replace("-", "").lower(),
        key.replace("-", "%2D"),
    ]


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


# --- HTTP ----------------------------------------------------------------------------------


@dataclass
class Answer:
    """One HTTP answer. ``status`` 0 = timed out (a hang), -1 = connection failed."""

    status: int
    body: Any
    json_ok: bool
    elapsed: float
    started: float
    headers: dict[str, str] = field(default_factory=dict)
    failure: str = ""

    @property
    def error(self) -> str | None:
        return self.body.get("error") if isinstance(self.body, dict) else None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def brief(self) -> str:
        if self.status <= 0:
            return f"{self.failure} after {self.elapsed:.2f}s"
        text = json.dumps(self.body)[:300] if self.json_ok else "(not JSON)"
        return f"{self.status} {text}"


class Api:
    """The service's HTTP API as the suite uses it. Thread-safe; one connection pool."""

    def __init__(self, base_url: str, brand_api_key: str | None = None, connections: int = 64):
        self.brand_api_key = brand_api_key
        import httpx  # the bench extra: imported here so the helpers load without it

        self._httpx = httpx
        self.client = httpx.Client(
            base_url=base_url,
            timeout=httpx.Timeout(REQUEST_TIMEOUT),
            limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
        )

    def close(self) -> None:
        self.client.close()

    def request(self, method: str, path: str, **kwargs: Any) -> Answer:
        started = time.monotonic()
        try:
            response = self.client.request(method, path, **kwargs)
        except self._httpx.TimeoutException as exc:
            return Answer(0, None, False, time.monotonic() - started, started, failure=repr(exc))
        except self._httpx.HTTPError as exc:
            return Answer(-1, None, False, time.monotonic() - started, started, failure=repr(exc))
        elapsed = time.monotonic() - started
        try:
            body = response.json()
            json_ok = response.headers.get("content-type", "").startswith("application/json")
        except ValueError:
            body, json_ok = response.text[:200], False
        return Answer(response.status_code, body, json_ok, elapsed, started, dict(response.headers))

    def cache_lookups(self) -> Counter[str]:
        """The service's check-cache lookups so far, by tier (its /metrics)."""
        found: Counter[str] = Counter()
        answer = self.client.get("/metrics")
        prefix = 'license_check_cache_total{result="'
        for line in answer.text.splitlines():
            if line.startswith(prefix):
                tier, _, value = line[len(prefix) :].partition('"} ')
                found[tier] = int(float(value))
        return found

    # brand API
    def _brand_headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        headers = {"X-Brand-API-Key": self.brand_api_key or ""}
        headers.update(extra or {})
        return headers

    def provision(self, body: dict[str, Any], idempotency_key: str | None = None) -> Answer:
        extra = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        KEYS_USED.note(body.get("license_key"))
        answer = self.request(
            "POST", "/api/v1/brand/licenses", json=body, headers=self._brand_headers(extra)
        )
        if isinstance(answer.body, dict):
            KEYS_USED.note(answer.body.get("license_key"))
        return answer

    def lifecycle(self, license_id: int, body: dict[str, Any]) -> Answer:
        return self.request(
            "PATCH",
            f"/api/v1/brand/licenses/{license_id}",
            json=body,
            headers=self._brand_headers(),
        )

    # product API
    def activate(self, key: str, product: str, instance: str) -> Answer:
        KEYS_USED.note(key)
        body = {"license_key": key, "product_slug": product, "instance_identifier": instance}
        return self.request("POST", "/api/v1/product/activate", json=body)

    def deactivate(self, key: str, product: str, instance: str) -> Answer:
        KEYS_USED.note(key)
        body = {"license_key": key, "product_slug": product, "instance_identifier": instance}
        return self.request("POST", "/api/v1/product/deactivate", json=body)

    def check(
        self, key: str, product: str | None = None, instance: str | None = None, post: bool = False
    ) -> Answer:
        KEYS_USED.note(key)
        params = {"product_slug": product, "instance_identifier": instance}
        params = {k: v for k, v in params.items() if v is not None}
        if post:
            return self.request(
                "POST", "/api/v1/product/check", json={"license_key": key, **params}
            )
        return self.request("GET", f"/api/v1/product/check/{key}", params=params)


def burst(count: int, call: Callable[[int], Answer]) -> list[Answer]:
    """``count`` calls released together by a barrier, one thread each."""
    barrier = threading.Barrier(count)

    def run(index: int) -> Answer:
        barrier.wait(timeout=30)
        return call(index)

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(run, range(count)))


class Tally:
    """Thread-safe counts of answers: status, error code, latency, and bad kinds."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.by_code: Counter[str] = Counter()
        self.latencies: list[float] = []
        self.server_errors: list[str] = []
        self.hangs: list[str] = []
        self.not_json: list[str] = []
        self.events: list[tuple[float, str, bool]] = []  # (end time, kind, success)
        self.answers: list[Answer] = []

    def add(self, answer: Answer, kind: str = "") -> Answer:
        code = f"{answer.status} {answer.error or ''}".strip()
        with self.lock:
            self.by_code[code] += 1
            self.latencies.append(answer.elapsed)
            self.events.append((answer.started + answer.elapsed, kind, answer.ok))
            self.answers.append(answer)
            if answer.status == 0 or answer.status == -1:
                self.hangs.append(f"{kind}: {answer.brief()}")
            elif answer.status >= 500 and answer.error != "service_unavailable":
                self.server_errors.append(f"{kind}: {answer.brief()}")
            if answer.status > 0 and not answer.json_ok:
                self.not_json.append(f"{kind}: {answer.brief()}")
        return answer

    @property
    def count(self) -> int:
        return sum(self.by_code.values())

    def fivexx(self) -> int:
        return sum(n for code, n in self.by_code.items() if code.startswith("5"))

    def percentile(self, q: float) -> float:
        if not self.latencies:
            return 0.0
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    def codes(self) -> str:
        return ", ".join(f"{code}: {n}" for code, n in sorted(self.by_code.items()))


# --- results -------------------------------------------------------------------------------


@dataclass
class Result:
    number: str
    title: str
    passed: bool = False
    figures: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def fail(self, problem: str) -> None:
        self.problems.append(problem)

    def require(self, condition: bool, problem: str) -> None:
        if not condition:
            self.fail(problem)


# --- Django (seeding and ground truth) -----------------------------------------------------


def server_env(stack: Stack, **overrides: str) -> dict[str, str]:
    env = {
        "DJANGO_SETTINGS_MODULE": "license_service.settings.production",
        "SECRET_KEY": SECRET_KEY,
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "false",
        "SECURE_HSTS_SECONDS": "0",
        "DATABASE_URL": stack.database_url,
        "REDIS_URL": stack.redis_url,
        "THROTTLE_PRODUCT_IP": HIGH_RATE,
        "THROTTLE_PRODUCT_KEY": HIGH_RATE,
        "THROTTLE_BRAND": HIGH_RATE,
        "THROTTLE_AUTH_IP": HIGH_RATE,
        "THROTTLE_UNKNOWN_KEY_IP": HIGH_RATE,
        "LOG_LEVEL": "WARNING",
        "GUNICORN_LOG_LEVEL": "warning",
        # Two processes whatever the machine: the scenarios race writes in one worker
        # against near caches in another.
        "GUNICORN_WORKERS": "2",
    }
    env.update(overrides)
    return env


def setup_django(stack: Stack) -> None:
    os.environ.update(server_env(stack))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


def db_reconnect() -> None:
    from django.db import connections

    for conn in connections.all():
        conn.close()


@dataclass
class Tenant:
    brand_id: int
    slug: str
    prefix: str
    api_key: str
    products: dict[str, int | None]


def seed_tenant(slug: str, prefix: str, products: dict[str, int | None]) -> Tenant:
    from audit.services import Actor
    from brands import services as brand_services

    actor = Actor.system("faults")
    brand = brand_services.brand_create(
        name=f"Faults {slug}", slug=slug, key_prefix=prefix, actor=actor
    )
    for product_slug, seats in products.items():
        brand_services.product_create(
            brand=brand, name=product_slug, slug=product_slug, default_max_seats=seats, actor=actor
        )
    _, plain = brand_services.api_key_create(brand=brand, name="faults", scopes=None, actor=actor)
    return Tenant(brand.pk, slug, prefix, plain, products)


@dataclass
class Lic:
    """A license as the suite expects it to be."""

    license_id: int
    key: str
    product: str
    status: str = "valid"
    expires_at: datetime | None = None
    max_seats: int | None = None
    instances: set[str] = field(default_factory=set)
    counter: int = 0

    def seats_remaining(self) -> int | None:
        if self.max_seats is None:
            return None
        return max(0, self.max_seats - len(self.instances))


def provision_direct(tenant: Tenant, email: str, product: str, **kwargs: Any) -> Lic:
    """Seed a license through the service layer (not timed, not part of any count)."""
    from audit.services import Actor
    from brands.models import Brand
    from licensing.services import license_provision

    brand = Brand.objects.get(pk=tenant.brand_id)
    license_ = license_provision(
        brand=brand,
        customer_email=email,
        product_slug=product,
        actor=Actor.system("faults"),
        **kwargs,
    )
    KEYS_USED.note(license_.license_key.key)
    return Lic(
        license_.pk,
        license_.license_key.key,
        product,
        max_seats=license_.max_seats,
        expires_at=license_.expires_at,
    )


def parse_time(value: Any) -> datetime | None:
    if value is None:
        return None
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def entitlement_of(answer: Answer, product: str) -> dict[str, Any] | None:
    if not isinstance(answer.body, dict):
        return None
    for ent in answer.body.get("entitlements") or []:
        if ent.get("product_slug") == product:
            return ent
    return None


def mismatch(answer: Answer, lic: Lic, instance: str | None = None) -> str | None:
    """Why a check answer does not reflect ``lic`` (None when it does)."""
    if answer.status != 200:
        return f"check answered {answer.brief()}"
    ent = entitlement_of(answer, lic.product)
    if ent is None:
        return f"no entitlement for {lic.product}: {answer.brief()}"
    expected = {
        "status": lic.status,
        "max_seats": lic.max_seats,
        "seats_used": len(lic.instances),
        "seats_remaining": lic.seats_remaining(),
    }
    wrong: dict[str, tuple[Any, Any]] = {
        k: (ent.get(k), v) for k, v in expected.items() if ent.get(k) != v
    }
    if parse_time(ent.get("expires_at")) != lic.expires_at:
        wrong["expires_at"] = (ent.get("expires_at"), lic.expires_at and lic.expires_at.isoformat())
    if instance is not None:
        active = instance in lic.instances
        if ent.get("instance_active") is not active:
            wrong["instance_active"] = (ent.get("instance_active"), active)
    if not wrong:
        return None
    return ", ".join(f"{k}: got {got!r}, expected {want!r}" for k, (got, want) in wrong.items())


def db_truth(keys: Iterable[str]) -> dict[str, dict[str, dict[str, Any]]]:
    """key -> product -> {status, max_seats, seats_used, expires_at}, from PostgreSQL."""
    from django.db.models import Count

    from licensing.models import License

    truth: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
    rows = (
        License.objects.filter(license_key__key__in=list(keys))
        .select_related("license_key", "product")
        .annotate(used=Count("activations"))
    )
    for row in rows:
        truth[row.license_key.key][row.product.slug] = {
            "status": row.effective_status(),
            "max_seats": row.max_seats,
            "seats_used": row.used,
            "expires_at": row.expires_at,
        }
    return truth


def sweep(api: Api, keys: Iterable[str]) -> list[str]:
    """Check every key once and compare with the database: any difference is stale."""
    keys = sorted(set(keys))
    truth = db_truth(keys)
    problems = []
    for key in keys:
        answer = api.check(key)
        if answer.status != 200:
            problems.append(f"{key[:10]}…: check answered {answer.brief()}")
            continue
        got = {ent["product_slug"]: ent for ent in answer.body.get("entitlements", [])}
        for product, want in truth[key].items():
            ent = got.get(product)
            if ent is None:
                problems.append(f"{key[:10]}… {product}: missing from the check answer")
                continue
            for name in ("status", "max_seats", "seats_used"):
                if ent.get(name) != want[name]:
                    problems.append(
                        f"{key[:10]}… {product}: {name} {ent.get(name)!r}, database {want[name]!r}"
                    )
            if parse_time(ent.get("expires_at")) != want["expires_at"]:
                problems.append(f"{key[:10]}… {product}: expires_at differs from the database")
        extra = set(got) - set(truth[key])
        if extra:
            problems.append(f"{key[:10]}…: entitlements not in the database: {sorted(extra)}")
    return problems


def db_invariants(brand_id: int) -> list[str]:
    """Nothing half-written: each license provisioned once in the audit trail, seats in use
    equal to activations created minus released, no idempotency record without its answer."""
    from django.db.models import Count

    from activations.models import Activation
    from audit.models import AuditEvent
    from licensing.models import IdempotencyRecord, License

    problems = []
    licenses = set(
        License.objects.filter(license_key__brand_id=brand_id).values_list("pk", flat=True)
    )
    provisioned = Counter(
        int(target)
        for target in AuditEvent.objects.filter(
            brand_id=brand_id, action="license.provisioned"
        ).values_list("target_id", flat=True)
    )
    for license_id in licenses:
        if provisioned[license_id] != 1:
            problems.append(f"license {license_id}: {provisioned[license_id]} provisioned events")
    for license_id in set(provisioned) - licenses:
        problems.append(f"license.provisioned event for missing license {license_id}")
    events = (
        AuditEvent.objects.filter(
            brand_id=brand_id, action__in=["activation.created", "activation.released"]
        )
        .values_list("license_id", "action")
        .annotate(n=Count("id"))
    )
    net: Counter[int] = Counter()
    for license_id, action, n in events:
        net[license_id] += n if action == "activation.created" else -n
    seats = Counter(
        dict(
            Activation.objects.filter(license__license_key__brand_id=brand_id)
            .values_list("license_id")
            .annotate(n=Count("id"))
            .values_list("license_id", "n")
        )
    )
    for license_id in set(net) | set(seats):
        if net[license_id] != seats[license_id]:
            problems.append(
                f"license {license_id}: {seats[license_id]} activations, audit trail says "
                f"{net[license_id]}"
            )
    half = IdempotencyRecord.objects.filter(brand_id=brand_id, response_status=0).count()
    if half:
        problems.append(f"{half} idempotency records without a stored answer")
    return problems


def future(days: float) -> datetime:
    return (datetime.now(UTC) + timedelta(days=days)).replace(microsecond=0)


# --- a writer that checks its own writes ---------------------------------------------------


class Writer:
    """Owns one license; each step makes one change and checks it from another connection.

    The change is a lifecycle action (suspend, resume, renew, set_seats) or an activation
    or deactivation; the check goes through a different client (so another connection,
    often another worker) right after the write was answered. A check that does not show
    the write is stale.
    """

    def __init__(self, name: str, lic: Lic, brand: Api, product: Api, reader: Api, tally: Tally):
        self.name = name
        self.lic = lic
        self.brand = brand
        self.product = product
        self.reader = reader
        self.tally = tally
        self.rng = random.Random(name)
        self.stale: list[str] = []
        self.stale_persistent = 0
        self.rounds = 0
        self.write_failures: list[str] = []
        self.writes: Counter[str] = Counter()

    def _instance(self) -> str:
        self.lic.counter += 1
        n = self.lic.counter
        if n % 2:
            return f"https://www.{self.name}-{n}.example.com/"
        return f"machine-{self.name}-{n}"

    @staticmethod
    def _normalized(instance: str) -> str:
        if instance.startswith("https://www."):
            return instance[len("https://www.") :].rstrip("/")
        return instance

    def choose(self) -> str:
        lic = self.lic
        options = ["renew", "set_seats"]
        if lic.status == "valid":
            options += ["suspend"]
            if lic.max_seats is None or len(lic.instances) < lic.max_seats:
                options += ["activate"] * 3
        else:
            options += ["resume"] * 2
        if lic.instances:
            options += ["deactivate"] * 2
        return self.rng.choice(options)

    def step(self) -> bool:
        """One write and its check. False when the write itself failed."""
        lic = self.lic
        action = self.choose()
        instance: str | None = None
        if action == "activate":
            instance = self._instance()
            answer = self.tally.add(self.product.activate(lic.key, lic.product, instance), action)
            if answer.status == 200:
                lic.instances.add(self._normalized(instance))
        elif action == "deactivate":
            raw = self.rng.choice(sorted(lic.instances))
            instance = raw
            answer = self.tally.add(self.product.deactivate(lic.key, lic.product, raw), action)
            if answer.status == 200:
                lic.instances.discard(raw)
        else:
            body: dict[str, Any] = {"action": action}
            if action == "renew":
                body["expires_at"] = future(self.rng.randint(30, 900)).isoformat()
            elif action == "set_seats":
                low = max(1, len(lic.instances))
                body["max_seats"] = (
                    None if self.rng.random() < 0.2 else self.rng.randint(low, low + 4)
                )
            answer = self.tally.add(self.brand.lifecycle(lic.license_id, body), action)
            if answer.status == 200:
                if action == "renew":
                    lic.expires_at = parse_time(body["expires_at"])
                elif action == "set_seats":
                    lic.max_seats = body["max_seats"]
                elif action == "suspend":
                    lic.status = "suspended"
                elif action == "resume":
                    lic.status = "valid"
        if answer.status != 200:
            self.write_failures.append(f"{action}: {answer.brief()}")
            return False
        self.writes[action] += 1
        self.rounds += 1
        self.verify(self._normalized(instance) if instance else None)
        return True

    def verify(self, instance: str | None) -> None:
        lic = self.lic
        use_instance = instance is not None and self.rng.random() < 0.5
        answer = self.tally.add(
            self.reader.check(
                lic.key,
                product=lic.product if self.rng.random() < 0.5 else None,
                instance=instance if use_instance else None,
                post=self.rng.random() < 0.5,
            ),
            "check",
        )
        why = mismatch(answer, lic, instance if use_instance else None)
        if why is None:
            return
        at = datetime.now(UTC).strftime("%H:%M:%S.%f")[:-3]
        self.stale.append(f"{self.name} round {self.rounds} at {at}: {why}")
        time.sleep(0.5)
        again = self.tally.add(self.reader.check(lic.key, product=lic.product), "check")
        if mismatch(again, lic) is not None:
            self.stale_persistent += 1


class Hammer(threading.Thread):
    """Background checks on a set of keys until stopped; answers counted, not verified."""

    def __init__(self, api: Api, keys: list[str], tally: Tally, stop: threading.Event):
        super().__init__(daemon=True)
        self.api, self.keys, self.tally, self.stop_event = api, keys, tally, stop
        self.rng = random.Random(id(self))

    def run(self) -> None:
        while not self.stop_event.is_set():
            key = self.rng.choice(self.keys)
            self.tally.add(self.api.check(key, post=self.rng.random() < 0.5), "hammer")


# --- scenario 1: seat race -----------------------------------------------------------------


def scenario_seat_race(ctx: Context) -> Result:
    result = Result("1", "Seat race over HTTP")
    plan = ctx.plan
    tenant = seed_tenant("faults-seats", "FLTS", {"seats": plan.seats})
    api = Api(ctx.server.base_url, connections=plan.seat_concurrency)
    tally = Tally()
    per_round: list[tuple[int, int, int]] = []
    from activations.models import Activation

    try:
        deadline = time.monotonic() + plan.scenario_time_limit
        for round_ in range(plan.seat_rounds):
            if time.monotonic() > deadline:
                result.fail(f"time limit reached after {round_} rounds")
                break
            lic = provision_direct(tenant, f"seat-race-{round_}@example.com", "seats")

            def activate(i: int, lic: Lic = lic, r: int = round_) -> Answer:
                return tally.add(
                    api.activate(lic.key, "seats", f"race-{r}-{i}.example.com"), "activate"
                )

            answers = burst(plan.seat_concurrency, activate)
            won = sum(a.status == 200 for a in answers)
            refused = sum(a.status == 409 and a.error == "seat_limit_exceeded" for a in answers)
            rows = Activation.objects.filter(license_id=lic.license_id).count()
            per_round.append((won, refused, rows))
            if won != plan.seats or rows != plan.seats:
                result.fail(f"round {round_}: {won} activations succeeded, {rows} rows stored")
            if refused != plan.seat_concurrency - won:
                others = Counter(f"{a.status} {a.error}" for a in answers if a.status != 200)
                result.fail(f"round {round_}: other answers than seat_limit_exceeded: {others}")
    finally:
        api.close()
    result.require(tally.fivexx() == 0, f"{tally.fivexx()} answers 5xx: {tally.server_errors[:3]}")
    result.require(not tally.hangs, f"hangs: {tally.hangs[:3]}")
    result.require(not tally.not_json, f"non-JSON answers: {tally.not_json[:3]}")
    wins = Counter(w for w, _, _ in per_round)
    result.figures = {
        "rounds": len(per_round),
        "concurrent activations per round": plan.seat_concurrency,
        "seats": plan.seats,
        "successes per round (value: rounds)": dict(wins),
        "activation rows per round (value: rounds)": dict(Counter(r for _, _, r in per_round)),
        "answers": tally.codes(),
        "latency p50 / p99 / max (ms)": latency_text(tally),
    }
    result.passed = not result.problems
    return result


def latency_text(tally: Tally) -> str:
    if not tally.latencies:
        return "-"
    return (
        f"{tally.percentile(0.5) * 1000:.0f} / {tally.percentile(0.99) * 1000:.0f} / "
        f"{max(tally.latencies) * 1000:.0f}"
    )


# --- scenario 2: stale reads ---------------------------------------------------------------


def scenario_stale_reads(ctx: Context) -> Result:
    result = Result("2", "Stale reads")
    plan = ctx.plan
    tenant = seed_tenant("faults-stale", "FLTR", {"pro": 3})
    tally = Tally()
    brand = Api(ctx.server.base_url, tenant.api_key, connections=plan.stale_writers)
    product = Api(ctx.server.base_url, connections=plan.stale_writers)
    reader = Api(ctx.server.base_url, connections=plan.stale_writers)
    hammer_api = Api(ctx.server.base_url, connections=plan.stale_readers)
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

    def drive(writer: Writer) -> None:
        failures = 0
        while writer.rounds < per_writer and time.monotonic() < deadline and failures < 20:
            if not writer.step():
                failures += 1

    try:
        lookups_before = reader.cache_lookups()
        for hammer in hammers:
            hammer.start()
        with ThreadPoolExecutor(max_workers=len(writers)) as pool:
            list(pool.map(drive, writers))
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
    rounds = sum(w.rounds for w in writers)
    stale = [s for w in writers for s in w.stale]
    persistent = sum(w.stale_persistent for w in writers)
    write_failures = [f for w in writers for f in w.write_failures]
    hammer_tally = Tally()
    for hammer in hammers:
        hammer_tally.by_code.update(hammer.tally.by_code)
        hammer_tally.server_errors += hammer.tally.server_errors
        hammer_tally.hangs += hammer.tally.hangs
    writes: Counter[str] = Counter()
    for w in writers:
        writes.update(w.writes)
    result.require(rounds >= plan.stale_rounds, f"only {rounds} of {plan.stale_rounds} rounds ran")
    result.require(not stale, f"{len(stale)} stale checks, e.g. {stale[:3]}")
    result.require(not leftovers, f"final sweep: {leftovers[:5]}")
    result.require(not write_failures, f"{len(write_failures)} writes failed: {write_failures[:3]}")
    result.require(lookups["near_hit"] > 0, f"the near cache answered no check: {dict(lookups)}")
    for t in (tally, hammer_tally):
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


# --- scenario 3: Redis dies under load -----------------------------------------------------


class Timeline:
    """Marks phases and buckets successful answers per phase."""

    def __init__(self) -> None:
        self.marks: dict[str, float] = {}

    def mark(self, name: str) -> None:
        self.marks[name] = time.monotonic()

    def rate(self, tally: Tally, start: str, end: str, trim: float = 0.0) -> float:
        lo, hi = self.marks[start] + trim, self.marks[end]
        if hi <= lo:
            return 0.0
        with tally.lock:
            n = sum(1 for t, _, ok in tally.events if ok and lo <= t < hi)
        return n / (hi - lo)


class StaticReader(threading.Thread):
    """Checks keys whose state never changes; any other answer is wrong."""

    def __init__(self, api: Api, lics: list[Lic], tally: Tally, stop: threading.Event):
        super().__init__(daemon=True)
        self.api, self.lics, self.tally, self.stop_event = api, lics, tally, stop
        self.rng = random.Random(id(self))
        self.wrong: list[str] = []
        self.answers = 0

    def run(self) -> None:
        while not self.stop_event.is_set():
            lic = self.rng.choice(self.lics)
            answer = self.tally.add(self.api.check(lic.key, post=self.rng.random() < 0.5), "read")
            self.answers += 1
            why = mismatch(answer, lic)
            if why is not None and answer.status > 0:
                self.wrong.append(f"{lic.key[:10]}…: {why}")


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


# --- scenario 4: PostgreSQL restarts under load --------------------------------------------


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


# --- scenario 5: idempotent provisioning ---------------------------------------------------


def scenario_idempotency(ctx: Context) -> Result:
    result = Result("5", "Idempotent provisioning under retries")
    plan = ctx.plan
    tenant = seed_tenant("faults-idem", "FLTI", {"pro": 3})
    api = Api(ctx.server.base_url, tenant.api_key, connections=plan.idem_concurrency)
    tally = Tally()
    from audit.models import AuditEvent
    from licensing.models import License

    rounds = []
    try:
        for round_ in range(plan.idem_rounds):
            email = f"idem-{round_}@example.com"
            body = {"customer_email": email, "product_slug": "pro", "new_key": True}
            idem = f"order-{round_}-{uuid.uuid4().hex}"

            def provision(i: int, b: dict[str, Any] = body, k: str = idem) -> Answer:
                return tally.add(api.provision(b, k))

            answers = burst(plan.idem_concurrency, provision)
            statuses = Counter(a.status for a in answers)
            bodies = {json.dumps(a.body, sort_keys=True) for a in answers}
            licenses = License.objects.filter(license_key__customer_email=email).count()
            events = AuditEvent.objects.filter(
                brand_id=tenant.brand_id,
                action="license.provisioned",
                after__customer_email=email,
            ).count()
            replayed = sum(a.headers.get("idempotent-replayed") == "true" for a in answers)
            conflict = tally.add(api.provision({**body, "product_slug": "other"}, idem))
            rounds.append((statuses, len(bodies), licenses, events, replayed, conflict.error))
            result.require(
                statuses == Counter({201: plan.idem_concurrency}),
                f"round {round_}: statuses {dict(statuses)}",
            )
            result.require(len(bodies) == 1, f"round {round_}: {len(bodies)} different bodies")
            result.require(licenses == 1, f"round {round_}: {licenses} licenses stored")
            result.require(events == 1, f"round {round_}: {events} license.provisioned events")
            result.require(
                conflict.status == 409 and conflict.error == "idempotency_conflict",
                f"round {round_}: other body with the same key: {conflict.brief()}",
            )
    finally:
        api.close()
    result.require(tally.fivexx() == 0, f"5xx: {tally.server_errors[:3]}")
    result.require(not tally.hangs, f"hangs: {tally.hangs[:3]}")
    result.figures = {
        "rounds": len(rounds),
        "concurrent identical requests per round": plan.idem_concurrency,
        "licenses stored per round (value: rounds)": dict(Counter(r[2] for r in rounds)),
        "distinct response bodies per round (value: rounds)": dict(Counter(r[1] for r in rounds)),
        "answers marked Idempotent-Replayed per round": sorted({r[4] for r in rounds}),
        "same key, other body": dict(Counter(r[5] for r in rounds)),
        "answers": tally.codes(),
        "latency p50 / p99 / max (ms)": latency_text(tally),
    }
    result.passed = not result.problems
    return result


# --- scenario 6: audit completeness --------------------------------------------------------


def scenario_audit(ctx: Context) -> Result:
    result = Result("6", "Audit completeness under a mixed load")
    plan = ctx.plan
    tenant = seed_tenant("faults-audit", "FLTA", {"pro": 3, "team": 10, "unl": None})
    api = Api(ctx.server.base_url, tenant.api_key, connections=plan.audit_threads * 2)
    tally = Tally()
    baseline = audit_counts(tenant.brand_id)
    expected: Counter[str] = Counter()
    attempted: Counter[str] = Counter()
    lock = threading.Lock()
    per_thread = -(-plan.audit_ops // plan.audit_threads)
    deadline = time.monotonic() + plan.scenario_time_limit
    unexpected: list[str] = []

    def worker(index: int) -> None:
        rng = random.Random(f"audit-{index}")
        mine: list[Lic] = []
        keys: list[tuple[str, str]] = []  # (key, email)
        local: Counter[str] = Counter()
        tried: Counter[str] = Counter()
        serial = 0
        for _ in range(per_thread):
            if time.monotonic() > deadline:
                break
            serial += 1
            roll = rng.random()
            if not mine or roll < 0.15:
                email = f"audit-{index}-{serial}@example.com"
                product = rng.choice(["pro", "team", "unl"])
                body: dict[str, Any] = {"customer_email": email, "product_slug": product}
                if rng.random() < 0.3:
                    body["expires_at"] = future(365).isoformat()
                answer = tally.add(api.provision(body), "provision")
                tried["provision"] += 1
                if answer.status == 201:
                    local["license.provisioned"] += 1
                    lic = Lic(
                        answer.body["license_id"],
                        answer.body["license_key"],
                        product,
                        max_seats=answer.body["max_seats"],
                        expires_at=parse_time(answer.body["expires_at"]),
                    )
                    mine.append(lic)
                    keys.append((lic.key, email))
                elif answer.status != 409:
                    unexpected.append(f"provision: {answer.brief()}")
                continue
            if roll < 0.22 and keys:
                # Another product on an existing key: 201, or 409 already_entitled.
                key, email = rng.choice(keys)
                product = rng.choice(["pro", "team", "unl"])
                answer = tally.add(
                    api.provision(
                        {"customer_email": email, "product_slug": product, "license_key": key}
                    ),
                    "provision",
                )
                tried["provision"] += 1
                if answer.status == 201:
                    local["license.provisioned"] += 1
                    mine.append(
                        Lic(
                            answer.body["license_id"],
                            key,
                            product,
                            max_seats=answer.body["max_seats"],
                        )
                    )
                elif answer.error != "already_entitled":
                    unexpected.append(f"provision on a key: {answer.brief()}")
                continue
            lic = rng.choice(mine)
            if roll < 0.50:
                action = rng.choice(
                    ["renew", "suspend", "resume", "set_seats", "suspend", "resume", "cancel"]
                    if rng.random() < 0.15
                    else ["renew", "suspend", "resume", "set_seats"]
                )
                body = {"action": action}
                if action == "renew":
                    body["expires_at"] = future(rng.randint(30, 900)).isoformat()
                if action == "set_seats":
                    body["max_seats"] = rng.choice([None, 1, 2, 5, 50])
                answer = tally.add(api.lifecycle(lic.license_id, body), action)
                tried[f"license.{action}"] += 1
                if answer.status == 200:
                    local[LIFECYCLE_EVENTS[action]] += 1
                    if action == "cancel":
                        local["activation.released"] += len(lic.instances)
                        lic.instances.clear()
                        lic.status = "cancelled"
                    elif action == "suspend":
                        lic.status = "suspended"
                    elif action == "resume":
                        lic.status = "valid"
                    elif action == "set_seats":
                        lic.max_seats = body["max_seats"]
                elif answer.error != "invalid_transition":
                    unexpected.append(f"{action}: {answer.brief()}")
            elif roll < 0.80:
                lic.counter += 1
                instance = f"audit-{index}-{lic.license_id}-{lic.counter}"
                answer = tally.add(product_api.activate(lic.key, lic.product, instance), "activate")
                tried["activation.created"] += 1
                if answer.status == 200:
                    local["activation.created"] += 1
                    lic.instances.add(instance)
                elif answer.error not in (
                    "seat_limit_exceeded",
                    "license_suspended",
                    "license_cancelled",
                ):
                    unexpected.append(f"activate: {answer.brief()}")
            else:
                known = sorted(lic.instances)
                instance = rng.choice(known) if known and rng.random() < 0.8 else "never-seen"
                answer = tally.add(
                    product_api.deactivate(lic.key, lic.product, instance), "deactivate"
                )
                tried["activation.released"] += 1
                if answer.status == 200:
                    local["activation.released"] += 1
                    lic.instances.discard(instance)
                elif answer.error != "activation_not_found":
                    unexpected.append(f"deactivate: {answer.brief()}")
        with lock:
            expected.update(local)
            attempted.update(tried)

    product_api = Api(ctx.server.base_url, connections=plan.audit_threads * 2)
    started = time.monotonic()
    try:
        with ThreadPoolExecutor(max_workers=plan.audit_threads) as pool:
            for f in [pool.submit(worker, i) for i in range(plan.audit_threads)]:
                f.result()
    finally:
        api.close()
        product_api.close()
    elapsed = time.monotonic() - started
    stored = audit_counts(tenant.brand_id)
    stored.subtract(baseline)
    stored = Counter({k: v for k, v in stored.items() if v})
    actions = sorted(set(stored) | set(expected))
    table = {a: f"{stored[a]} events / {expected[a]} successful writes" for a in actions}
    for action in actions:
        result.require(
            stored[action] == expected[action],
            f"{action}: {stored[action]} events for {expected[action]} writes",
        )
    invariants = db_invariants(tenant.brand_id)
    result.require(not invariants, f"audit trail vs state: {invariants[:5]}")
    result.require(not unexpected, f"{len(unexpected)} unexpected answers: {unexpected[:3]}")
    result.require(tally.fivexx() == 0, f"5xx: {tally.server_errors[:3]}")
    result.require(not tally.hangs, f"hangs: {tally.hangs[:3]}")
    result.figures = {
        "requests (threads)": f"{tally.count} ({plan.audit_threads})",
        "by action: events stored / successful writes": table,
        "requests per second": f"{tally.count / elapsed:.0f}" if elapsed else "-",
        "answers": tally.codes(),
    }
    result.passed = not result.problems
    return result


def audit_counts(brand_id: int) -> Counter[str]:
    from django.db.models import Count

    from audit.models import AuditEvent

    rows = (
        AuditEvent.objects.filter(brand_id=brand_id)
        .values("action")
        .annotate(n=Count("id"))
        .values_list("action", "n")
    )
    return Counter(dict(rows))


LIFECYCLE_EVENTS = {
    "renew": "license.renewed",
    "suspend": "license.suspended",
    "resume": "license.resumed",
    "cancel": "license.cancelled",
    "set_seats": "license.seats_changed",
}


# --- scenario 7: brute force ---------------------------------------------------------------


def scenario_brute_force(ctx: Context) -> Result:
    result = Result("7", "Brute force: unknown-key limit under a concurrent burst")
    plan = ctx.plan
    from licensing.keys import generate_license_key

    tenant = seed_tenant("faults-brute", "FLTB", {"pro": 3})
    real = provision_direct(tenant, "brute-real@example.com", "pro")
    # The limit is per fixed window (an hour): do not straddle a window boundary.
    to_boundary = 3600 - time.time() % 3600
    if to_boundary < 30:
        time.sleep(to_boundary + 1)
    ctx.stack.redis.command("FLUSHALL")
    server = ctx.stack.gunicorn(
        server_env(ctx.stack, THROTTLE_UNKNOWN_KEY_IP=f"{UNKNOWN_KEY_LIMIT}/h"), name="gunicorn-7"
    )
    api = Api(server.base_url, connections=plan.brute_concurrency)
    tally = Tally()
    rng = random.Random(7)
    prefixes = ["FLTB", "ABCD", "ZZ"]

    def random_key(i: int) -> str:
        if i % 5 == 4:  # not even a well-formed key: fails its checksum
            return "FLTB-" + "-".join(
                "".join(rng.choice("0123456789ABCDEFGHJKMNPQRSTVWXYZ") for _ in range(5))
                for _ in range(6)
            )
        return generate_license_key(prefixes[i % len(prefixes)])

    keys = [random_key(i) for i in range(plan.brute_requests)]
    per_thread = -(-plan.brute_requests // plan.brute_concurrency)

    def fire(t: int) -> Answer:
        last = None
        for j in range(per_thread):
            i = t * per_thread + j
            if i >= len(keys):
                break
            key = keys[i]
            kind = i % 3
            if kind == 0:
                last = tally.add(api.check(key), "check")
            elif kind == 1:
                last = tally.add(api.check(key, post=True), "check")
            else:
                last = tally.add(api.activate(key, "pro", f"brute-{i}"), "activate")
        return last or Answer(0, None, False, 0, 0)

    try:
        started = time.monotonic()
        burst(plan.brute_concurrency, fire)
        elapsed = time.monotonic() - started
        # An honest key from the same client, after the burst (informational).
        honest = tally_free(api.check(real.key))
        # A different client address is not affected (127.0.0.2 is still loopback).
    finally:
        api.close()
        ctx.stack.stop_server(server)
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
        "requests (concurrent clients)": f"{tally.count} ({plan.brute_concurrency})",
        "limit (THROTTLE_UNKNOWN_KEY_IP)": f"{UNKNOWN_KEY_LIMIT}/h, at most {allowed} through",
        "answered 404 license_not_found (got through)": through,
        "answered 429 throttled": throttled,
        "burst duration (s)": f"{elapsed:.2f}",
        "a real key from the same client afterwards": honest,
        "answers": tally.codes(),
    }
    result.passed = not result.problems
    return result


def tally_free(answer: Answer) -> str:
    return f"{answer.status} {answer.error or 'ok'}"


# --- runner --------------------------------------------------------------------------------


@dataclass
class Context:
    plan: Plan
    stack: Stack
    server: Gunicorn


SCENARIOS: list[tuple[str, Callable[[Context], Result]]] = [
    ("5", scenario_idempotency),
    ("6", scenario_audit),
    ("1", scenario_seat_race),
    ("2", scenario_stale_reads),
    ("3", lambda ctx: outage_scenario(ctx, "3", "kill")),
    ("3b", lambda ctx: outage_scenario(ctx, "3b", "freeze")),
    ("4", scenario_postgres_restart),
    ("7", scenario_brute_force),
]


def run(plan: Plan, only: set[str] | None, keep: bool) -> list[Result]:
    results: list[Result] = []
    with Stack(keep=keep) as stack:
        setup_django(stack)
        server = stack.gunicorn(server_env(stack))
        watch = OutputWatch(stack)
        ctx = Context(plan, stack, server)
        for number, scenario in SCENARIOS:
            if only and number not in only:
                continue
            print(f"== scenario {number}", flush=True)
            started = time.monotonic()
            try:
                result = scenario(ctx)
            except Exception as exc:  # a crash of the suite is a failure of the scenario
                result = Result(number, scenario.__name__ if hasattr(scenario, "__name__") else "")
                result.fail(f"the scenario crashed: {exc!r}")
                result.notes.append(traceback.format_exc())
                db_reconnect()
            judge_output(result, watch)
            result.seconds = time.monotonic() - started
            if not result.passed:
                excerpt = log_excerpt(server.log)
                if excerpt:
                    result.notes.append("server log, warnings and errors (tail):\n" + excerpt)
            print(
                f"   {'PASS' if result.passed else 'FAIL'} {result.title} ({result.seconds:.1f}s)",
                flush=True,
            )
            for problem in result.problems:
                print(f"   - {problem}", flush=True)
            results.append(result)
            # Each scenario starts with both servers up and a reachable cache.
            if not stack.redis.ping():
                stack.redis.thaw()
                if not stack.redis.ping():
                    stack.redis.start()
            if not stack.postgres.running():
                stack.postgres.start()
        if keep:
            print(f"kept {stack.base}", flush=True)
    return results


CRITERIA = {
    "1": "Each round a fresh license with 5 seats gets 50 activations of distinct instances at "
    "once (a barrier releases them together): exactly 5 answers 200 and 5 rows stored, every "
    "other answer 409 seat_limit_exceeded, no 5xx, no hang.",
    "2": "Writer threads each own a license; every round is one write (suspend, resume, renew, "
    "set_seats, activate, deactivate) and, as soon as it is answered, a check through another "
    "client (another connection, often another worker; GET or POST, with or without "
    "product_slug and instance_identifier) that must show exactly the committed state. "
    "Background readers keep checking the same keys meanwhile, as products do, so cache "
    "fills race with invalidations. A final sweep compares every key with the database.",
    "3": "Load (verified writer rounds as in 2, and readers of keys that never change), then "
    "Redis is killed mid-run and started again (empty). While it is down, 20 warmed keys "
    "are suspended. Zero 5xx, zero hangs, zero wrong or stale answers during or after, the "
    "suspended keys read as suspended afterwards, and the check rate over the last 3 s "
    "recovers to at least 60% of the rate before the outage.",
    "3b": "As 3, but Redis is frozen (SIGSTOP) and thawed (SIGCONT): unreachable yet keeping "
    "its data, as a partitioned, paused or persistent Redis does. Entries cached before the "
    "outage are still there afterwards; none may be served once a write made it stale.",
    "4": "Load (cached checks of warmed keys, provisions with an Idempotency-Key, "
    "activations), then PostgreSQL is stopped (immediate: a crash) and started again. "
    "While down: cached checks answer 200, every write answers 503 service_unavailable "
    "JSON with Retry-After, none hangs. After: writes succeed within 5 s; every 201/200 is "
    "stored; each failed provision retried with its Idempotency-Key gives one license; "
    "audit trail and seats agree (nothing half-written).",
    "5": "20 identical provisions with one Idempotency-Key released together: all 201 with "
    "the same body, one license, one license.provisioned event; the same key with another "
    "body is 409 idempotency_conflict.",
    "6": "Threads provision (new customers and added products), change the lifecycle, "
    "activate and deactivate at random, each on its own licenses, counting every successful "
    "write (a cancel also releases its seats). Audit events stored per action must equal "
    "successful writes per action; seats in use must equal activations created minus "
    "released.",
    "7": "A second server with THROTTLE_UNKNOWN_KEY_IP=50/h; 50 clients from one address "
    "send random keys (valid checksums of real and made-up prefixes, and malformed ones) to "
    "check (GET, POST) and activate at once: at most 50 (+5%) are answered 404, all others "
    "429 throttled with Retry-After.",
}


def log_excerpt(path: Path, lines: int = 12) -> str:
    """The server's own warnings and errors: the access log (level info) left out."""
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    kept = [line for line in text if '"level": "info"' not in line and "UserWarning" not in line]
    kept = [line for line in kept if "mw_instance = middleware" not in line]
    return "\n".join(line[:400] for line in kept[-lines:])


def render(results: list[Result], plan: Plan, seconds: float) -> str:
    lines = [
        "# Fault and load suite",
        "",
        f"Generated by `{'FAULTS_QUICK=1 ' if plan.quick else ''}make faults` "
        f"({'quick' if plan.quick else 'full'} run) on "
        f"{datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')} in {seconds:.0f} s. "
        f"Python {platform.python_version()}, {os.cpu_count()} CPUs; the service under "
        "gunicorn (gunicorn.conf.py, production settings) on a private PostgreSQL and Redis "
        "started by bench/services.py, all on 127.0.0.1. Every request has a "
        f"{REQUEST_TIMEOUT:g} s timeout; a timeout counts as a hang. After each scenario "
        "the servers' output is searched for every license key the suite used, in any form; "
        "one found fails the scenario.",
        "",
        "| # | scenario | result | time |",
        "|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r.number} | {r.title} | {'PASS' if r.passed else '**FAIL**'} | {r.seconds:.0f} s |"
        )
    for r in results:
        lines += ["", f"## {r.number}. {r.title}: {'PASS' if r.passed else 'FAIL'}", ""]
        if r.number in CRITERIA:
            lines += [CRITERIA[r.number], ""]
        for name, value in r.figures.items():
            if isinstance(value, dict):
                lines.append(f"- {name}:")
                lines += [f"  - {k}: {v}" for k, v in value.items()]
            else:
                lines.append(f"- {name}: {value}")
        if r.problems:
            lines += ["", "Problems:", ""]
            lines += [f"- {p}" for p in r.problems]
        for note in r.notes:
            lines += ["", "```", note.strip()[-3000:], "```"]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.faults", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--quick", action="store_true", default=os.environ.get("FAULTS_QUICK") == "1"
    )
    parser.add_argument("--only", default="", help="comma-separated scenario numbers, e.g. 1,3b")
    parser.add_argument("--skip", default="", help="comma-separated scenario numbers to leave out")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument("--output", type=Path, default=None, help=f"default {REPORT}")
    args = parser.parse_args(argv)
    plan = Plan.quick_plan() if args.quick else Plan.full()
    # A quick run never overwrites the full run's report.
    output: Path = args.output or (QUICK_REPORT if args.quick else REPORT)
    output.parent.mkdir(parents=True, exist_ok=True)
    only = {s.strip() for s in args.only.split(",") if s.strip()} or None
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    if skip:
        only = (only or {number for number, _ in SCENARIOS}) - skip
    started = time.monotonic()
    results = run(plan, only, args.keep)
    seconds = time.monotonic() - started
    output.write_text(render(results, plan, seconds))
    failed = [r.number for r in results if not r.passed]
    print(f"report: {output} ({seconds:.0f} s)", flush=True)
    # The closing line CI reads, in the plain "N passed, N failed" form.
    print(f"faults: {len(results) - len(failed)} passed, {len(failed)} failed", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
    sys.exit(130)
