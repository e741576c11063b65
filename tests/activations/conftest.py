"""Fixtures of the product API tests: a license with free seats and a product client."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any
from unittest import mock

import pytest
import redis
from django.core.cache import cache
from rest_framework.test import APIClient

from activations.check import keys as check_cache
from brands.models import Product
from license_service.redis import scripts, transport
from license_service.redis.breaker import cache_breaker_reset
from licensing.models import License
from tests.factories import LicenseFactory, LicenseKeyFactory


@pytest.fixture(autouse=True)
def _cache_breaker_closed(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    cache_breaker_reset()
    monkeypatch.setattr(check_cache, "_lost", 0)  # no lost invalidation from another test
    monkeypatch.setattr(check_cache, "_repaired", 0)
    yield
    cache_breaker_reset()


@pytest.fixture
def round_trips(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the hot path's round trips to Redis (the commands each one carried)."""
    calls: list[int] = []
    real_pipeline, real_script = transport.redis_pipeline, transport.redis_script

    def counted(redis: Any, commands: Any) -> Any:
        calls.append(len(commands))
        return real_pipeline(redis, commands)

    def counted_script(script: Any, keys: Any, args: Any) -> Any:
        calls.append(1)  # one script call
        return real_script(script, keys, args)

    monkeypatch.setattr(scripts, "redis_pipeline", counted)
    monkeypatch.setattr(scripts, "redis_script", counted_script)
    return calls


@pytest.fixture
def client() -> APIClient:
    return APIClient()


@pytest.fixture
def license_(product: Product) -> License:
    key = LicenseKeyFactory.create(brand=product.brand, customer_email="user@example.com")
    return LicenseFactory.create(product=product, license_key=key, max_seats=3)


@pytest.fixture
def key(license_: License) -> str:
    return license_.license_key.key


def body(key: str, instance: Any = "https://www.example.com/", product: Any = "rankmath-pro"):
    return {"license_key": key, "product_slug": product, "instance_identifier": instance}


def activate(client: APIClient, key: str, instance: Any = "example.com", **extra: Any) -> Any:
    return client.post("/api/v1/product/activate", body(key, instance, **extra), format="json")


def deactivate(client: APIClient, key: str, instance: Any = "example.com", **extra: Any) -> Any:
    return client.post("/api/v1/product/deactivate", body(key, instance, **extra), format="json")


@contextmanager
def cache_broken() -> Iterator[None]:
    """Every cache call fails as an unreachable cache does: the portable API (in-process
    cache), and on Redis every command however it is sent (django-redis, pipelines, the
    raw round trips of the check path)."""
    down = redis.exceptions.ConnectionError("cache down")
    with ExitStack() as stack:
        for name in ("incr", "add", "get", "get_many", "set", "delete", "delete_many", "touch"):
            stack.enter_context(mock.patch.object(cache, name, side_effect=down))
        stack.enter_context(
            mock.patch.object(redis.Redis, "execute_command", side_effect=down, autospec=True)
        )
        stack.enter_context(
            mock.patch.object(redis.client.Pipeline, "execute", side_effect=down, autospec=True)
        )
        stack.enter_context(
            mock.patch.object(
                redis.connection.Connection, "send_packed_command", side_effect=down, autospec=True
            )
        )
        yield
