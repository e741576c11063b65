"""``make run`` serves like production where it matters (issue 12, items 6-8).

The server is started exactly as the Makefile starts it (``python -m
license_service.devserver HOST:PORT``: migrate, demo data, gunicorn with the local settings
and --reload), on a free loopback port, against PostgreSQL when DATABASE_URL says so (the
test database, flushed afterwards) and a SQLite file otherwise. Everything is bounded: 3
bursts of 50 requests, a timeout on every request, a deadline for the start.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from celery import Celery
from django.core.management import call_command
from django.db import connection, connections

from license_service.devserver import THREADS, WORKERS
from tests.ops.test_logging import key_forms, shows_key_body

ROOT = Path(__file__).resolve().parents[2]
DEMO_API_KEY = "lsk_demo_rankmath_00000000000000000000000000000000"  # load_demo_data
UNLIMITED_PRODUCT = "content-ai"  # a demo product without a seat limit
BURSTS = 3
CONCURRENCY = 50
START_DEADLINE = 120.0  # seconds: migrations on a fresh SQLite file, on a loaded machine
REQUEST_TIMEOUT = 30.0
ON_POSTGRES = connection.vendor == "postgresql"

# The mark has pytest-django create the test database, which the server then serves; what
# the server commits there is flushed when the module is done.
pytestmark = pytest.mark.django_db


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class DevServer:
    base: str
    port: int
    log: Path
    database: str | None  # the PostgreSQL database it serves, None on SQLite
    broker: Path  # the embedded Celery worker's filesystem transport

    def request(
        self, method: str, path: str, body: dict[str, Any] | None = None
    ) -> tuple[int, Any]:
        """One request on a fresh connection: (status, JSON body or text)."""
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(  # noqa: S310 (loopback only)
            self.base + path, data=data, method=method
        )
        request.add_header("Content-Type", "application/json")
        request.add_header("X-Brand-API-Key", DEMO_API_KEY)
        try:
            with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT) as response:  # noqa: S310 (loopback only)
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as exc:
            status, raw = exc.code, exc.read()
        try:
            return status, json.loads(raw)
        except ValueError:
            return status, raw.decode(errors="replace")

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def _database_url(tmp: Path) -> tuple[str, str | None]:
    if not ON_POSTGRES:
        return f"sqlite:///{tmp / 'db.sqlite3'}", None
    settings = connection.settings_dict
    user = settings["USER"] or ""
    password = f":{settings['PASSWORD']}" if settings["PASSWORD"] else ""
    auth = f"{user}{password}@" if user else ""
    host = settings["HOST"] or "127.0.0.1"
    port = f":{settings['PORT']}" if settings["PORT"] else ""
    return f"postgres://{auth}{host}{port}/{settings['NAME']}", settings["NAME"]


@pytest.fixture(scope="module")
def dev_server(
    django_db_setup: Any, django_db_blocker: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DevServer]:
    tmp = tmp_path_factory.mktemp("devserver")
    port = free_port()
    database_url, database = _database_url(tmp)
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DJANGO_SETTINGS_MODULE", "DEBUG", "PROMETHEUS_MULTIPROC_DIR"}
    }
    env.update(
        {
            "DATABASE_URL": database_url,
            "PYTHONUNBUFFERED": "1",
            # The bursts are about serving, not about rate limits.
            "THROTTLE_PRODUCT_IP": "1000000/m",
            "THROTTLE_PRODUCT_KEY": "1000000/m",
            "THROTTLE_BRAND": "1000000/m",
            # The embedded worker's queues in this test's folder, whatever REDIS_URL says:
            # a broker's keys must not land in the Redis database the other tests use.
            "CELERY_BROKER_URL": "filesystem://",
            "CELERY_FILESYSTEM_DIR": str(tmp / "broker"),
        }
    )
    log = tmp / "server.log"
    handle = log.open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "license_service.devserver", f"127.0.0.1:{port}"],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=handle,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: the master and its workers
    )
    server = DevServer(f"http://127.0.0.1:{port}", port, log, database, tmp / "broker")
    try:
        deadline = time.monotonic() + START_DEADLINE
        while True:
            try:
                if server.request("GET", "/healthz")[0] == 200:
                    break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"make run's server did not start:\n{server.output()[-4000:]}")
            time.sleep(0.2)
        yield server
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        handle.close()
        if ON_POSTGRES:  # what the server wrote to the test database
            with django_db_blocker.unblock():
                call_command("flush", interactive=False, verbosity=0)


def provision(server: DevServer, email: str) -> str:
    status, body = server.request(
        "POST",
        "/api/v1/brand/licenses",
        {"customer_email": email, "product_slug": UNLIMITED_PRODUCT},
    )
    assert status == 201, body
    return str(body["license_key"])


def server_connections(server: DevServer) -> int:
    """Connections open to the server's database, none of this test process's own."""
    own = [
        alias.connection.info.backend_pid
        for alias in connections.all(initialized_only=True)
        if alias.vendor == "postgresql"
        and alias.connection is not None
        and not alias.connection.closed
    ]
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")  # fresh figures in this transaction
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> ALL(%s)",
            [server.database, own],
        )
        (count,) = cursor.fetchone()
    return int(count)


def test_make_run_answers_50_concurrent_activations_and_returns_its_database_connections(
    dev_server: DevServer,
) -> None:
    pool_size = WORKERS * THREADS
    counts: list[int] = []
    for burst in range(BURSTS):
        key = provision(dev_server, f"burst-{burst}@example.com")
        barrier = threading.Barrier(CONCURRENCY)

        def activate(
            index: int, key: str = key, burst: int = burst, barrier: Any = barrier
        ) -> int | str:
            body = {
                "license_key": key,
                "product_slug": UNLIMITED_PRODUCT,
                "instance_identifier": f"site-{burst}-{index}.example.com",
            }
            barrier.wait(timeout=30)
            try:
                return dev_server.request("POST", "/api/v1/product/activate", body)[0]
            except OSError as exc:  # a reset or refused connection: runserver's backlog
                return repr(exc)

        with ThreadPoolExecutor(max_workers=CONCURRENCY) as threads:
            answers = list(threads.map(activate, range(CONCURRENCY)))
        assert answers == [200] * CONCURRENCY, f"burst {burst}: {answers}"
        if ON_POSTGRES:
            counts.append(server_connections(dev_server))

    if ON_POSTGRES:
        # Each worker thread keeps one connection and reuses it: however many bursts, never
        # more than the pool (runserver left one per request thread behind: 29, 48, 57).
        assert all(0 < count <= pool_size for count in counts), counts


def test_make_run_serves_the_admin_and_its_static_files(dev_server: DevServer) -> None:
    status, page = dev_server.request("GET", "/admin/login/")
    assert status == 200
    assert "csrfmiddlewaretoken" in page
    with urllib.request.urlopen(  # noqa: S310 (loopback only)
        dev_server.base + "/static/admin/css/base.css", timeout=REQUEST_TIMEOUT
    ) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/css")


def send_raw(server: DevServer, payload: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", server.port), timeout=REQUEST_TIMEOUT) as sock:
        sock.sendall(payload)
        chunks = []
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks)


def test_make_run_logs_no_license_key_in_any_form(dev_server: DevServer) -> None:
    key = provision(dev_server, "logs@example.com")
    accepted = ["canonical", "lower", "undashed", "undashed-lower", "one-odd-dash"]
    forms = key_forms(key)
    for name in accepted:
        status, body = dev_server.request("GET", f"/api/v1/product/check/{forms[name]}")
        assert status == 200, (name, body)
    for form in forms.values():  # every form again, in a query string and a bad path
        sent = quote(form, safe="-%")
        dev_server.request("GET", f"/api/v1/product/check/{sent}/nope?key={sent}")
    # gunicorn refuses these itself and logs the request line (its "Invalid HTTP request
    # line" warning): before Django, before any of the service's own code.
    bare = key.replace("-", "").lower()
    for line in (f"GET /check/{bare}\r\n", f"GET /check/{bare} HTTP/1.1 x\r\n"):
        answer = send_raw(dev_server, line.encode() + b"\r\n")
        assert answer.startswith(b"HTTP/1.1 400"), answer[:200]

    deadline = time.monotonic() + 10
    while "Invalid" not in dev_server.output() and time.monotonic() < deadline:
        time.sleep(0.1)
    output = dev_server.output()
    assert "Invalid HTTP request line" in output or "Invalid request" in output
    assert not shows_key_body(output, key), [
        line for line in output.splitlines() if shows_key_body(line, key)
    ][:3]


def test_make_run_runs_a_celery_worker_on_the_embedded_broker(dev_server: DevServer) -> None:
    """No broker installed: a task sent through the filesystem transport is run by the
    worker ``make run`` started (SPEC §13: the two-command start stays true)."""
    client = Celery(
        "devserver-test",
        broker="filesystem://",
        broker_transport_options={
            "data_folder_in": str(dev_server.broker / "queue"),
            "data_folder_out": str(dev_server.broker / "queue"),
            "control_folder": str(dev_server.broker / "control"),
        },
    )
    result = client.send_task("licensing.tasks.purge_idempotency_keys")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        text = dev_server.log.read_text(errors="replace")
        if f"[{result.id}] succeeded" in text:
            break
        time.sleep(0.5)
    assert f"[{result.id}] succeeded" in dev_server.log.read_text(errors="replace")
