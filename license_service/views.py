"""Django's own error pages, as the SPEC §3 JSON envelope (only /admin/ keeps HTML).

An unknown URL is answered by ``not_found``, the URL map's last pattern (``CATCH_ALL_ROUTE``),
rather than by ``handler404`` alone: with DEBUG on (``make run``) Django answers a URL that
resolves nowhere with its technical 404 page, HTML listing every URL pattern, and never
calls ``handler404``. A pattern that matches is served the same way whatever DEBUG says.
Unknown pages under /admin/ are matched by the admin's own catch-all first and stay HTML."""

from __future__ import annotations

import sys
from importlib import import_module

from django.conf import settings
from django.contrib import auth
from django.core.exceptions import RequestDataTooBig
from django.db import InterfaceError, OperationalError
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponsePermanentRedirect,
    HttpResponseRedirect,
    JsonResponse,
)
from django.urls import reverse
from django.views import defaults
from django.views.csrf import csrf_failure as django_csrf_failure
from django.views.decorators.csrf import csrf_exempt

from license_service.api.errors import error_response
from license_service.api.exceptions import (
    database_unavailable_response,
    domain_error_response,
    server_error_response,
)
from license_service.errors import PayloadTooLarge


def _is_admin(request: HttpRequest) -> bool:
    return request.path.startswith("/admin/")


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    if isinstance(exception, RequestDataTooBig):  # a plain Django view read a large body
        return domain_error_response(PayloadTooLarge())
    return error_response(code="validation_error", message="Bad request.", status=400)


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _is_admin(request):
        return defaults.permission_denied(request, exception)
    return error_response(code="permission_denied", message="Permission denied.", status=403)


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _is_admin(request):
        return defaults.page_not_found(request, exception)
    return error_response(code="not_found", message="Not found.", status=404)


# Matches every path (``search``, not ``fullmatch``: the pattern has no ``$``); the metrics
# and the access log call it "<unmatched>" (license_service.metrics.route_label).
CATCH_ALL_ROUTE = r"^"


@csrf_exempt  # an unknown URL is a 404 whatever the method, not a CSRF refusal
def not_found(request: HttpRequest) -> HttpResponse:
    return page_not_found(request, Http404())


def server_error(request: HttpRequest) -> HttpResponse:
    exc = sys.exc_info()[1]
    if isinstance(exc, (OperationalError, InterfaceError)):
        return database_unavailable_response()
    return server_error_response()


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    if _is_admin(request):
        return django_csrf_failure(request, reason)
    return error_response(code="permission_denied", message="CSRF check failed.", status=403)


# --- landing (SPEC §15) --------------------------------------------------------------------

API_INDEX = {
    "service": "license-service",
    "links": {
        "docs": "/api/docs/",
        "schema": "/api/schema/",
        "health": "/healthz",
        "admin": "/admin/",
    },
}


def _session_user_is_staff(request: HttpRequest) -> bool:
    """Whether the admin session cookie sent here belongs to an active staff user. The
    session middleware runs under /admin/ only (``license_service.middleware.AdminOnly``):
    this reads the session store itself, read-only, and only on this page."""
    session_key = request.COOKIES.get(settings.SESSION_COOKIE_NAME)
    if not session_key:
        return False
    request.session = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
    user = auth.get_user(request)
    return bool(user.is_active and user.is_staff)


@csrf_exempt  # a POST here is a 405, not a CSRF refusal
def landing(request: HttpRequest) -> HttpResponse:
    """``/``: staff signed in to the admin go to the admin; anyone else gets a small JSON
    index of the API."""
    if request.method not in ("GET", "HEAD"):
        return error_response(code="method_not_allowed", message="Method not allowed.", status=405)
    if _session_user_is_staff(request):
        return HttpResponseRedirect(reverse("admin:index"))
    return JsonResponse(API_INDEX)


def admin_without_slash(request: HttpRequest) -> HttpResponse:
    """``/admin`` is the admin (``APPEND_SLASH`` is off for the API's sake)."""
    return HttpResponsePermanentRedirect(reverse("admin:index"))
