"""A real HTTP receiver on 127.0.0.1 and a resolver the tests control."""

from __future__ import annotations

import ipaddress
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from webhooks import ssrf


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """Answers each POST with the next planned reply (then with the last one): a status
    code, or ("sleep", seconds, status), or ("redirect", location)."""

    port: int = 0
    received: list[Received] = field(default_factory=list)
    plan: list[Any] = field(default_factory=lambda: [204])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def next_reply(self) -> Any:
        return self.plan.pop(0) if len(self.plan) > 1 else self.plan[0]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", "0"))
            body = self.rfile.read(length)
            state.received.append(
                Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
            )
            reply = state.next_reply()
            if isinstance(reply, tuple) and reply[0] == "sleep":
                time.sleep(reply[1])
                reply = reply[2]
            if isinstance(reply, tuple) and reply[0] == "redirect":
                self.send_response(302)
                self.send_header("Location", reply[1])
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(int(reply))
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture
def allow_loopback(settings: Any) -> None:
    """The receiver's network, as a private deployment would list its own."""
    settings.WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.1/32"]


@pytest.fixture
def resolver(monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """``resolver({"hooks.example.com": ["93.184.216.34"]})``: names resolve as given, a
    list of lists is answered in turn (the last one repeating); unknown names do not
    resolve. IP literals resolve to themselves."""
    answers: dict[str, list[list[str]]] = {}
    calls: list[str] = []

    def fake(host: str, port: int) -> list[Any]:
        calls.append(host)
        try:
            return [ipaddress.ip_address(host)]
        except ValueError:
            pass
        if host not in answers:
            raise ssrf.UrlRefused(f"The host {host!r} does not resolve.")
        turns = answers[host]
        current = turns.pop(0) if len(turns) > 1 else turns[0]
        return [ipaddress.ip_address(a) for a in current]

    monkeypatch.setattr(ssrf, "resolve", fake)

    def configure(mapping: dict[str, Any]) -> None:
        for host, value in mapping.items():
            answers[host] = value if value and isinstance(value[0], list) else [value]

    configure.calls = calls  # type: ignore[attr-defined]
    return configure
