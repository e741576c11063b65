"""Shared fixtures: brands, products, credentials and API clients."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.cache import cache
from django.db import connection
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from activations.check.near import near_cache_reset
from audit.services import Actor
from brands.models import SCOPE_ECOSYSTEM_READ, Brand, Product
from brands.services import api_key_create
from tests.factories import BrandFactory, ProductFactory, StaffUserFactory

pytest_plugins = ["tests.skip_report"]

# Production's django-redis options (license_service.settings.base), pointed at a port where
# nothing listens.
DEAD_REDIS = {
    "default": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": "redis://127.0.0.1:1/0",
        "OPTIONS": {
            "CLIENT_CLASS": "django_redis.client.DefaultClient",
            "SOCKET_CONNECT_TIMEOUT": 0.25,
            "SOCKET_TIMEOUT": 0.25,
            "IGNORE_EXCEPTIONS": True,
            "LOG_IGNORED_EXCEPTIONS": False,
            "CONNECTION_POOL_KWARGS": {"max_connections": 50, "retry_on_timeout": False},
        },
    }
}


requires_postgres = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="needs PostgreSQL row locks"
)


@pytest.fixture(autouse=True)
def _clear_cache() -> Iterator[None]:
    near_cache_reset()  # no answer nor rate-limit count from another test
    cache.clear()
    yield
    cache.clear()
    near_cache_reset()


@pytest.fixture(autouse=True)
def _root_log_level() -> Iterator[None]:
    """The root logger's level as the settings left it, after every test: Celery's test
    worker (``celery.contrib.testing.worker.start_worker``) sets it to its own log level
    (ERROR), and a later test's INFO lines would then go nowhere."""
    level = logging.root.level
    yield
    logging.root.setLevel(level)


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def brand(db: Any) -> Brand:
    return BrandFactory.create(name="RankMath", slug="rankmath", key_prefix="RNKM")


@pytest.fixture
def other_brand(db: Any) -> Brand:
    return BrandFactory.create(name="WP Rocket", slug="wp-rocket", key_prefix="WPRK")


@pytest.fixture
def product(brand: Brand) -> Product:
    return ProductFactory.create(
        brand=brand, name="RankMath Pro", slug="rankmath-pro", default_max_seats=3
    )


@pytest.fixture
def other_product(other_brand: Brand) -> Product:
    return ProductFactory.create(
        brand=other_brand, name="WP Rocket", slug="wp-rocket", default_max_seats=1
    )


def make_brand_client(brand: Brand, scopes: list[str] | None = None) -> APIClient:
    _, plain = api_key_create(brand=brand, name="test", scopes=scopes, actor=Actor.system())
    client = APIClient()
    client.credentials(HTTP_X_BRAND_API_KEY=plain)
    client.api_key = plain  # type: ignore[attr-defined]  # the client carries its key for tests
    return client


@pytest.fixture
def brand_client(brand: Brand) -> APIClient:
    return make_brand_client(brand)


@pytest.fixture
def other_brand_client(other_brand: Brand) -> APIClient:
    return make_brand_client(other_brand)


@pytest.fixture
def ecosystem_client(brand: Brand) -> APIClient:
    return make_brand_client(
        brand, scopes=["licenses:read", "licenses:write", SCOPE_ECOSYSTEM_READ]
    )


@pytest.fixture
def staff_user(db: Any) -> Any:
    return StaffUserFactory.create(username="ops")


@pytest.fixture
def staff_client(staff_user: Any) -> APIClient:
    client = APIClient()
    token = RefreshToken.for_user(staff_user).access_token
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client
