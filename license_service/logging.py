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
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

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
# A key with dashes (any case): prefix and first group kept, the rest masked.
_LICENSE_KEY = (
    r"(?<![A-Za-z0-9])([A-Za-z]{2,6}-[0-9A-Za-z]{5})(?:-?[0-9A-Za-z]{5}){5}(?![0-9A-Za-z])"
)
_API_KEY = r"(lsk_[A-Za-z0-9_-]{8})[A-Za-z0-9_-]{8,}"
_JWT = r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]+"
_SECRET_PATTERN = re.compile(f"{_LICENSE_KEY}|{_API_KEY}|{_JWT}")
MASK = "[redacted]"


def _mask_match(match: re.Match[str]) -> str:
    visible = match.group(1) or match.group(2)
    return f"{visible}…" if visible else "[jwt]"


def mask_secrets_in(text: str) -> str:
    """License keys and API keys cut to their display prefix; JWTs removed."""
    return _SECRET_PATTERN.sub(_mask_match, text)


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
        elif isinstance(value, str | dict | list | tuple):
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
    from licensing.keys import key_display_prefix

    key_prefix_var.set(key_display_prefix(key))


def _key_prefix_from_url(kwargs: dict[str, Any]) -> str | None:
    raw = kwargs.get("license_key")
    if raw is None:
        return None
    from licensing.keys import canonical_license_key, key_display_prefix

    canonical = canonical_license_key(raw)
    return key_display_prefix(canonical) if canonical else "invalid"


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
        from license_service.metrics import observe_request, route_label

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
                self._log(request, response, route, status, elapsed, match)
        finally:
            key_prefix_var.reset(token)
        return response

    def _log(
        self,
        request: HttpRequest,
        response: HttpResponseBase,
        route: str,
        status: int,
        elapsed: float,
        match: Any,
    ) -> None:
        if route in QUIET_ROUTES and status < 500:
            return
        level = logging.ERROR if status >= 500 else logging.INFO
        if not self.logger.isEnabledFor(level):
            return
        method = request.method or ""
        line: dict[str, Any] = {
            "timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            "level": "error" if level == logging.ERROR else "info",
            "event": "request",
            "logger": ACCESS_LOGGER,
            # A client may send anything sane-looking as its request id, even a key.
            "request_id": mask_secrets_in(request_id_var.get()),
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
        if status >= 400:
            error = _error_code(response)
            if error:
                line["error"] = error
        # A record built here skips Logger._log's stack walk for the caller's file and line.
        self.logger.handle(
            logging.LogRecord(ACCESS_LOGGER, level, __file__, 0, _dumps(line), None, None)
        )
