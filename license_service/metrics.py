"""Prometheus metrics: per-route HTTP counts and latency, and the product API's domain counters.

Other code records domain outcomes through the small ``record_*`` functions below; label
values are checked against fixed sets so a bug or a fuzzer can never blow up cardinality
(anything unexpected is counted as ``other``).

Under gunicorn every worker is a separate process. When ``PROMETHEUS_MULTIPROC_DIR`` is set
(``gunicorn.conf.py`` sets it and cleans it), prometheus_client writes each process's values
to files there and ``GET /metrics`` merges them, so any worker answers for all of them. The
variable must be set before ``prometheus_client`` is first imported, which is why gunicorn's
config file, not Django's settings, owns it.
"""

from __future__ import annotations

import os
import re
import secrets
from functools import lru_cache

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django_prometheus.exports import ExportToDjangoView
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.registry import Collector

from license_service.api.errors import error_response
from license_service.views import CATCH_ALL_ROUTE

if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    # Management commands run with the server's environment (same container) before or
    # without gunicorn, which is what normally creates the directory.
    os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)

# Seconds. The check path answers from the cache in about a millisecond; the tail matters.
LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

UNMATCHED_ROUTE = "<unmatched>"

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

HTTP_REQUESTS = Counter(
    "http_requests_total",
    "HTTP requests answered, by route, method and status.",
    ["route", "method", "status"],
)
HTTP_LATENCY = Histogram(
    "http_request_duration_seconds",
    "Time from the first middleware to the response, by route and method.",
    ["route", "method"],
    buckets=LATENCY_BUCKETS,
)

# Outcomes are the SPEC §3 error codes plus the success variants.
ACTIVATION_OUTCOMES = frozenset(
    {
        "activated",
        "already_active",
        "license_not_found",
        "license_suspended",
        "license_cancelled",
        "license_expired",
        "seat_limit_exceeded",
        "validation_error",
        "throttled",
    }
)
DEACTIVATION_OUTCOMES = frozenset(
    {"released", "activation_not_found", "license_not_found", "validation_error", "throttled"}
)
HEARTBEAT_OUTCOMES = frozenset(
    {
        "active",
        "reclaimed",
        "activation_not_found",
        "license_not_found",
        "validation_error",
        "throttled",
    }
)
CHECK_OUTCOMES = frozenset({"found", "license_not_found", "validation_error", "throttled"})
CACHE_RESULTS = frozenset({"near_hit", "hit", "miss", "negative_hit", "error"})

LICENSE_ACTIVATIONS = Counter(
    "license_activation_total",
    "Product API activations, by outcome (activated, already_active or the error code).",
    ["outcome"],
)
LICENSE_DEACTIVATIONS = Counter(
    "license_deactivation_total",
    "Product API deactivations, by outcome (released or the error code).",
    ["outcome"],
)
LICENSE_HEARTBEATS = Counter(
    "license_heartbeat_total",
    "Product API heartbeats, by outcome (active, reclaimed: no place was free, or the error code).",
    ["outcome"],
)
LICENSE_CHECKS = Counter(
    "license_check_total",
    "Product API checks, by outcome (found or the error code).",
    ["outcome"],
)
LICENSE_CHECK_CACHE = Counter(
    "license_check_cache_total",
    "Check-cache lookups: near_hit (answered from the process's near cache), hit (from "
    "Redis), miss, negative_hit (unknown key answered from the negative cache) or error "
    "(cache unreachable, answered from the database).",
    ["result"],
)

LICENSE_TOKENS = Counter(
    "license_token_total",
    "Signed license tokens in product API answers (SPEC §12): cached (a cached token reused), "
    "signed (a new signature), none (no token: the license has expired) or error (a token "
    "that could not be made, e.g. an unreadable signing key: the answer went out without it).",
    ["result"],
)
TOKEN_RESULTS = frozenset({"cached", "signed", "none", "error"})

# Zero-valued series exist from the start, so rate() and alerts work before the first event.
for _outcome in ACTIVATION_OUTCOMES | {"other"}:
    LICENSE_ACTIVATIONS.labels(_outcome)
for _outcome in DEACTIVATION_OUTCOMES | {"other"}:
    LICENSE_DEACTIVATIONS.labels(_outcome)
for _outcome in HEARTBEAT_OUTCOMES | {"other"}:
    LICENSE_HEARTBEATS.labels(_outcome)
# The check's series, looked up once (``labels()`` costs more than the increment).
_CHECKS = {outcome: LICENSE_CHECKS.labels(outcome) for outcome in CHECK_OUTCOMES | {"other"}}
_CHECK_CACHE = {result: LICENSE_CHECK_CACHE.labels(result) for result in CACHE_RESULTS}
_TOKENS = {result: LICENSE_TOKENS.labels(result) for result in TOKEN_RESULTS}


def record_activation(outcome: str) -> None:
    """``activated`` | ``already_active`` | the error code of a refused activation."""
    LICENSE_ACTIVATIONS.labels(outcome if outcome in ACTIVATION_OUTCOMES else "other").inc()


def record_deactivation(outcome: str) -> None:
    """``released`` | the error code of a refused deactivation."""
    LICENSE_DEACTIVATIONS.labels(outcome if outcome in DEACTIVATION_OUTCOMES else "other").inc()


def record_heartbeat(outcome: str) -> None:
    """``active`` | ``reclaimed`` | the error code of a refused heartbeat."""
    LICENSE_HEARTBEATS.labels(outcome if outcome in HEARTBEAT_OUTCOMES else "other").inc()


def record_check(outcome: str) -> None:
    """``found`` | ``license_not_found`` | another error code."""
    _CHECKS.get(outcome, _CHECKS["other"]).inc()


def record_check_cache(result: str) -> None:
    """``near_hit`` | ``hit`` | ``miss`` | ``negative_hit`` | ``error``."""
    _CHECK_CACHE.get(result, _CHECK_CACHE["miss"]).inc()


def record_token(result: str) -> None:
    """``cached`` | ``signed`` | ``none`` | ``error``."""
    _TOKENS.get(result, _TOKENS["error"]).inc()


WEBHOOK_ATTEMPTS = Counter(
    "webhook_attempts_total",
    "Webhook delivery attempts (SPEC §13), by outcome: succeeded (a 2xx within the timeout), "
    "http_error, redirect (3xx: not followed), timeout, network_error, refused (the address "
    "failed the SSRF check at delivery).",
    ["outcome"],
)
WEBHOOK_ATTEMPT_OUTCOMES = frozenset(
    {"succeeded", "http_error", "redirect", "timeout", "network_error", "refused"}
)
WEBHOOK_DELIVERIES = Counter(
    "webhook_deliveries_total",
    "Webhook deliveries that ended, by outcome: succeeded, or failed (retries exhausted, or "
    "a test send that failed).",
    ["outcome"],
)
WEBHOOK_DELIVERY_OUTCOMES = frozenset({"succeeded", "failed"})
_WEBHOOK_ATTEMPTS = {o: WEBHOOK_ATTEMPTS.labels(o) for o in WEBHOOK_ATTEMPT_OUTCOMES | {"other"}}
_WEBHOOK_DELIVERIES = {
    o: WEBHOOK_DELIVERIES.labels(o) for o in WEBHOOK_DELIVERY_OUTCOMES | {"other"}
}


def record_webhook_attempt(outcome: str) -> None:
    _WEBHOOK_ATTEMPTS.get(outcome, _WEBHOOK_ATTEMPTS["other"]).inc()


def record_webhook_delivery(outcome: str) -> None:
    """Only an ended delivery counts: ``succeeded`` | ``failed`` (pending is ignored)."""
    if outcome != "pending":
        _WEBHOOK_DELIVERIES.get(outcome, _WEBHOOK_DELIVERIES["other"]).inc()


# Collectors that read their values when /metrics is scraped (e.g. queue depths from the
# database): the same in every process, so they are not per-process files in multiprocess
# mode but added to the scrape's registry. Apps register theirs at start-up.
_SCRAPE_COLLECTORS: list[Collector] = []


def register_scrape_collector(collector: Collector) -> None:
    if collector in _SCRAPE_COLLECTORS:
        return
    _SCRAPE_COLLECTORS.append(collector)
    if not multiprocess_mode():
        REGISTRY.register(collector)


_RE_GROUP = re.compile(r"\(\?P<(\w+)>[^)]*\)")  # re_path(): (?P<name>...)
_PATH_CONVERTER = re.compile(r"<(?:\w+:)?(\w+)>")  # path(): <int:name>


@lru_cache(maxsize=512)
def route_label(raw_route: str) -> str:
    """A URL pattern as an OpenAPI-style path: ``/api/v1/brand/licenses/{license_id}``.

    ``path()`` and ``re_path()`` patterns both end up readable, and the label set stays as
    small as the URL map (never one series per key or id). The catch-all of unknown URLs
    is ``<unmatched>``, as a URL that resolves nowhere.
    """
    if raw_route == CATCH_ALL_ROUTE:
        return UNMATCHED_ROUTE
    route = _RE_GROUP.sub(r"{\1}", raw_route)
    route = _PATH_CONVERTER.sub(r"{\1}", route)
    route = route.replace("^", "").replace("$", "").replace("/?", "").replace("\\", "")
    return "/" + route.lstrip("/")


def observe_request(route: str, method: str, status: int, seconds: float) -> None:
    method = method if method in _METHODS else "other"
    HTTP_REQUESTS.labels(route, method, str(status)).inc()
    HTTP_LATENCY.labels(route, method).observe(seconds)


def metrics_view(request: HttpRequest) -> HttpResponse:
    """Prometheus exposition of every worker's metrics. Behind ``METRICS_TOKEN`` if set."""
    token: str = settings.METRICS_TOKEN
    if token:
        supplied = request.META.get("HTTP_AUTHORIZATION", "")
        if not secrets.compare_digest(supplied.encode(), f"Bearer {token}".encode()):
            return error_response(
                code="not_authenticated",
                message="Metrics need the configured bearer token.",
                status=401,
                headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
            )
    if request.method not in ("GET", "HEAD"):
        return error_response(
            code="method_not_allowed",
            message=f'Method "{request.method}" not allowed.',
            status=405,
            headers={"Allow": "GET, HEAD"},
        )
    if multiprocess_mode():
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        for collector in _SCRAPE_COLLECTORS:
            registry.register(collector)
        return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
    response: HttpResponse = ExportToDjangoView(request)
    return response


def multiprocess_mode() -> bool:
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
