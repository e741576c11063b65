"""GET /healthz (no I/O) and GET /readyz (database and cache, 503 naming what failed)."""

from __future__ import annotations

import os
from unittest import mock

import pytest
from django.db import OperationalError, connections
from django.test import override_settings

from tests.conftest import DEAD_REDIS

# Transactional: the replica alias is a second connection to the same test database,
# which must not wait on a test-wide transaction held by the first.
ALL_DATABASES = ["default", "replica"]


def test_healthz_answers_without_touching_the_database(api_client):
    # No django_db mark: any database access in this test would raise.
    response = api_client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response["X-Request-ID"]


def test_healthz_is_not_cached_by_proxies_as_an_html_page(api_client):
    response = api_client.get("/healthz", HTTP_ACCEPT="text/html")
    assert response["Content-Type"] == "application/json"


@pytest.mark.django_db(transaction=True, databases=ALL_DATABASES)
def test_readyz_reports_every_component_ok(api_client):
    response = api_client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["cache"] == "ok"


@pytest.mark.django_db(transaction=True, databases=ALL_DATABASES)
def test_readyz_with_a_dead_cache_is_503_naming_the_cache(api_client):
    with override_settings(CACHES=DEAD_REDIS):
        response = api_client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["success"] is False
    assert body["error"] == "service_unavailable"
    assert body["details"]["failed"] == ["cache"]
    assert body["details"]["checks"]["database"] == "ok"
    assert "cache" in body["message"]
    assert response["Retry-After"]


@pytest.mark.django_db(transaction=True, databases=ALL_DATABASES)
def test_readyz_with_a_dead_database_is_503_naming_the_database(api_client):
    def refuse(*args, **kwargs):
        raise OperationalError("connection refused")

    with mock.patch.object(connections["default"], "cursor", side_effect=refuse):
        response = api_client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["details"]["failed"] == ["database"]
    assert body["details"]["checks"]["cache"] == "ok"


@pytest.mark.django_db(transaction=True, databases=ALL_DATABASES)
def test_readyz_names_a_dead_replica_separately(api_client):
    def refuse(*args, **kwargs):
        raise OperationalError("connection refused")

    with mock.patch.object(connections["replica"], "cursor", side_effect=refuse):
        response = api_client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["details"]["failed"] == ["database_replica"]


def test_probes_refuse_other_methods_with_the_json_envelope(api_client):
    response = api_client.post("/healthz", {}, format="json")
    assert response.status_code == 405
    assert response.json()["error"] == "method_not_allowed"
    assert "GET" in response["Allow"]


@pytest.mark.django_db(transaction=True, databases=ALL_DATABASES)
def test_readyz_leaves_out_an_embedded_broker(api_client):
    with override_settings(CELERY_BROKER_URL="filesystem://"):
        response = api_client.get("/readyz")
    assert response.status_code == 200
    assert "broker" not in response.json()["checks"]


@pytest.mark.django_db(transaction=True, databases=ALL_DATABASES)
def test_readyz_with_a_dead_broker_is_503_naming_the_broker(api_client):
    with override_settings(CELERY_BROKER_URL="redis://127.0.0.1:1/0"):
        response = api_client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["details"]["failed"] == ["broker"]
    assert response.json()["details"]["checks"]["cache"] == "ok"


@pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs Redis (REDIS_URL)")
@pytest.mark.django_db(transaction=True, databases=ALL_DATABASES)
def test_readyz_reports_a_reachable_broker(api_client):
    with override_settings(CELERY_BROKER_URL=os.environ["REDIS_URL"]):
        response = api_client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"]["broker"] == "ok"
