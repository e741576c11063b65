"""The reverse proxy of docker-compose.yml, for real: nginx with deploy/nginx's template in
front of gunicorn (production settings), both on loopback.

scripts/local_proxy.py renders the template the way the official nginx image renders it
(only the ``LS_*`` variables are substituted) and includes it in a minimal main
configuration, as the image's ``http {}`` block includes it. Skipped, saying why, when no
nginx binary is installed (``apt-get install nginx-light``; ``.ci/run`` installs it).
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from scripts.local_proxy import Nginx, find_nginx, render, start_nginx

ROOT = Path(__file__).resolve().parents[2]
NGINX = find_nginx()

pytestmark = pytest.mark.skipif(
    NGINX is None, reason="no nginx binary (apt-get install nginx-light); .ci/run installs it"
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            if proc.poll() is not None:
                break
            time.sleep(0.05)
    pytest.fail(f"nothing listens on {port}:\n{log.read_text()[-3000:]}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@dataclass
class Stack:
    nginx: Nginx
    gunicorn_port: int
    gunicorn_log: Path


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    base = tmp_path_factory.mktemp("proxy")
    port = free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "license_service.settings.production",
        "SECRET_KEY": secrets.token_urlsafe(64),
        "SIGNING_KEYS_SECRET": secrets.token_urlsafe(48),
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "false",
        "DATABASE_URL": f"sqlite:///{base / 'db.sqlite3'}",
        "PROMETHEUS_MULTIPROC_DIR": str(base / "prometheus"),
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        # One worker with two threads: two slow clients are enough to stall it alone.
        "GUNICORN_WORKERS": "1",
        "GUNICORN_THREADS": "2",
        "NUM_PROXIES": "1",
        "GUNICORN_LIMIT_REQUEST_FIELDS": "32768",  # as docker-compose.yml sets it
    }
    env.pop("REDIS_URL", None)
    log = base / "gunicorn.log"
    gunicorn = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py"],
        cwd=ROOT,
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    nginx = None
    try:
        wait_for(port, gunicorn, log)
        nginx = start_nginx(base / "nginx", listen_port=free_port(), upstream=f"127.0.0.1:{port}")
        yield Stack(nginx, port, log)
    finally:
        if nginx is not None:
            nginx.stop()
        stop(gunicorn)


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict[str, Any]:
        assert self.headers.get("content-type", "").startswith("application/json"), self
        return json.loads(self.body)


def request(port: int, raw: bytes, timeout: float = 5) -> Answer:
    """Send ``raw`` as is (http.client refuses the malformed requests tested here) and read
    one response up to the connection's close."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(raw)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return Answer(int(status_line.split()[1]), headers, body)


def get(port: int, target: str, *headers: str, timeout: float = 5) -> Answer:
    lines = [f"GET {target} HTTP/1.1", "Host: 127.0.0.1", "Connection: close", *headers]
    return request(port, ("\r\n".join(lines) + "\r\n\r\n").encode(), timeout=timeout)


class SlowClients:
    """``count`` connections that send a request's headers one byte every ``gap`` seconds,
    never finishing them while the block runs (slowloris)."""

    def __init__(self, port: int, count: int, gap: float = 0.1) -> None:
        self.port, self.count, self.gap = port, count, gap
        self.stopped = threading.Event()
        self.threads: list[threading.Thread] = []

    def _trickle(self) -> None:
        payload = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: " + b"a" * 10_000
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as sock:
            for byte in payload:
                if self.stopped.wait(self.gap):
                    return
                try:
                    sock.send(bytes([byte]))
                except OSError:
                    return

    def __enter__(self) -> SlowClients:
        for _ in range(self.count):
            thread = threading.Thread(target=self._trickle, daemon=True)
            thread.start()
            self.threads.append(thread)
        time.sleep(0.5)  # every slow client connected and started its headers
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopped.set()
        for thread in self.threads:
            thread.join(timeout=5)


def healthz_answers(port: int, timeout: float) -> bool:
    try:
        return get(port, "/healthz", timeout=timeout).status == 200
    except OSError:  # socket.timeout included
        return False


def test_slow_clients_stall_gunicorn_alone(stack):
    """The finding the proxy is for (a control for the next test): two trickling clients
    hold both threads of a one-worker gunicorn, and /healthz gets no answer."""
    with SlowClients(stack.gunicorn_port, count=4):
        assert not healthz_answers(stack.gunicorn_port, timeout=1.5)


def test_slow_clients_do_not_stall_healthz_behind_the_proxy(stack):
    with SlowClients(stack.nginx.port, count=8):
        started = time.monotonic()
        for _ in range(5):
            assert healthz_answers(stack.nginx.port, timeout=2)
        assert time.monotonic() - started < 5  # each answered at once; slack for a busy CI


def test_an_oversized_request_line_gets_the_json_envelope(stack):
    answer = get(stack.nginx.port, "/api/v1/brand/licenses/?cursor=" + "%C2%87" * 1500)
    assert answer.status == 400
    body = answer.json()
    assert body["success"] is False
    assert body["error"] == "validation_error"
    assert set(body) == {"success", "error", "message", "details"}
    assert "request_line" in body["details"]
    assert answer.headers["x-request-id"]


def test_an_oversized_header_gets_the_json_envelope(stack):
    answer = get(stack.nginx.port, "/healthz", "X-Long: " + "a" * 9000)
    assert answer.status == 400
    assert answer.json()["error"] == "validation_error"
    assert "headers" in answer.json()["details"]


def test_many_small_headers_get_the_applications_answer_not_gunicorns_html(stack):
    headers = [f"X-H{i}: v" for i in range(500)]
    answer = get(stack.nginx.port, "/healthz", *headers)
    assert answer.status == 200
    assert answer.json() == {"status": "ok"}


def test_headers_over_the_proxys_total_get_the_json_envelope(stack):
    headers = [f"X-H{i}: {'v' * 4000}" for i in range(12)]  # 48 KB, over 4 x 8 KiB
    answer = get(stack.nginx.port, "/healthz", *headers)
    assert answer.status == 400
    assert answer.json()["error"] == "validation_error"


def post(port: int, target: str, body: bytes) -> Answer:
    head = (
        f"POST {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return request(port, head.encode() + body)


def test_an_oversized_body_gets_413_json_from_the_proxy(stack):
    body = b'{"license_key": "' + b"a" * 70_000 + b'"}'
    answer = post(stack.nginx.port, "/api/v1/product/activate", body)
    assert answer.status == 413
    assert answer.json() == {
        "success": False,
        "error": "payload_too_large",
        "message": "The request body is too large.",
        "details": {"max_bytes": 64 * 1024},
    }


def test_a_body_within_the_limit_reaches_the_application(stack):
    body = b'{"license_key": "' + b"a" * 60_000 + b'"}'
    answer = post(stack.nginx.port, "/api/v1/product/activate", body)
    assert answer.status == 400  # the application's answer: the key is too long
    assert answer.json()["error"] == "validation_error"
    assert "license_key" in answer.json()["details"]


def test_the_applications_own_errors_pass_through_untouched(stack):
    through = get(stack.nginx.port, "/no/such/page")
    direct = get(stack.gunicorn_port, "/no/such/page")
    assert through.status == direct.status == 404
    assert through.json() == direct.json()


@pytest.mark.parametrize("target", ["/healthz", "/api/v1/product/activate", "/api/v1/brands/"])
def test_trace_gets_the_applications_405_with_its_allow_header(stack, target):
    """nginx refuses TRACE itself; the application's answer (JSON, Allow) is what it gets."""
    lines = ["Connection: close", "Content-Length: 3"]
    raw = "\r\n".join([f"TRACE {target} HTTP/1.1", "Host: 127.0.0.1", *lines]) + "\r\n\r\nabc"
    through = request(stack.nginx.port, raw.encode())
    direct = request(stack.gunicorn_port, raw.encode())
    assert through.status == direct.status
    assert through.headers["allow"] == direct.headers["allow"]
    assert through.json()["error"] == direct.json()["error"]
    assert through.status in (401, 405)  # the staff API authenticates before anything else


def test_the_application_sees_the_request_id_and_the_address_nginx_saw(stack):
    """NUM_PROXIES=1 is right behind this proxy: it replaces X-Forwarded-For with the peer
    address, so a client cannot pick the address its rate limits and audit rows get."""
    answer = get(
        stack.nginx.port,
        "/no/such/page",
        "X-Request-ID: proxy-xff-1",
        "X-Forwarded-For: 203.0.113.9",
    )
    assert answer.status == 404
    assert answer.headers["x-request-id"] == "proxy-xff-1"
    deadline = time.monotonic() + 5
    while True:
        lines = [
            json.loads(line)
            for line in stack.gunicorn_log.read_text().splitlines()
            if "proxy-xff-1" in line and line.startswith("{")
        ]
        if lines or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert lines
    assert {line.get("client_ip") for line in lines} == {"127.0.0.1"}


def test_an_unreachable_application_is_a_json_503_and_no_key_reaches_the_log(tmp_path):
    closed = free_port()  # nothing listens there
    nginx = start_nginx(tmp_path / "nginx", listen_port=free_port(), upstream=f"127.0.0.1:{closed}")
    key = "ABCD-EFGH-JKLM-NPQR"
    try:
        answer = get(nginx.port, f"/api/v1/product/check/{key}/?instance_identifier=x")
    finally:
        nginx.stop()
    assert answer.status == 503
    assert answer.headers["retry-after"] == "5"
    assert answer.json()["error"] == "service_unavailable"
    output = nginx.output()
    assert '"status":503' in output  # the access log line is there...
    assert key not in output  # ...without the URL
    assert key.replace("-", "") not in output


def test_the_template_renders_only_the_ls_variables():
    template = ROOT.joinpath("deploy", "nginx", "default.conf.template").read_text()
    rendered = render(template, {"LS_LISTEN": "127.0.0.1:1", "LS_UPSTREAM": "127.0.0.1:2"})
    assert "${" not in rendered
    assert "$remote_addr" in rendered  # nginx's own variables untouched
    with pytest.raises(ValueError, match="LS_UPSTREAM"):
        render(template, {"LS_LISTEN": "1"})
