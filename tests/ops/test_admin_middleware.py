"""Session, authentication and message middleware run under /admin/ only
(license_service.middleware.AdminOnly): the admin works as before, with a real login, and
nothing else gets a session, a user or a message store from them."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.contrib.auth.middleware import AuthenticationMiddleware
from django.contrib.messages.middleware import MessageMiddleware
from django.contrib.sessions.middleware import SessionMiddleware
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse
from django.test import Client, RequestFactory
from django.utils.module_loading import import_string

from audit.services import Actor
from brands.models import BrandApiKey, Product
from brands.services import api_key_create
from license_service.middleware import (
    AdminAuthenticationMiddleware,
    AdminMessageMiddleware,
    AdminOnly,
    AdminSessionMiddleware,
    admin_only,
)
from tests.factories import StaffUserFactory

pytestmark = pytest.mark.django_db


def test_the_admin_logs_in_lists_and_shows_an_actions_message(product: Product) -> None:
    """What admin.E408/E409/E410 guard (they are silenced: the middleware is wrapped)."""
    StaffUserFactory.create(username="ops")
    key, _ = api_key_create(brand=product.brand, name="ci", scopes=None, actor=Actor.system())
    client = Client()
    assert client.get("/admin/").status_code == 302  # to the login page: no session yet
    login = client.post(
        "/admin/login/", {"username": "ops", "password": "staff-password", "next": "/admin/"}
    )
    assert login.status_code == 302
    assert login["Location"] == "/admin/"
    assert settings.SESSION_COOKIE_NAME in login.cookies
    changelist = client.get("/admin/brands/brandapikey/")
    assert changelist.status_code == 200
    assert b"ci" in changelist.content
    revoked = client.post(
        "/admin/brands/brandapikey/",
        {"action": "revoke", "index": 0, "_selected_action": [key.pk]},
        follow=True,
    )
    assert revoked.status_code == 200
    # The message, stored by the action and shown by the page after the redirect.
    assert b"Revoked 1 API key(s)." in revoked.content
    assert BrandApiKey.objects.get(pk=key.pk).revoked_at is not None


def test_an_api_response_sets_no_session_cookie_after_an_admin_login(product: Product) -> None:
    StaffUserFactory.create(username="ops")
    client = Client()
    client.post("/admin/login/", {"username": "ops", "password": "staff-password"})
    response = client.get("/api/v1/product/check/NOPE-00000")
    assert response.status_code == 404
    assert not response.cookies
    assert "Cookie" not in response.get("Vary", "")


def seen_by_the_view(middleware: type[AdminOnly], path: str) -> HttpRequest:
    seen: list[HttpRequest] = []

    def view(request: HttpRequest) -> HttpResponse:
        seen.append(request)
        return HttpResponse("ok")

    middleware(view)(RequestFactory().get(path))
    return seen[0]


@pytest.mark.parametrize(
    "path", ["/api/v1/product/check/X", "/api/v1/brands/", "/api/docs/", "/healthz", "/admin"]
)
def test_outside_the_admin_the_request_goes_straight_past(path: str) -> None:
    for middleware in (
        AdminSessionMiddleware,
        AdminAuthenticationMiddleware,
        AdminMessageMiddleware,
    ):
        request = seen_by_the_view(middleware, path)
        for attribute in ("session", "user", "auser", "_messages"):
            assert not hasattr(request, attribute), (middleware, attribute)


def test_under_the_admin_djangos_own_middleware_runs() -> None:
    assert hasattr(seen_by_the_view(AdminSessionMiddleware, "/admin/login/"), "session")
    session_then_auth = AdminSessionMiddleware(AdminAuthenticationMiddleware(lambda r: r))
    request = session_then_auth(RequestFactory().get("/admin/"))
    assert request.user.is_anonymous


def test_the_wrappers_build_djangos_own_classes_in_their_usual_places() -> None:
    wrapped = {
        "license_service.middleware.AdminSessionMiddleware": SessionMiddleware,
        "license_service.middleware.AdminAuthenticationMiddleware": AuthenticationMiddleware,
        "license_service.middleware.AdminMessageMiddleware": MessageMiddleware,
    }
    order = [
        import_string(path).wrapped if path in wrapped else path for path in settings.MIDDLEWARE
    ]
    admin_stack = [
        "django.contrib.sessions.middleware.SessionMiddleware",
        "django.middleware.common.CommonMiddleware",
        "django.middleware.csrf.CsrfViewMiddleware",
        "django.contrib.auth.middleware.AuthenticationMiddleware",
        "django.contrib.messages.middleware.MessageMiddleware",
        "django.middleware.clickjacking.XFrameOptionsMiddleware",
        "brands.lockout.LockoutMiddleware",
    ]
    assert order[-len(admin_stack) :] == admin_stack
    for path, cls in wrapped.items():
        assert type(import_string(path)(lambda r: r).middleware) is cls


def test_a_middleware_with_hooks_django_calls_itself_is_refused() -> None:
    with pytest.raises(ImproperlyConfigured, match="process_view"):
        admin_only("django.middleware.csrf.CsrfViewMiddleware")(lambda r: r)
