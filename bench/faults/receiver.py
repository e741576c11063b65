"""A webhook receiver on 127.0.0.1 for the webhook scenarios (11-14).

One threaded HTTP server; each endpoint is a path ``/hook/<name>`` with its own signing
secret (set once the brand API has answered the endpoint's creation). Every POST is
verified with the Standard Webhooks library (``standardwebhooks.Webhook.verify``: the
signature and the timestamp's tolerance) and recorded as a ``Receipt``: endpoint, the
``webhook-id`` header, the event id in the body, the receive time (wall clock, as the
event's ``created_at`` is) and whether it verified. An endpoint answers 204, or 500
(``failing``), or holds the first request of an event open (``hold``: the worker sending it
is killed meanwhile).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks import Webhook

from bench.services import LOOPBACK


@dataclass(frozen=True, slots=True)
class Receipt:
    endpoint: str
    webhook_id: str
    event_id: int | None
    created_at: float | None  # the event's created_at (Unix seconds), from the body
    received: float  # time.time() at arrival
    valid: bool


@dataclass
class Hook:
    """One endpoint's behaviour and secret."""

    name: str
    mode: str = "ok"  # ok, failing (500), hold (the first request held ``hold_seconds``)
    hold_seconds: float = 0.0
    secret: str = ""
    holding: threading.Event = field(default_factory=threading.Event)
    held: set[str] = field(default_factory=set)


class Receiver:
    """The receiver; ``start``/``stop``; thread-safe ``receipts``."""

    def __init__(self) -> None:
        self.hooks: dict[str, Hook] = {}
        self.receipts: list[Receipt] = []
        self.lock = threading.Lock()
        self.server: ThreadingHTTPServer | None = None
        self.thread: threading.Thread | None = None

    def hook(self, name: str, mode: str = "ok", hold_seconds: float = 0.0) -> Hook:
        hook = Hook(name, mode, hold_seconds)
        self.hooks[name] = hook
        return hook

    def url(self, name: str) -> str:
        assert self.server is not None
        return f"http://{LOOPBACK}:{self.server.server_address[1]}/hook/{name}"

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                receiver.handle(self)

            def log_message(self, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer((LOOPBACK, 0), Handler)
        server.daemon_threads = True
        server.request_queue_size = 128
        self.server = server
        self.thread = threading.Thread(target=server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def handle(self, request: BaseHTTPRequestHandler) -> None:
        arrived = time.time()
        length = int(request.headers.get("content-length") or 0)
        body = request.rfile.read(length)
        name = request.path.rsplit("/", 1)[-1]
        hook = self.hooks.get(name)
        headers = {k.lower(): v for k, v in request.headers.items()}
        webhook_id = headers.get("webhook-id", "")
        valid, event_id, created = False, None, None
        if hook is not None and hook.secret:
            try:
                payload = Webhook(hook.secret).verify(body, headers)
                valid = True
                event_id = int(payload["id"]) if str(payload.get("id", "")).isdigit() else None
                created = _unix(payload.get("created_at"))
            except Exception:  # a bad signature is recorded, not raised
                valid = False
        receipt = Receipt(name, webhook_id, event_id, created, arrived, valid)
        with self.lock:
            self.receipts.append(receipt)
        status = 204
        if hook is not None and hook.mode == "failing":
            status = 500
        elif hook is not None and hook.mode == "hold" and webhook_id not in hook.held:
            hook.held.add(webhook_id)
            hook.holding.set()
            time.sleep(hook.hold_seconds)
        request.send_response(status)
        request.send_header("Content-Length", "0")
        request.end_headers()

    # --- reading what arrived ----------------------------------------------------------------

    def snapshot(self) -> list[Receipt]:
        with self.lock:
            return list(self.receipts)

    def by_endpoint(self, name: str) -> list[Receipt]:
        return [r for r in self.snapshot() if r.endpoint == name]

    def delivered(self, name: str) -> set[int]:
        """The event ids that reached ``name`` with a valid signature."""
        return {r.event_id for r in self.by_endpoint(name) if r.valid and r.event_id is not None}

    def duplicates(self, name: str) -> tuple[int, int]:
        """(receipts beyond the first per event, of those with another webhook-id)."""
        first: dict[int, str] = {}
        extra = mismatched = 0
        for r in self.by_endpoint(name):
            if r.event_id is None:
                continue
            if r.event_id in first:
                extra += 1
                mismatched += r.webhook_id != first[r.event_id]
            else:
                first[r.event_id] = r.webhook_id
        return extra, mismatched

    def invalid(self) -> int:
        return sum(not r.valid for r in self.snapshot())

    def counts(self) -> Counter[str]:
        return Counter(r.endpoint for r in self.snapshot())


def _unix(value: Any) -> float | None:
    from datetime import datetime

    if not value:
        return None
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()


def first_receipts(receipts: list[Receipt]) -> dict[int, Receipt]:
    """The first valid receipt of each event."""
    first: dict[int, Receipt] = {}
    for r in sorted(receipts, key=lambda r: r.received):
        if r.valid and r.event_id is not None and r.event_id not in first:
            first[r.event_id] = r
    return first
