"""The check, the hot path, leaves no cyclic garbage behind: everything a request made is
freed by reference counting when it ends, so the worker's full garbage collections (which
stop every thread for milliseconds) do not come every second or two under load
(ARCHITECTURE.md). DRF's full views still make cycles (a view and its response refer to
each other); the check runs as a plain Django view."""

from __future__ import annotations

import gc

import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections

from bench.inprocess import call
from brands.models import Product
from tests.factories import LicenseFactory, LicenseKeyFactory


@pytest.mark.django_db
def test_a_check_leaves_no_reference_cycles(product: Product) -> None:
    key = LicenseKeyFactory.create(brand=product.brand)
    LicenseFactory.create(product=product, license_key=key)
    paths = [
        f"/api/v1/product/check/{key.key}",  # a class-based view (HEAD answered by get)
        f"/api/v1/product/check/{key.key}",  # the cached answer
    ]
    # As Django's test client does: the test's transaction keeps its connection open.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        statuses, garbage = _calls(WSGIHandler(), paths)
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)
    assert statuses == [200, 200]
    assert garbage == []


def _calls(app: WSGIHandler, paths: list[str]) -> tuple[list[int], list[str]]:
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
