"""The read-replica router, with two database aliases (``default`` and ``replica``).

In the test settings ``replica`` mirrors the default test database over its own
connection, so the rows are the same and what these tests observe is which connection
each query went through.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, cast

import pytest
from django.db import connections, transaction
from django.http import HttpResponse
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext

from brands.models import Brand
from license_service.routers import (
    PrimaryReplicaRouter,
    ReplicaReadsMiddleware,
    replica_reads,
    replica_was_used,
)
from tests.factories import BrandFactory

pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "replica"])

ROOT = Path(__file__).resolve().parents[2]


class QueryLog:
    """Which alias each query of a block went through."""

    def __enter__(self) -> QueryLog:
        self.primary = CaptureQueriesContext(connections["default"])
        self.replica = CaptureQueriesContext(connections["replica"])
        self.primary.__enter__()
        self.replica.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.replica.__exit__(*exc)
        self.primary.__exit__(*exc)

    @property
    def on_primary(self) -> int:
        return len(self.primary.captured_queries)

    @property
    def on_replica(self) -> int:
        return len(self.replica.captured_queries)


def test_reads_go_to_the_primary_outside_a_replica_scope():
    BrandFactory(slug="acme")
    with QueryLog() as log:
        assert Brand.objects.get(slug="acme").slug == "acme"
    assert (log.on_primary, log.on_replica) == (1, 0)


def test_reads_in_a_replica_scope_go_to_the_replica():
    BrandFactory(slug="acme")
    with QueryLog() as log, replica_reads():
        assert Brand.objects.get(slug="acme").slug == "acme"
        assert replica_was_used()
    assert (log.on_primary, log.on_replica) == (0, 1)


def test_writes_always_go_to_the_primary():
    with QueryLog() as log, replica_reads():
        BrandFactory(slug="acme")
    assert log.on_replica == 0
    assert log.on_primary >= 1
    assert Brand.objects.using("default").filter(slug="acme").exists()


def test_reads_after_a_write_in_the_same_scope_stay_on_the_primary():
    brand = cast(Brand, BrandFactory(slug="acme"))
    with QueryLog() as log, replica_reads():
        Brand.objects.filter(pk=brand.pk).update(name="Acme 2")
        assert Brand.objects.get(pk=brand.pk).name == "Acme 2"
    assert log.on_replica == 0
    assert log.on_primary == 2


def test_row_locks_go_to_the_primary():
    brand = cast(Brand, BrandFactory(slug="acme"))
    with QueryLog() as log, replica_reads(), transaction.atomic():
        locked = Brand.objects.select_for_update().get(pk=brand.pk)
        assert locked.pk == brand.pk
    assert log.on_replica == 0


def test_reads_inside_a_primary_transaction_stay_on_the_primary():
    brand = cast(Brand, BrandFactory(slug="acme"))
    with QueryLog() as log, replica_reads(), transaction.atomic():
        assert Brand.objects.get(pk=brand.pk).slug == "acme"
    assert log.on_replica == 0


def test_migrations_only_run_on_the_primary():
    router = PrimaryReplicaRouter()
    assert router.allow_migrate("default", "brands") is True
    assert router.allow_migrate("replica", "brands") is False


def _middleware_sees(path: str) -> tuple[int, int]:
    BrandFactory(slug="acme")

    def view(request):
        Brand.objects.get(slug="acme")
        return HttpResponse("ok")

    middleware = ReplicaReadsMiddleware(view)
    with QueryLog() as log:
        middleware(RequestFactory().get(path))
    return log.on_primary, log.on_replica


def test_middleware_sends_product_check_reads_to_the_replica():
    assert _middleware_sees("/api/v1/product/check/RNKM-00000") == (0, 1)


def test_middleware_leaves_other_requests_on_the_primary():
    assert _middleware_sees("/api/v1/brand/licenses") == (1, 0)


def test_replica_scope_ends_with_the_request():
    _middleware_sees("/api/v1/product/check")
    with QueryLog() as log:
        Brand.objects.count()
    assert (log.on_primary, log.on_replica) == (1, 0)


def settings_with(**env_vars: str) -> dict[str, Any]:
    """The settings a process started with these variables ends up with."""
    code = (
        "import json; from django.conf import settings; "
        "print(json.dumps({'databases': settings.DATABASES, "
        "'routers': settings.DATABASE_ROUTERS, 'middleware': settings.MIDDLEWARE}, "
        "default=str))"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "license_service.settings.local", **env_vars}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, check=True
    )
    return cast(dict[str, Any], json.loads(out.stdout.strip().splitlines()[-1]))


PRIMARY_URL = "postgres://app@primary.internal:5432/license"
REPLICA_URL = "postgres://app@replica.internal:5432/license"


@pytest.mark.django_db(databases=[])
def test_database_replica_url_installs_alias_router_and_middleware():
    config = settings_with(DATABASE_URL=PRIMARY_URL, DATABASE_REPLICA_URL=REPLICA_URL)
    assert sorted(config["databases"]) == ["default", "replica"]
    assert config["databases"]["replica"]["HOST"] == "replica.internal"
    assert config["databases"]["replica"]["OPTIONS"]["connect_timeout"] == 3
    assert config["routers"] == ["license_service.routers.PrimaryReplicaRouter"]
    assert "license_service.routers.ReplicaReadsMiddleware" in config["middleware"]


@pytest.mark.django_db(databases=[])
def test_without_a_replica_there_is_one_alias_and_no_routing():
    config = settings_with(DATABASE_URL=PRIMARY_URL, DATABASE_REPLICA_URL="")
    assert sorted(config["databases"]) == ["default"]
    assert config["routers"] == []
    assert "license_service.routers.ReplicaReadsMiddleware" not in config["middleware"]


@pytest.mark.django_db(databases=[])
def test_both_aliases_bind_parameters_on_the_server_and_prepare_repeated_queries():
    config = settings_with(DATABASE_URL=PRIMARY_URL, DATABASE_REPLICA_URL=REPLICA_URL)
    for alias in ("default", "replica"):
        options = config["databases"][alias]["OPTIONS"]
        assert options["server_side_binding"] is True
        assert options["prepare_threshold"] == 5
    config = settings_with(DATABASE_URL=PRIMARY_URL, DATABASE_SERVER_SIDE_BINDING="false")
    assert config["databases"]["default"]["OPTIONS"]["server_side_binding"] is False


@pytest.mark.django_db(databases=[])
def test_pgbouncer_mode_avoids_session_state_on_both_aliases():
    config = settings_with(
        DATABASE_URL=PRIMARY_URL, DATABASE_REPLICA_URL=REPLICA_URL, DATABASE_PGBOUNCER="true"
    )
    for alias in ("default", "replica"):
        database = config["databases"][alias]
        assert database["DISABLE_SERVER_SIDE_CURSORS"] is True
        assert database["OPTIONS"]["prepare_threshold"] is None
