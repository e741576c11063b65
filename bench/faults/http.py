"""The service's HTTP API as the suite uses it, and the counting of its answers."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from bench.faults.keys import KEYS_USED
from bench.faults.plan import REQUEST_TIMEOUT


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
    """The service's HTTP API as the suite uses it. Thread-safe: each thread that calls it
    gets an HTTP client (and connections) of its own.

    Threads never share a connection pool: httpcore's sync pool (1.0.9) can close a
    connection it has already handed to a request waiting on another thread
    (encode/httpcore#1110), which a thread then sees as ``ReadError('[Errno 9] Bad file
    descriptor')`` or a read that hangs until its timeout; under CPU starvation the suite
    counted one as a hang of the service (scenario 2). One client per thread measures the
    service, not that race.
    """

    def __init__(self, base_url: str, brand_api_key: str | None = None):
        self.brand_api_key = brand_api_key
        import httpx  # the bench extra: imported here so the helpers load without it

        self._httpx = httpx
        self._base_url = base_url
        self._local = threading.local()
        self._clients: list[Any] = []
        self._clients_lock = threading.Lock()

    @property
    def client(self) -> Any:
        """This thread's HTTP client (made on first use)."""
        client = getattr(self._local, "client", None)
        if client is None:
            httpx = self._httpx
            client = httpx.Client(
                base_url=self._base_url,
                timeout=httpx.Timeout(REQUEST_TIMEOUT),
                limits=httpx.Limits(max_connections=2, max_keepalive_connections=1),
            )
            self._local.client = client
            with self._clients_lock:
                self._clients.append(client)
        return client

    def close(self) -> None:
        with self._clients_lock:
            clients, self._clients = self._clients, []
        for client in clients:
            client.close()

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

    def __init__(self, keep_answers: bool = True) -> None:
        self.keep_answers = keep_answers  # False: counts and latencies only (long soaks)
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
            if self.keep_answers:
                self.events.append((answer.started + answer.elapsed, kind, answer.ok))
                self.answers.append(answer)
            if answer.status in {0, -1}:
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


def latency_text(tally: Tally) -> str:
    if not tally.latencies:
        return "-"
    return (
        f"{tally.percentile(0.5) * 1000:.0f} / {tally.percentile(0.99) * 1000:.0f} / "
        f"{max(tally.latencies) * 1000:.0f}"
    )


def tally_free(answer: Answer) -> str:
    return f"{answer.status} {answer.error or 'ok'}"
