"""With Redis unreachable the product API answers correctly from the database, fast."""

from __future__ import annotations

import time

import pytest
from django.test import override_settings

from activations.models import Activation
from license_service.redis import breaker
from tests.activations.conftest import activate, deactivate
from tests.conftest import DEAD_REDIS

pytestmark = pytest.mark.django_db


@pytest.fixture
def dead_redis():
    with override_settings(CACHES=DEAD_REDIS):
        yield
    breaker.cache_breaker_reset()


def timed(call, *args, **kwargs):
    started = time.monotonic()
    response = call(*args, **kwargs)
    assert time.monotonic() - started < 1.0
    return response


def check(client, key: str, **extra: str):
    return client.get(f"/api/v1/product/check/{key}", extra)


@pytest.mark.usefixtures("dead_redis")
def test_product_api_answers_from_the_database_while_redis_is_down(client, key, license_):
    first = timed(activate, client, key, "example.com")
    assert first.status_code == 200
    assert first.json()["seats_used"] == 1

    answer = timed(check, client, key, instance_identifier="example.com").json()
    assert answer["entitlements"][0]["seats_used"] == 1
    assert answer["entitlements"][0]["instance_active"] is True

    assert timed(activate, client, key, "second.example.com").json()["seats_used"] == 2
    assert timed(check, client, key).json()["entitlements"][0]["seats_used"] == 2

    released = timed(deactivate, client, key, "example.com")
    assert released.status_code == 200
    assert released.json()["seats_used"] == 1
    assert timed(check, client, key).json()["entitlements"][0]["seats_used"] == 1
    assert list(Activation.objects.values_list("instance_identifier", flat=True)) == [
        "second.example.com"
    ]


@pytest.mark.usefixtures("dead_redis")
def test_errors_are_still_answered_while_redis_is_down(client, key, product):
    assert timed(check, client, "RNKM-NOT-A-KEY").status_code == 404
    assert timed(activate, client, key, "").status_code == 400
    assert timed(deactivate, client, key, "never.example.com").status_code == 404


@pytest.mark.usefixtures("dead_redis")
def test_dead_redis_is_not_asked_again_at_once(client, key):
    timed(check, client, key)
    assert breaker.cache_unavailable()
    started = time.monotonic()
    for _ in range(20):
        assert check(client, key).status_code == 200
    assert time.monotonic() - started < 1.0
