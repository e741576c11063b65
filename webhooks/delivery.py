"""One HTTP attempt of a webhook (SPEC §13): signed per Standard Webhooks, sent to the
address the SSRF check approved, no redirect followed, a 2xx within 15 s is success.

The request goes to the checked IP itself (``Target.url_to_address``) with the ``Host``
header and, for https, the TLS server name (SNI, and the certificate's name check) set to
the hostname: the name is resolved once, by the check, so nothing can make the connection
reach another address than the one checked.
"""

from __future__ import annotations

import functools
import json
import ssl
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from django.conf import settings
from standardwebhooks import Webhook

from webhooks import ssrf

USER_AGENT = "license-service-webhooks/1"
MAX_ERROR = 500
SUCCESS_CLASS, REDIRECT_CLASS = 2, 3  # 2xx, 3xx


@dataclass(frozen=True, slots=True)
class Attempt:
    """What one attempt came to: ``outcome`` is succeeded, http_error, redirect, timeout,
    network_error or refused (the SSRF check at delivery)."""

    outcome: str
    status_code: int | None
    duration_ms: int
    error: str

    @property
    def succeeded(self) -> bool:
        return self.outcome == "succeeded"


def body_bytes(body: dict[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


def signed_headers(
    *, secret: str, message_id: str, timestamp: datetime, body: bytes
) -> dict[str, str]:
    signature = Webhook(secret).sign(msg_id=message_id, timestamp=timestamp, data=body)
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": signature,
    }


@functools.cache
def tls_context() -> ssl.SSLContext:
    """One TLS context (httpx's default: certifi's CAs, hostname checks on) for every
    attempt: building one reads the CA bundle, ~30 ms of CPU, which was most of an
    attempt's cost when each client built its own (fault scenario 11). An SSLContext is
    safe to share across threads."""
    return httpx.create_ssl_context(trust_env=False)


def _transport() -> httpx.BaseTransport | None:
    """Tests may replace this (e.g. an httpx.MockTransport); None: httpx's own."""
    return None


def send(  # noqa: PLR0911 (one return per outcome)
    *, url: str, secret: str, message_id: str, body: dict[str, Any]
) -> Attempt:
    """One attempt: check and resolve ``url``, connect to the checked address, POST the
    signed body (signed now: receivers refuse timestamps more than 5 minutes off). Never
    raises for the receiver's faults: they are the Attempt's outcome."""
    started = time.monotonic()

    def took() -> int:
        return int((time.monotonic() - started) * 1000)

    try:
        target = ssrf.url_target(url)
    except ssrf.UrlRefused as exc:
        return Attempt("refused", None, took(), str(exc)[:MAX_ERROR])
    payload = body_bytes(body)
    headers = {
        **signed_headers(
            secret=secret, message_id=message_id, timestamp=datetime.now(UTC), body=payload
        ),
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "host": target.host_header,
    }
    limit: float = settings.WEBHOOK_TIMEOUT
    extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
    try:
        with (
            httpx.Client(
                timeout=httpx.Timeout(limit, connect=min(limit, 5.0)),
                follow_redirects=False,
                trust_env=False,  # never through a proxy the environment names
                verify=tls_context(),
                transport=_transport(),
            ) as client,
            client.stream(
                "POST",
                target.url_to_address(),
                content=payload,
                headers=headers,
                extensions=extensions,
            ) as response,
        ):
            # The status is all that counts: the body is never read (a huge body costs
            # nothing).
            status = response.status_code
    except httpx.TimeoutException as exc:
        return Attempt("timeout", None, took(), f"Timed out: {type(exc).__name__}.")
    except httpx.HTTPError as exc:
        return Attempt("network_error", None, took(), f"{type(exc).__name__}: {exc}"[:MAX_ERROR])
    duration = took()
    if duration > limit * 1000:
        return Attempt("timeout", status, duration, f"Answered after {limit:g} s.")
    if status // 100 == SUCCESS_CLASS:
        return Attempt("succeeded", status, duration, "")
    if status // 100 == REDIRECT_CLASS:
        return Attempt("redirect", status, duration, f"HTTP {status}: redirects are not followed.")
    return Attempt("http_error", status, duration, f"HTTP {status}.")
