"""The SPEC §3 envelope on Django's and DRF's own errors."""

from __future__ import annotations

import pytest


@pytest.mark.django_db
def test_unknown_url_is_json_404(api_client):
    response = api_client.get("/nope", HTTP_ACCEPT="text/html")
    assert response.status_code == 404
    assert response.json() == {
        "success": False,
        "error": "not_found",
        "message": "Not found.",
        "details": {},
    }


@pytest.mark.django_db
def test_every_response_carries_a_request_id(api_client):
    response = api_client.get("/nope")
    assert len(response["X-Request-ID"]) == 32


@pytest.mark.django_db
def test_sane_request_id_is_echoed(api_client):
    response = api_client.get("/nope", HTTP_X_REQUEST_ID="abc-123")
    assert response["X-Request-ID"] == "abc-123"


@pytest.mark.django_db
def test_insane_request_id_is_replaced(api_client):
    response = api_client.get("/nope", HTTP_X_REQUEST_ID="<script>" * 3)
    assert response["X-Request-ID"] != "<script>" * 3
