"""Request id on every response, the client IP for audit rows, and the admin-only stack."""

from __future__ import annotations

import ipaddress
import re
import uuid
from collections.abc import Callable
from typing import Any, ClassVar

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse
from django.urls import get_script_prefix, reverse
from django.utils.module_loading import import_string

from license_service.context import client_ip_var, request_id_var

_SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def forwarded_ip(hop: str) -> str | None:
    """The IP address in one ``X-Forwarded-For`` hop, or None when the hop is not one.

    Proxies write ``1.2.3.4``, ``1.2.3.4:5678``, ``2001:db8::1``, ``[2001:db8::1]`` or
    ``[2001:db8::1]:443``, and also ``unknown`` or anything a client made up. Only a real
    address may reach an audit row's ``inet`` column or a rate-limit identity; an IPv6
    zone (``%eth0``) is dropped, as PostgreSQL's ``inet`` refuses it.
    """
    hop = hop.strip()
    if hop.startswith("["):
        hop, bracket, port = hop[1:].partition("]")
        if not bracket or (port and not port.startswith(":")):
            return None
    elif hop.count(":") == 1:  # IPv4 with a port (a bare IPv6 address has at least two)
        hop = hop.partition(":")[0]
    try:
        address = ipaddress.ip_address(hop.partition("%")[0])
    except ValueError:
        return None
    return str(address)


def client_ip(request: HttpRequest) -> str | None:
    """The caller's address. X-Forwarded-For is trusted for exactly NUM_PROXIES hops; a
    trusted hop that is no IP address (``unknown``, garbage) counts as absent, and the
    peer's address (REMOTE_ADDR, the nearest proxy) is used, as when the header is missing.
    Never raises."""
    num_proxies = settings.NUM_PROXIES
    if num_proxies:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        hops = [hop for hop in forwarded.split(",") if hop.strip()]
        if len(hops) >= num_proxies:
            ip = forwarded_ip(hops[-num_proxies])
            if ip is not None:
                return ip
    return request.META.get("REMOTE_ADDR") or None


class RequestIdMiddleware:
    """Echo a sane ``X-Request-ID`` or mint one; expose it to logs and audit rows."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.META.get("HTTP_X_REQUEST_ID", "")
        request_id = incoming if _SANE_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        request.request_id = request_id  # type: ignore[attr-defined]
        ip = client_ip(request)
        id_token = request_id_var.set(request_id)
        ip_token = client_ip_var.set(ip)
        try:
            response = self.get_response(request)
        finally:
            request_id_var.reset(id_token)
            client_ip_var.reset(ip_token)
        response["X-Request-ID"] = request_id
        return response


# --- the admin's middleware, for the admin only ------------------------------------------


class AdminOnly:
    """One of Django's own middleware, run only for requests under the admin's URL prefix;
    every other request goes straight past it.

    Sessions, authentication and messages serve the admin alone: the APIs authenticate by
    API key or JWT (DRF's ``DEFAULT_AUTHENTICATION_CLASSES`` is empty), and no other page
    reads a session. Off the admin they cost time and made a reference cycle per request
    (the lazy ``request.user`` and the message storage hold the request that holds them).
    The wrapped class is Django's, built as Django builds it, untouched: in ``MIDDLEWARE``
    each wrapper stands where the class stood, so the admin sees the same order.

    Only a middleware whose hooks all run inside its ``__call__`` (``process_request`` and
    ``process_response``) can be wrapped: Django collects ``process_view``,
    ``process_exception`` and ``process_template_response`` from the ``MIDDLEWARE`` entry
    itself, so those of a wrapped class would be lost, and wrapping one is refused.
    """

    wrapped: ClassVar[str]
    _HOOKS_CALLED_BY_DJANGO = ("process_view", "process_exception", "process_template_response")

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        self.middleware = import_string(self.wrapped)(get_response)
        lost = [hook for hook in self._HOOKS_CALLED_BY_DJANGO if hasattr(self.middleware, hook)]
        if lost:
            raise ImproperlyConfigured(
                f"{self.wrapped} has {', '.join(lost)}, which AdminOnly cannot run."
            )
        self._prefix: str | None = None

    def admin_prefix(self) -> str:
        """The admin's path (``/admin/``) as ``request.path_info`` shows it, from the URL
        map (reversed once, on the first request: the URLconf is not loaded before)."""
        if self._prefix is None:
            index = reverse("admin:index")
            self._prefix = "/" + index.removeprefix(get_script_prefix())
        return self._prefix

    def __call__(self, request: HttpRequest) -> Any:
        prefix = self._prefix if self._prefix is not None else self.admin_prefix()
        if request.path_info.startswith(prefix):
            return self.middleware(request)
        return self.get_response(request)


def admin_only(dotted_path: str) -> type[AdminOnly]:
    """An ``AdminOnly`` middleware class running the middleware at ``dotted_path``."""
    name = dotted_path.rsplit(".", 1)[-1]
    return type(f"AdminOnly{name}", (AdminOnly,), {"wrapped": dotted_path, "__module__": __name__})


# What MIDDLEWARE names (license_service.settings.base), each in its Django original's place.
AdminSessionMiddleware = admin_only("django.contrib.sessions.middleware.SessionMiddleware")
AdminAuthenticationMiddleware = admin_only(
    "django.contrib.auth.middleware.AuthenticationMiddleware"
)
AdminMessageMiddleware = admin_only("django.contrib.messages.middleware.MessageMiddleware")
