"""The API offers no way to change or delete an audit event: the license events endpoint
reads, and no documented endpoint about events or audit does anything else."""

from __future__ import annotations

import pytest

from tests.audit.conftest import snapshot

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_the_license_events_endpoint_refuses_every_write_method(
    brand_client, license_, event, method
):
    before = snapshot()
    url = f"/api/v1/brand/licenses/{license_.pk}/events"
    response = getattr(brand_client, method)(url, {"action": "forged"}, format="json")
    assert response.status_code == 405
    assert response.json()["error"] == "method_not_allowed"
    assert snapshot() == before


def test_the_license_events_endpoint_still_lists_the_events(brand_client, license_, event):
    response = brand_client.get(f"/api/v1/brand/licenses/{license_.pk}/events")
    assert response.status_code == 200
    assert "license.suspended" in str(response.json())


def test_every_documented_audit_endpoint_only_reads(api_client):
    paths = api_client.get("/api/schema/").json()["paths"]
    audit_paths = {path: item for path, item in paths.items() if "event" in path or "audit" in path}
    assert audit_paths, "the license events endpoint is documented"
    for path, item in audit_paths.items():
        methods = {m for m in item if m in ("get", "post", "put", "patch", "delete")}
        assert methods == {"get"}, path
