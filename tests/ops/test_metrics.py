"""GET /metrics: per-route HTTP counts and latency, and the domain counters."""

from __future__ import annotations

import pytest
from django.test import override_settings
from prometheus_client.parser import text_string_to_metric_families

from license_service import metrics


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample in a Prometheus exposition (0 when absent)."""
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return s.value
    return 0.0


def scrape(client) -> str:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    return response.content.decode()


def test_requests_are_counted_by_route_method_and_status(api_client):
    labels = {"route": "/healthz", "method": "GET", "status": "200"}
    before = sample(scrape(api_client), "http_requests_total", **labels)
    for _ in range(3):
        api_client.get("/healthz")
    after = scrape(api_client)
    assert sample(after, "http_requests_total", **labels) == before + 3
    assert sample(after, "http_request_duration_seconds_count", route="/healthz", method="GET")


def test_unknown_urls_share_one_series(api_client):
    before = sample(scrape(api_client), "http_requests_total", route="<unmatched>", status="404")
    api_client.get("/no/such/page/1")
    api_client.get("/no/such/page/2")
    after = sample(scrape(api_client), "http_requests_total", route="<unmatched>", status="404")
    assert after == before + 2


def test_odd_methods_do_not_create_new_series(api_client):
    api_client.generic("BREW", "/healthz")
    text = scrape(api_client)
    assert 'method="BREW"' not in text
    assert sample(text, "http_requests_total", route="/healthz", method="other", status="405")


@pytest.mark.parametrize(
    ("raw", "label"),
    [
        (
            "api/v1/brand/^licenses/(?P<license_id>[0-9]{1,18})/?$",
            "/api/v1/brand/licenses/{license_id}",
        ),
        ("api/v1/product/check/<str:license_key>", "/api/v1/product/check/{license_key}"),
        ("api/v1/brands/<slug:slug>/api-keys/", "/api/v1/brands/{slug}/api-keys/"),
        ("healthz", "/healthz"),
    ],
)
def test_route_labels_are_url_patterns_never_values(raw, label):
    assert metrics.route_label(raw) == label


def test_domain_counters_are_exposed(api_client):
    text = scrape(api_client)
    before = {
        "activated": sample(text, "license_activation_total", outcome="activated"),
        "seats": sample(text, "license_activation_total", outcome="seat_limit_exceeded"),
        "found": sample(text, "license_check_total", outcome="found"),
        "hit": sample(text, "license_check_cache_total", result="hit"),
        "miss": sample(text, "license_check_cache_total", result="miss"),
        "released": sample(text, "license_deactivation_total", outcome="released"),
        "beat": sample(text, "license_heartbeat_total", outcome="active"),
    }
    metrics.record_activation("activated")
    metrics.record_activation("seat_limit_exceeded")
    metrics.record_check("found")
    metrics.record_check_cache("hit")
    metrics.record_check_cache("miss")
    metrics.record_deactivation("released")
    metrics.record_heartbeat("active")
    text = scrape(api_client)
    assert sample(text, "license_activation_total", outcome="activated") == before["activated"] + 1
    assert (
        sample(text, "license_activation_total", outcome="seat_limit_exceeded")
        == before["seats"] + 1
    )
    assert sample(text, "license_check_total", outcome="found") == before["found"] + 1
    assert sample(text, "license_check_cache_total", result="hit") == before["hit"] + 1
    assert sample(text, "license_check_cache_total", result="miss") == before["miss"] + 1
    assert sample(text, "license_deactivation_total", outcome="released") == before["released"] + 1
    assert sample(text, "license_heartbeat_total", outcome="active") == before["beat"] + 1


def test_unexpected_outcomes_are_counted_as_other(api_client):
    before = sample(scrape(api_client), "license_activation_total", outcome="other")
    metrics.record_activation("RNKM-ABCDE-made-up-by-a-bug")
    text = scrape(api_client)
    assert "made-up" not in text
    assert sample(text, "license_activation_total", outcome="other") == before + 1


def test_every_outcome_series_exists_before_its_first_event(api_client):
    text = scrape(api_client)
    for outcome in ("license_suspended", "license_expired", "license_not_found"):
        assert f'license_activation_total{{outcome="{outcome}"}}' in text


@override_settings(METRICS_TOKEN="scrape-secret")
def test_metrics_token_is_required_when_configured(api_client):
    assert api_client.get("/metrics").status_code == 401
    wrong = api_client.get("/metrics", HTTP_AUTHORIZATION="Bearer nope")
    assert wrong.status_code == 401
    assert wrong.json()["error"] == "not_authenticated"
    ok = api_client.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-secret")
    assert ok.status_code == 200


def test_metrics_refuses_writes(api_client):
    response = api_client.post("/metrics")
    assert response.status_code == 405
    assert response.json()["error"] == "method_not_allowed"
