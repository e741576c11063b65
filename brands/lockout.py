"""Password-guessing lockout on both staff doors: ``/admin/login/`` and the staff token
endpoint ``POST /api/v1/auth/token/`` (SPEC §4).

django-axes counts failed ``authenticate()`` calls per username and per client IP
(``AXES_LOCKOUT_PARAMETERS``) in its database tables; past ``AXES_FAILURE_LIMIT`` failures
within the cool-off, every attempt on that username or from that IP is refused, the right
password included, until ``AXES_COOLOFF_TIME`` has passed since the last one. This module
holds what the project adds: how a lockout is rendered on each door (429 ``throttled`` on the
API, the admin's login form saying why), the reset policy, the client IP as the rest of the
service sees it, and axes' handler and middleware adapted (no 500 for odd headers, no
per-request cost).

Reset policy: a successful login clears that username's own failures (from any address),
nothing else. axes' ``AXES_RESET_ON_SUCCESS`` would also clear every failure recorded from
the client's IP, so anyone with an account could wipe the per-IP and per-user counts of the
accounts they are guessing at by logging in to their own between guesses.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from asgiref.sync import iscoroutinefunction
from axes.conf import settings as axes_settings
from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_lockout_response
from axes.middleware import AxesMiddleware
from axes.utils import reset as axes_reset
from django.conf import settings
from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse

from license_service.api.errors import error_response
from license_service.errors import Throttled
from license_service.middleware import client_ip


def login_client_ip(request: HttpRequest) -> str | None:
    """``AXES_CLIENT_IP_CALLABLE``: the client IP as the rest of the service sees it
    (``NUM_PROXIES`` hops of X-Forwarded-For), or None when that is no IP address (axes
    stores it in an ``inet`` column on PostgreSQL). Attempts without an IP share one
    per-IP budget."""
    ip = client_ip(request)
    if not ip:
        return None
    try:
        return str(ipaddress.ip_address(ip))
    except ValueError:
        return None


_NUL = "\x00"
_HEADER_ATTRIBUTES = ("axes_user_agent", "axes_http_accept", "axes_path_info")


class LockoutDatabaseHandler(AxesDatabaseHandler):  # type: ignore[misc]  # axes ships no types
    """``AXES_HANDLER``: axes' database handler, storing only what the database can hold.
    axes records the User-Agent and Accept headers with each attempt; PostgreSQL text
    refuses a NUL byte, which a client may send in a header (a 500 on the login, before
    this)."""

    def user_login_failed(
        self, sender: Any, credentials: dict[str, Any], request: Any = None, **kwargs: Any
    ) -> None:
        _storable_headers(request)
        super().user_login_failed(sender, credentials, request, **kwargs)

    def user_logged_in(self, sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
        _storable_headers(request)
        super().user_logged_in(sender, request, user, **kwargs)


def _storable_headers(request: Any) -> None:
    for name in _HEADER_ATTRIBUTES:
        value = getattr(request, name, None)
        if isinstance(value, str) and _NUL in value:
            setattr(request, name, value.replace(_NUL, "\ufffd"))


def cool_off_seconds() -> int:
    cool_off: timedelta = settings.AXES_COOLOFF_TIME
    return max(1, int(cool_off.total_seconds()))


def lockout_message() -> str:
    return (
        "Too many failed logins for this account or from this address; "
        f"retry in {cool_off_seconds()} seconds."
    )


def is_locked_out(request: Any) -> bool:
    """Whether axes refused (or has just locked) the login attempt of this request. axes
    flags the request object it was given (a DRF ``Request`` on the API)."""
    return bool(getattr(request, "axes_locked_out", False))


def login_locked_out() -> Throttled:
    """The API's answer: 429 ``throttled`` with ``Retry-After`` (SPEC §3, §4)."""
    return Throttled(cool_off_seconds(), message=lockout_message())


def login_failures_forget(*, username: str) -> None:
    """A successful login: that username's failures no longer count (the reset policy
    above)."""
    axes_reset(username=username)


@receiver(user_logged_in, dispatch_uid="brands.lockout.forget_failures_on_login")
def _forget_failures_on_login(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    login_failures_forget(username=user.get_username())


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None, credentials: Any
) -> HttpResponse:
    """``AXES_LOCKOUT_CALLABLE``: what ``AxesMiddleware`` answers for a request axes
    locked out. The admin's login page already says why on its form
    (``brands.admin.StaffLoginForm``): it is kept, with status 429. Anything else gets the
    SPEC §3 envelope."""
    retry_after = str(cool_off_seconds())
    if original_response is not None and original_response.get("Content-Type", "").startswith(
        "text/html"
    ):
        original_response.status_code = 429
        original_response["Retry-After"] = retry_after
        return original_response
    return error_response(
        code="throttled",
        message=lockout_message(),
        status=429,
        details={"retry_after": int(retry_after)},
        headers={"Retry-After": retry_after},
    )


class LockoutMiddleware(AxesMiddleware):  # type: ignore[misc]  # axes ships no types
    """axes' middleware (``MIDDLEWARE``, last, as its docs say), as cheap as an attribute
    lookup on every other request: axes' own ``__call__`` asks ``iscoroutinefunction(self)``
    per request (about 3 µs, on the product check too); here that is decided once. axes
    documents subclassing it and overriding ``__call__``."""

    def __init__(self, get_response: Callable[..., Any]) -> None:
        super().__init__(get_response)
        self.is_async = iscoroutinefunction(get_response)

    def __call__(self, request: HttpRequest) -> Any:
        if self.is_async:
            return super().__call__(request)
        response = self.get_response(request)
        if getattr(request, "axes_locked_out", False) and axes_settings.AXES_ENABLED:
            credentials = getattr(request, "axes_credentials", None)
            response = get_lockout_response(request, response, credentials)
        return response
