"""Request id on every response, and the client IP for audit rows."""

from __future__ import annotations

import ipaddress
import re
import uuid
import weakref
from collections.abc import Callable

from django.conf import settings
from django.contrib.auth import middleware as auth_middleware
from django.contrib.auth.middleware import auser, get_user
from django.http import HttpRequest, HttpResponse
from django.utils.functional import SimpleLazyObject

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


class AuthenticationMiddleware(auth_middleware.AuthenticationMiddleware):
    """Django's, without a reference cycle per request: its ``request.user`` (a closure over
    the request) and ``request.auser`` (a partial of it) held the request that holds them,
    garbage only the cyclic collector could free (ARCHITECTURE.md, garbage collection).
    Here they reach the request through a weak reference; both are used while it lives."""

    def process_request(self, request: HttpRequest) -> None:
        if not hasattr(request, "session"):
            super().process_request(request)  # Django's ImproperlyConfigured
        ref = weakref.ref(request)

        def alive() -> HttpRequest:
            held = ref()
            assert held is not None  # noqa: S101 (only called while the request is served)
            return held

        request.user = SimpleLazyObject(lambda: get_user(alive()))  # type: ignore[assignment]
        request.auser = lambda: auser(alive())
