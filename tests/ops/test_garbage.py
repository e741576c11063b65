"""The check, the hot path, leaves no cyclic garbage behind: everything a request made is
freed by reference counting when it ends, so the worker's full garbage collections (which
stop every thread for milliseconds) do not come every second or two under load
(ARCHITECTURE.md). DRF's full views still make cycles (a view and its response refer to
each other); the check runs as a plain Django view.

Session, authentication and message middleware run under /admin/ only
(license_service.middleware.AdminOnly), Django's own classes as shipped: their per-request
cycles (the lazy ``request.user`` closing over the request, the message storage holding it)
are left on admin requests alone. Measured with this module's probe (``gc.DEBUG_SAVEALL``,
objects found unreachable after one request): the check 0, a brand API list 189 (DRF's own;
209 while every request went through the session and message middleware), the admin's login
page 93, its index 180, a changelist 407 (97, 184 and 408 before: the admin's own cycles
dwarf the middleware's eight objects)."""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterable
from typing import Any

import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections

from bench.inprocess import call
from brands.models import Product
from tests.conftest import make_brand_client
from tests.factories import LicenseFactory, LicenseKeyFactory, StaffUserFactory

# What Django's session, authentication and message middleware leave in a cycle per request.
ADMIN_MIDDLEWARE_GARBAGE = {
    "SessionStore",
    "SimpleLazyObject",
    "FallbackStorage",
    "CookieStorage",
    "SessionStorage",
}

# The admin index page left 180 objects (184 with the weakref'd auth and message storage).
ADMIN_INDEX_GARBAGE_BOUND = 400


@pytest.mark.django_db
def test_a_check_leaves_no_reference_cycles(product: Product) -> None:
    key = LicenseKeyFactory.create(brand=product.brand)
    LicenseFactory.create(product=product, license_key=key)
    paths = [
        f"/api/v1/product/check/{key.key}",  # a class-based view (HEAD answered by get)
        f"/api/v1/product/check/{key.key}",  # the cached answer
    ]
    statuses, garbage = _calls(WSGIHandler(), paths)
    assert statuses == [200, 200]
    assert garbage == []


@pytest.mark.django_db
def test_a_json_404_leaves_no_reference_cycles() -> None:
    statuses, garbage = _calls(WSGIHandler(), ["/no/such/page"])
    assert statuses == [404]
    assert garbage == []


@pytest.mark.django_db
def test_the_brand_api_never_meets_the_session_auth_or_message_middleware(
    product: Product,
) -> None:
    """DRF's views make cycles of their own; none comes from the admin's middleware."""
    client = make_brand_client(product.brand)
    app = _with_headers(WSGIHandler(), {"HTTP_X_BRAND_API_KEY": client.api_key})  # type: ignore[attr-defined]
    statuses, garbage = _calls(app, ["/api/v1/brand/licenses"])
    assert statuses == [200]
    assert ADMIN_MIDDLEWARE_GARBAGE.isdisjoint(garbage)


@pytest.mark.django_db
def test_an_admin_request_leaves_the_admins_cycles_and_the_middlewares(client: Any) -> None:
    """Django's own middleware on the admin: its cycles are there, and bounded (180
    objects measured for the index page, 8 of them from the session/auth/message
    middleware)."""
    client.force_login(StaffUserFactory.create(username="ops"))
    session = client.cookies["sessionid"].value
    app = _with_headers(WSGIHandler(), {"HTTP_COOKIE": f"sessionid={session}"})
    statuses, garbage = _calls(app, ["/admin/"])
    assert statuses == [200]
    assert set(garbage) >= ADMIN_MIDDLEWARE_GARBAGE
    assert len(garbage) < ADMIN_INDEX_GARBAGE_BOUND


def _with_headers(app: Any, headers: dict[str, str]) -> Callable[..., Iterable[bytes]]:
    """``app`` with ``headers`` (WSGI ``HTTP_*`` names) on every request."""
    return lambda environ, start_response: app({**environ, **headers}, start_response)


def _calls(app: Any, paths: list[str]) -> tuple[list[int], list[str]]:
    # As Django's test client does: the test's transaction keeps its connection open.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        return _calls_measured(app, paths)
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def _calls_measured(app: Any, paths: list[str]) -> tuple[list[int], list[str]]:
    """The statuses of ``paths``, asked a second time, and what the collector found
    unreachable meanwhile (the first time imports, connects and fills the cache)."""
    for path in paths:
        call(app, "GET", path)
    gc.collect()  # what the setup left
    gc.set_debug(gc.DEBUG_SAVEALL)  # from now on, what the collector finds is kept
    try:
        statuses = [call(app, "GET", path)[0] for path in paths]
        gc.collect()
        return statuses, [type(o).__name__ for o in gc.garbage]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
