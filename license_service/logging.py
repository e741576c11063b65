"""Structured logs: one JSON object per line, on stdout.

Every line, whether it comes from structlog or from a stdlib logger (Django, gunicorn,
django-redis), goes through the same ``ProcessorFormatter``: it gets the request id of the
request it belongs to, and secrets are masked as a last line of defence (license keys down
to their display prefix, brand API keys down to their visible prefix, JWTs and password-like
fields entirely). The code that logs still must not log secrets; the masking is for what
slips through, such as a URL in a third-party message.

``AccessLogMiddleware`` writes one line per request (request id, route, status, duration,
brand or staff user, error code, and for product calls the key's display prefix) and feeds
the HTTP metrics from the same clock reading. That line is rendered by the middleware
itself (every field is known and safe) rather than through structlog's processor chain:
it is the only line every request pays for. It never contains the URL, which may carry a
license key; the route is the URL pattern.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, MutableMapping
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

import structlog
from django.conf import settings
from django.utils.functional import LazyObject

from license_service.context import client_ip_var, request_id_var

if TYPE_CHECKING:
    from django.http import HttpRequest, HttpResponseBase

key_prefix_var: ContextVar[str | None] = ContextVar("key_prefix", default=None)

ACCESS_LOGGER = "license_service.access"
_HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_dumps = json.JSONEncoder(ensure_ascii=False, default=str).encode
# Probes and scrapes would drown the access log; they are still counted in the metrics.
QUIET_ROUTES = frozenset({"/healthz", "/readyz", "/metrics"})

# --- masking -----------------------------------------------------------------------------

_SECRET_FIELDS = frozenset(
    {
        "password",
        "api_key",
        "license_key",
        "token",
        "access",
        "refresh",
        "authorization",
        "secret",
        "secret_key",
        "http_authorization",
        "http_x_brand_api_key",
    }
)
_API_KEY = r"(lsk_[A-Za-z0-9_-]{8})[A-Za-z0-9_-]{8,}"
_JWT = r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]+"
_TOKEN_PATTERN = re.compile(f"{_API_KEY}|{_JWT}")
# Anything shaped like a license key (licensing.keys): 2-6 letters and 30 symbols, any
# case, dashes anywhere between them. What it finds is masked when it is a key once its
# dashes are dropped (its checksum holds: the service accepts it in that form) or when it is
# grouped as keys are printed (a key with a typo is still nearly a key); anything else that
# merely has the shape (a request id, a hex digest) is left as it is.
_KEY_SHAPE = re.compile(
    r"(?<![0-9A-Za-z])[A-Za-z](?:-*[A-Za-z]){1,5}-*(?:[0-9A-Za-z]-*){29}[0-9A-Za-z]"
    r"(?![0-9A-Za-z])"
)
_KEY_GROUPED = re.compile(r"([A-Za-z]{2,6}-[0-9A-Za-z]{5})(?:-?[0-9A-Za-z]{5}){5}")
# Characters that str.upper() turns into ASCII letters (the service upper-cases what it is
# given, so a long s, U+017F, works as an "S" in a key), and their expansions.
_UPPER_TO_ASCII = {
    c: c.upper() for c in "\u00df\u0131\u017f\ufb00\ufb01\ufb02\ufb03\ufb04\ufb05\ufb06"
}
_NON_ASCII_LETTERS = re.compile(f"[{''.join(_UPPER_TO_ASCII)}]")
_UPPER_TABLE = str.maketrans(_UPPER_TO_ASCII)
MASK = "[redacted]"
# The first status of each error class: 5xx lines log at ERROR (even on quiet routes), and
# 4xx and 5xx lines carry the answer's error code.
_CLIENT_ERROR = 400
_SERVER_ERROR = 500


def _mask_token(match: re.Match[str]) -> str:
    return f"{match.group(1)}…" if match.group(1) else "[jwt]"


# --- license keys: what a key is, told by the app that owns them -------------------------


@dataclass(frozen=True)
class LicenseKeyRules:
    """How to read a license key, registered by the app that defines keys (licensing's
    ``AppConfig.ready``): this plumbing package imports no app."""

    canonical: Callable[[object], str | None]
    """The canonical key for a value as a customer typed it, or None (may cache)."""
    canonical_uncached: Callable[[str], str | None]
    """The same, uncached: for scanning arbitrary text."""
    display_prefix: Callable[[str], str]
    """What logs may show of a canonical key."""


class _Registered:
    key_rules: LicenseKeyRules | None = None


def register_license_keys(rules: LicenseKeyRules | None) -> None:
    """Install how license keys are read (None: back to the default). Until then anything
    shaped like a key is masked entirely, and a request's ``key_prefix`` is ``MASK``."""
    _Registered.key_rules = rules


def registered_license_keys() -> LicenseKeyRules | None:
    """The rules ``register_license_keys`` installed (None before licensing is ready)."""
    return _Registered.key_rules


# Checksums tried per text before every further key-shaped run is masked unseen: a line
# made of key-shaped garbage (a crafted request line) costs a bounded amount of CPU.
CHECKSUMS_PER_TEXT = 16


def _mask_keys(text: str) -> str:
    rules = _Registered.key_rules
    if rules is None:
        return _KEY_SHAPE.sub(MASK, text)
    budget = CHECKSUMS_PER_TEXT

    def mask_key(match: re.Match[str]) -> str:
        nonlocal budget
        shaped = match.group()
        grouped = _KEY_GROUPED.fullmatch(shaped)
        if grouped is not None:
            return f"{grouped.group(1)}…"
        if budget <= 0:
            return MASK
        budget -= 1
        key = rules.canonical_uncached(shaped.replace("-", ""))
        return f"{rules.display_prefix(key)}…" if key is not None else shaped

    return _KEY_SHAPE.sub(mask_key, text)


def _mask(text: str) -> str:
    return _mask_keys(_TOKEN_PATTERN.sub(_mask_token, text))


def _as_a_url_decodes(text: str) -> str:
    """``text`` as the service would read a key in it: percent-decoded (``%2D`` is a dash
    in a URL path) and with the non-ASCII letters that upper-case to ASCII expanded."""
    if "%" in text:
        text = unquote(text, errors="replace")
    if not text.isascii() and _NON_ASCII_LETTERS.search(text):
        text = text.translate(_UPPER_TABLE)
    return text


# No secret above fits in fewer characters (a JWT's three parts: 16; an API key: 20; a
# license key: 32), and percent-decoding only shortens a text: shorter ASCII texts (most of
# an access line's values) are returned without a scan. (A non-ASCII letter such as "ß"
# may upper-case to two, so those are scanned whatever their length.)
_SHORTEST_SECRET = 16


def mask_secrets_in(text: str) -> str:
    """License keys (in any form the service accepts: any case, any dashes, percent-encoded)
    and API keys cut to their display prefix; JWTs removed. Text without any of them is
    returned as it is."""
    if len(text) < _SHORTEST_SECRET and text.isascii():
        return text
    masked = _mask(text)
    decoded = _as_a_url_decodes(masked)
    if decoded != masked:
        # Only a secret found in the decoded form makes the line change its encoding.
        decoded_masked = _mask(decoded)
        if decoded_masked != decoded:
            return decoded_masked
    return masked


_JSON_NATIVE = (str, int, float, bool, type(None), dict, list, tuple)


def _mask_value(value: Any) -> Any:
    if isinstance(value, str):
        return mask_secrets_in(value)
    if isinstance(value, dict):
        return {
            k: MASK if str(k).lower() in _SECRET_FIELDS else _mask_value(v)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_mask_value(v) for v in value]
    if not isinstance(value, _JSON_NATIVE):
        # What the renderer would print for it (its repr), masked: a framework object in a
        # record's extra, such as Django's WSGIRequest with the URL and its key.
        return mask_secrets_in(repr(value))
    return value


_NEVER_MASKED = frozenset({"timestamp", "level", "logger", "key_prefix"})


def mask_secrets(
    logger: Any, method_name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    for key, value in list(event_dict.items()):
        if key in _NEVER_MASKED:
            continue
        if key.lower() in _SECRET_FIELDS:
            event_dict[key] = MASK
        elif not isinstance(value, int | float | bool | None):
            event_dict[key] = _mask_value(value)
    return event_dict


def add_request_context(
    logger: Any, method_name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """The request id (and key prefix) of the request this line was logged in."""
    request_id = request_id_var.get()
    if request_id:
        event_dict.setdefault("request_id", request_id)
    key_prefix = key_prefix_var.get()
    if key_prefix:
        event_dict.setdefault("key_prefix", key_prefix)
    return event_dict


def _drop_color_message(
    logger: Any, method_name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    event_dict.pop("color_message", None)  # uvicorn/gunicorn extras
    return event_dict


_HEAD = ("timestamp", "level", "event", "logger", "request_id")


def _head_first(
    logger: Any, method_name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """timestamp, level, event first: lines read well in a terminal too."""
    ordered = {key: event_dict.pop(key) for key in _HEAD if key in event_dict}
    ordered.update(event_dict)
    return ordered


_SHARED_PROCESSORS: list[Any] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
    add_request_context,
]


def formatter_config(*, json_output: bool = True) -> dict[str, Any]:
    """A ``logging.config`` formatter entry rendering every record as one JSON line."""
    renderer: Any = (
        structlog.processors.JSONRenderer(sort_keys=False)
        if json_output
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    return {
        "()": structlog.stdlib.ProcessorFormatter,
        "processors": [
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            _drop_color_message,
            structlog.processors.format_exc_info,
            mask_secrets,
            _head_first,
            renderer,
        ],
        "foreign_pre_chain": [*_SHARED_PROCESSORS, structlog.stdlib.ExtraAdder()],
    }


def logging_config(*, level: str = "INFO", json_output: bool = True) -> dict[str, Any]:
    """Django's ``LOGGING``: one stdout handler, JSON lines, quiet third-party loggers."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "json": formatter_config(json_output=json_output),
            # The access line arrives already rendered as JSON (AccessLogMiddleware).
            "raw": {"format": "%(message)s"},
        },
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stdout",
                "formatter": "json",
            },
            "access": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stdout",
                "formatter": "raw",
            },
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            # 4xx are answered and counted; only server errors are worth a stack trace.
            ACCESS_LOGGER: {"handlers": ["access"], "level": "INFO", "propagate": False},
            "django.request": {"level": "ERROR"},
            "django.server": {"level": "WARNING"},
            "django.db.backends": {"level": "WARNING"},
            # Scanners send bad Host headers all day; the access line already says 400.
            "django.security.DisallowedHost": {"level": "CRITICAL"},
        },
    }


def configure_structlog() -> None:
    """structlog loggers hand their event dicts to stdlib logging (and so to the formatter
    above). Idempotent; called from settings."""
    structlog.configure(
        processors=[
            *_SHARED_PROCESSORS,
            structlog.stdlib.filter_by_level,
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )


# --- per-request -------------------------------------------------------------------------


def bind_license_key(key: str | None) -> None:
    """Record which key this product call is about, as its display prefix only.

    Product views call this once they have the canonical key (or None when the input was
    not a key at all); the access line and any other line of the request then carry
    ``key_prefix``. Never pass anything but a canonical key.
    """
    if key is None:
        key_prefix_var.set("invalid")
        return
    rules = _Registered.key_rules
    key_prefix_var.set(rules.display_prefix(key) if rules is not None else MASK)


def _key_prefix_from_url(kwargs: dict[str, Any]) -> str | None:
    raw = kwargs.get("license_key")
    if raw is None:
        return None
    rules = _Registered.key_rules
    if rules is None:
        return MASK
    canonical = rules.canonical(raw)
    return rules.display_prefix(canonical) if canonical else "invalid"


def _principal_fields(request: HttpRequest) -> dict[str, str]:
    # DRF puts the authenticated principal on the Django request too. Only look at what is
    # already resolved: evaluating Django's lazy session user would cost a query.
    user = request.__dict__.get("user")
    if user is None or isinstance(user, LazyObject):
        return {}
    brand = getattr(user, "brand", None)
    if brand is not None:
        return {"brand": brand.slug}
    if getattr(user, "is_staff", False):
        return {"staff": user.get_username()}
    return {}


def _error_code(response: HttpResponseBase) -> str | None:
    if response.streaming or not response.get("Content-Type", "").startswith("application/json"):
        return None
    try:
        code = json.loads(response.content).get("error")  # type: ignore[attr-defined]
    except (ValueError, AttributeError):
        return None
    return code if isinstance(code, str) else None


class AccessLogMiddleware:
    """One JSON line and two metric updates per request. Goes right after
    ``RequestIdMiddleware`` so its clock covers the rest of the stack."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]):
        # Imported here: settings import this module, and metrics must not be created
        # before gunicorn's config has set PROMETHEUS_MULTIPROC_DIR.
        from license_service.metrics import observe_request, route_label  # noqa: PLC0415 (see above)

        self.get_response = get_response
        self.observe = observe_request
        self.route_label = route_label
        # The access line is the one line every request writes, so it skips structlog's
        # processor chain: every field is known and safe, and it is rendered here, once.
        self.logger = logging.getLogger(ACCESS_LOGGER)
        self.enabled = settings.LOG_REQUESTS

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        started = time.perf_counter()
        token = key_prefix_var.set(None)
        try:
            response = self.get_response(request)
            elapsed = time.perf_counter() - started
            match = request.resolver_match
            route = self.route_label(match.route) if match is not None else "<unmatched>"
            status = response.status_code
            self.observe(route, request.method or "", status, elapsed)
            if self.enabled:
                self._log(request, response, route, elapsed, match)
        finally:
            key_prefix_var.reset(token)
        return response

    def _log(
        self,
        request: HttpRequest,
        response: HttpResponseBase,
        route: str,
        elapsed: float,
        match: Any,
    ) -> None:
        status = response.status_code
        if route in QUIET_ROUTES and status < _SERVER_ERROR:
            return
        level = logging.ERROR if status >= _SERVER_ERROR else logging.INFO
        if not self.logger.isEnabledFor(level):
            return
        method = request.method or ""
        request_id = request_id_var.get()
        line: dict[str, Any] = {
            "timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            "level": "error" if level == logging.ERROR else "info",
            "event": "request",
            "logger": ACCESS_LOGGER,
            # A client may send anything sane-looking as its request id, even a key; one
            # the service minted needs no look.
            "request_id": request_id
            if request_id != request.META.get("HTTP_X_REQUEST_ID")
            else mask_secrets_in(request_id),
            "method": method if method in _HTTP_METHODS else method[:16],
            "route": route,
            "status": status,
            "duration_ms": round(elapsed * 1000, 2),
            "client_ip": client_ip_var.get() or request.META.get("REMOTE_ADDR"),
        }
        line.update(_principal_fields(request))
        key_prefix = key_prefix_var.get()
        if key_prefix is None and match is not None:
            key_prefix = _key_prefix_from_url(match.kwargs)
        if key_prefix:
            line["key_prefix"] = key_prefix
        if status >= _CLIENT_ERROR:
            error = _error_code(response)
            if error:
                line["error"] = error
        # A record built here skips Logger._log's stack walk for the caller's file and line.
        self.logger.handle(
            logging.LogRecord(ACCESS_LOGGER, level, __file__, 0, _dumps(line), None, None)
        )
