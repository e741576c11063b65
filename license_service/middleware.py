"""Request id on every response, and the client IP for audit rows."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from license_service.context import client_ip_var, request_id_var

_SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def client_ip(request: HttpRequest) -> str | None:
    """The caller's address. X-Forwarded-For is trusted for exactly NUM_PROXIES hops."""
    num_proxies = settings.NUM_PROXIES
    if num_proxies:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
        if len(hops) >= num_proxies:
            return hops[-num_proxies]
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
