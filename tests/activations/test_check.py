"""US4: GET /api/v1/product/check/{key} and POST /api/v1/product/check, and their cache."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from unittest import mock
from urllib.parse import quote

import pytest
from django.core.cache import cache
from django.db import OperationalError, connection, connections
from django.utils import timezone

from activations.check import facts as selectors
from activations.check.keys import check_cache_forget, check_cache_key
from activations.models import Activation
from licensing.models import License
from tests.activations.conftest import activate, deactivate
from tests.conftest import requires_postgres
from tests.factories import ActivationFactory, LicenseFactory, LicenseKeyFactory, ProductFactory

pytestmark = pytest.mark.django_db


def check(client, key: str, **params: str):
    query = "&".join(f"{name}={quote(value)}" for name, value in params.items())
    return client.get(f"/api/v1/product/check/{key}" + (f"?{query}" if query else ""))


def test_check_reports_every_entitlement_of_the_key(client, key, license_, brand):
    other = ProductFactory.create(brand=brand, slug="content-ai", default_max_seats=None)
    expires_at = timezone.now() + timedelta(days=10)
    second = LicenseFactory.create(
        product=other, license_key=license_.license_key, max_seats=None, expires_at=expires_at
    )
    ActivationFactory.create(license=license_)
    response = check(client, key)
    assert response.status_code == 200
    assert response.json() == {
        "success": True,
        "license_key": key,
        "brand": "rankmath",
        "customer_email_masked": "u***@example.com",
        "entitlements": [
            {
                "product_slug": "rankmath-pro",
                "license_id": license_.id,
                "status": "valid",
                "expires_at": None,
                "seats_used": 1,
                "max_seats": 3,
                "seats_remaining": 2,
                "non_production_in_use": 0,
            },
            {
                "product_slug": "content-ai",
                "license_id": second.id,
                "status": "valid",
                "expires_at": expires_at.isoformat().replace("+00:00", "Z"),
                "seats_used": 0,
                "max_seats": None,
                "seats_remaining": None,
                "non_production_in_use": 0,
            },
        ],
    }


def test_post_check_answers_like_get(client, key):
    posted = client.post("/api/v1/product/check", {"license_key": key}, format="json")
    assert posted.status_code == 200
    assert posted.json() == check(client, key).json()


def test_key_is_accepted_in_lower_case_without_dashes(client, key):
    response = check(client, key.lower().replace("-", ""))
    assert response.status_code == 200
    assert response.json()["license_key"] == key


def test_full_email_is_never_returned(client, key):
    response = check(client, key)
    assert b"user@example.com" not in response.content


def test_product_slug_reports_only_that_entitlement(client, key, license_, brand):
    LicenseFactory.create(
        product=ProductFactory.create(brand=brand, slug="content-ai"),
        license_key=license_.license_key,
    )
    response = check(client, key, product_slug="content-ai")
    assert [e["product_slug"] for e in response.json()["entitlements"]] == ["content-ai"]


def test_product_the_key_lacks_is_license_not_found(client, key):
    response = check(client, key, product_slug="wp-rocket")
    assert response.status_code == 404
    assert response.json()["error"] == "license_not_found"


@pytest.mark.parametrize(
    ("changes", "status"),
    [
        ({"status": License.Status.SUSPENDED}, "suspended"),
        ({"status": License.Status.CANCELLED}, "cancelled"),
        ({"expires_at": timezone.now() - timedelta(seconds=1)}, "expired"),
        ({"status": License.Status.CANCELLED, "expires_at": timezone.now()}, "cancelled"),
    ],
)
def test_check_reports_the_effective_status(client, key, license_, changes, status):
    License.objects.filter(pk=license_.pk).update(**changes)
    assert check(client, key).json()["entitlements"][0]["status"] == status


def test_instance_identifier_adds_instance_active(client, key, license_, brand):
    other = LicenseFactory.create(
        product=ProductFactory.create(brand=brand, slug="content-ai"),
        license_key=license_.license_key,
    )
    ActivationFactory.create(license=license_, instance_identifier="example.com/blog")
    ActivationFactory.create(license=other, instance_identifier="example.com")
    response = check(client, key, instance_identifier="https://www.example.com/blog/")
    entitlements = response.json()["entitlements"]
    assert [e["instance_active"] for e in entitlements] == [True, False]
    assert "instance_active" not in check(client, key).json()["entitlements"][0]


def test_instance_active_is_answered_for_licenses_with_very_many_seats(
    client, key, license_, monkeypatch, django_assert_num_queries
):
    monkeypatch.setattr("activations.check.facts.MAX_CACHED_INSTANCES", 1)
    ActivationFactory.create(license=license_, instance_identifier="example.com")
    ActivationFactory.create(license=license_, instance_identifier="other.example.com")
    check(client, key, instance_identifier="other.example.com")  # fills cache, heartbeat
    with django_assert_num_queries(1):  # the instances of this license are not cached
        active = check(client, key, instance_identifier="other.example.com")
    inactive = check(client, key, instance_identifier="x.example.com")
    assert active.json()["entitlements"][0]["instance_active"] is True
    assert inactive.json()["entitlements"][0]["instance_active"] is False


def test_unknown_key_is_license_not_found(client, product):
    unknown = LicenseFactory.build(product=product).license_key.key
    response = check(client, unknown)
    assert response.status_code == 404
    assert response.json() == {
        "success": False,
        "error": "license_not_found",
        "message": "No license found for this key.",
        "details": {},
    }


@pytest.mark.parametrize(
    "raw", ["RNKM-00000-00000-00000-00000-00000-00000", "not-a-key", "%00", "x" * 300]
)
def test_key_failing_its_checksum_costs_no_lookup(client, raw, django_assert_num_queries):
    with (
        mock.patch.object(cache, "get_many", wraps=cache.get_many) as get_many,
        django_assert_num_queries(0),
    ):
        response = client.get(f"/api/v1/product/check/{raw}")
    assert response.status_code == 404
    assert response.json()["error"] == "license_not_found"
    get_many.assert_not_called()


# --- heartbeat ---------------------------------------------------------------------------------


def test_check_with_an_instance_is_a_heartbeat(client, key, license_):
    long_ago = timezone.now() - timedelta(days=2)
    activation = ActivationFactory.create(license=license_, instance_identifier="example.com")
    Activation.objects.update(last_seen_at=long_ago)
    check(client, key, instance_identifier="example.com")
    activation.refresh_from_db()
    assert timezone.now() - activation.last_seen_at < timedelta(minutes=1)


def test_heartbeat_is_written_at_most_once_per_interval(client, key, license_, settings):
    settings.LICENSE_SERVICE = {**settings.LICENSE_SERVICE, "HEARTBEAT_INTERVAL": 3600}
    long_ago = timezone.now() - timedelta(days=2)
    ActivationFactory.create(license=license_, instance_identifier="example.com")
    check(client, key, instance_identifier="example.com")
    Activation.objects.update(last_seen_at=long_ago)
    check(client, key, instance_identifier="example.com")
    assert Activation.objects.get().last_seen_at == long_ago


def test_heartbeat_interval_of_zero_writes_every_time(client, key, license_, settings):
    settings.LICENSE_SERVICE = {**settings.LICENSE_SERVICE, "HEARTBEAT_INTERVAL": 0}
    long_ago = timezone.now() - timedelta(days=2)
    ActivationFactory.create(license=license_, instance_identifier="example.com")
    check(client, key, instance_identifier="example.com")
    Activation.objects.update(last_seen_at=long_ago)
    check(client, key, instance_identifier="example.com")
    assert Activation.objects.get().last_seen_at > long_ago


def test_inactive_instance_writes_no_heartbeat(client, key, django_assert_num_queries):
    check(client, key)
    with django_assert_num_queries(0):
        response = check(client, key, instance_identifier="stranger.example.com")
    assert response.json()["entitlements"][0]["instance_active"] is False


# --- the cache ---------------------------------------------------------------------------------


def test_cache_hit_costs_no_sql_query(client, key, license_, django_assert_num_queries):
    ActivationFactory.create(license=license_, instance_identifier="example.com")
    with django_assert_num_queries(2):
        first = check(client, key)
    with django_assert_num_queries(0):
        second = check(client, key)
    with django_assert_num_queries(0):
        posted = client.post("/api/v1/product/check", {"license_key": key}, format="json")
    assert first.json() == second.json() == posted.json()


def test_heartbeat_does_not_defeat_the_cache(client, key, license_, django_assert_num_queries):
    ActivationFactory.create(license=license_, instance_identifier="example.com")
    check(client, key, instance_identifier="example.com")  # miss + first heartbeat
    with django_assert_num_queries(0):
        response = check(client, key, instance_identifier="example.com")
    assert response.json()["entitlements"][0]["instance_active"] is True


def test_cache_miss_costs_at_most_two_queries(
    client, key, license_, brand, django_assert_max_num_queries
):
    for slug in ("a", "b", "c"):
        lic = LicenseFactory.create(
            product=ProductFactory.create(brand=brand, slug=slug), license_key=license_.license_key
        )
        ActivationFactory.create_batch(2, license=lic)
    with django_assert_max_num_queries(2):
        response = check(client, key)
    assert [e["seats_used"] for e in response.json()["entitlements"]] == [0, 2, 2, 2]


def test_cached_answer_turns_expired_on_time(client, key, license_):
    expires_at = timezone.now() + timedelta(minutes=5)
    License.objects.filter(pk=license_.pk).update(expires_at=expires_at)
    assert check(client, key).json()["entitlements"][0]["status"] == "valid"
    later = expires_at + timedelta(seconds=1)
    with mock.patch("django.utils.timezone.now", return_value=later):
        answer = check(client, key).json()
    assert answer["entitlements"][0]["status"] == "expired"


def stored_ttl(cache_key: str) -> float:
    """Seconds the cache will keep this key (Redis or the in-process cache)."""
    if hasattr(cache, "ttl"):  # django-redis
        return float(cache.ttl(cache_key))
    return cache._expire_info[cache.make_key(cache_key)] - time.time()  # type: ignore[attr-defined]  # noqa: SLF001 (LocMemCache keeps TTLs only there)


def test_cached_answer_lives_at_most_the_configured_ttl(client, key, settings):
    settings.LICENSE_SERVICE = {**settings.LICENSE_SERVICE, "CHECK_CACHE_TTL": 7}
    check(client, key)
    assert cache.get(check_cache_key(key))[2]["license_key"] == key
    assert 5 < stored_ttl(check_cache_key(key)) <= 7


def test_activation_drops_the_cached_answer(client, key, django_capture_on_commit_callbacks):
    assert check(client, key).json()["entitlements"][0]["seats_used"] == 0
    with django_capture_on_commit_callbacks(execute=True):
        activate(client, key, "example.com")
    answer = check(client, key, instance_identifier="example.com").json()["entitlements"][0]
    assert (answer["seats_used"], answer["instance_active"]) == (1, True)


def test_deactivation_drops_the_cached_answer(
    client, key, license_, django_capture_on_commit_callbacks
):
    ActivationFactory.create(license=license_, instance_identifier="example.com")
    assert check(client, key).json()["entitlements"][0]["seats_used"] == 1
    with django_capture_on_commit_callbacks(execute=True):
        deactivate(client, key, "example.com")
    answer = check(client, key, instance_identifier="example.com").json()["entitlements"][0]
    assert (answer["seats_used"], answer["instance_active"]) == (0, False)


def test_repeated_activation_keeps_the_cached_answer(
    client, key, license_, django_capture_on_commit_callbacks
):
    ActivationFactory.create(license=license_, instance_identifier="example.com")
    check(client, key)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        activate(client, key, "example.com")
    assert callbacks == []
    assert cache.get(check_cache_key(key)) is not None


def test_unknown_key_is_negatively_cached(client, product, settings, django_assert_num_queries):
    settings.LICENSE_SERVICE = {**settings.LICENSE_SERVICE, "CHECK_NEGATIVE_CACHE_TTL": 9}
    license_key = LicenseKeyFactory.build(brand=product.brand)
    assert check(client, license_key.key).status_code == 404
    entry_key = check_cache_key(license_key.key)
    assert cache.get(entry_key)[2] is None  # the entry of an unknown key
    assert 7 < stored_ttl(entry_key) <= 9
    with django_assert_num_queries(0):
        assert check(client, license_key.key).status_code == 404


def test_provisioning_forgets_the_negative_entry(client, product):
    license_key = LicenseKeyFactory.build(brand=product.brand)
    assert check(client, license_key.key).status_code == 404
    license_key.save()
    LicenseFactory.create(product=product, license_key=license_key)
    check_cache_forget(license_key.key)  # what licensing's services do after commit
    assert check(client, license_key.key).status_code == 200


# --- bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("instance_identifier=", "instance_identifier"),
        ("instance_identifier=%20%20", "instance_identifier"),
        ("instance_identifier=a%00b", "instance_identifier"),
        ("instance_identifier=a%1Bb", "instance_identifier"),
        (f"instance_identifier={'a' * 256}", "instance_identifier"),
        (f"instance_identifier={'a' * 3000}", "instance_identifier"),
        ("product_slug=", "product_slug"),
        ("product_slug=a%00", "product_slug"),
        (f"product_slug={'p' * 51}", "product_slug"),
    ],
)
def test_invalid_query_is_a_validation_error(client, key, query, field):
    response = client.get(f"/api/v1/product/check/{key}?{query}")
    assert response.status_code == 400
    assert response.json()["error"] == "validation_error"
    assert field in response.json()["details"]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "license_key"),
        ({"license_key": 123}, "license_key"),
        ({"license_key": ["K"]}, "license_key"),
        ({"license_key": {"a": 1}}, "license_key"),
        ({"license_key": True}, "license_key"),
        ({"license_key": ""}, "license_key"),
        ({"license_key": "K" * 65}, "license_key"),
        ({"license_key": "K", "product_slug": 5}, "product_slug"),
        ({"license_key": "K", "instance_identifier": ""}, "instance_identifier"),
        ({"license_key": "K", "instance_identifier": ["x"]}, "instance_identifier"),
    ],
)
def test_invalid_post_body_is_a_validation_error(client, key, payload, field):
    payload = {name: key if value == "K" else value for name, value in payload.items()}
    response = client.post("/api/v1/product/check", payload, format="json")
    assert response.status_code == 400
    assert response.json()["error"] == "validation_error"
    assert field in response.json()["details"]


@pytest.mark.parametrize(
    "raw",
    [b"{", b"[]", b"1", b'{"license_key": "\\ud800"}', b'{"license_key": "a\\u0000"}', b"\xff"],
)
def test_malformed_post_body_is_a_validation_error(client, raw):
    response = client.post("/api/v1/product/check", raw, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"] == "validation_error"


def test_post_check_needs_json(client, key):
    response = client.post("/api/v1/product/check", f"license_key={key}", content_type="text/plain")
    assert response.status_code == 415
    assert response.json()["error"] == "unsupported_media_type"


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("put", "/api/v1/product/check/KEY"),
        ("post", "/api/v1/product/check/KEY"),
        ("get", "/api/v1/product/check"),
        ("delete", "/api/v1/product/check"),
    ],
)
def test_wrong_method_is_405(client, key, method, url):
    response = getattr(client, method)(url.replace("KEY", key))
    assert response.status_code == 405
    assert response.json()["error"] == "method_not_allowed"


def test_head_check_answers_without_a_body(client, key):
    response = client.head(f"/api/v1/product/check/{key}")
    assert response.status_code == 200
    assert response.content == b""


def test_long_identifier_goes_in_the_body_not_the_query(client, key):
    long_url = "https://example.com/?utm=" + "x" * 300  # normalizes to example.com
    response = check(client, key, instance_identifier=long_url)
    assert response.status_code == 400
    assert "instance_identifier" in response.json()["details"]
    body = {"license_key": key, "instance_identifier": long_url}
    response = client.post("/api/v1/product/check", body, format="json")
    assert response.status_code == 200
    assert response.json()["entitlements"][0]["instance_active"] is False


# --- the miss path's optimistic connection reuse ---------------------------------------------


@pytest.fixture
def kept_connection() -> Iterator[Any]:
    """The default connection as a request finds it: open, health check enabled, not done."""
    kept: Any = connection  # django-stubs lack health_check_*
    kept.ensure_connection()
    saved = kept.health_check_enabled, kept.health_check_done
    kept.health_check_enabled, kept.health_check_done = True, False
    yield kept
    kept.health_check_enabled, kept.health_check_done = saved


@pytest.mark.django_db(transaction=True)
def test_miss_skips_the_health_check_and_retries_a_dead_connection_once(
    key: str, kept_connection: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = selectors._check_data_query  # noqa: SLF001 (wraps the loader's query to kill its connection)
    calls: list[int] = []

    def dead_then_alive(conn: Any, canonical: str) -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise OperationalError("server closed the connection unexpectedly")
        return real(conn, canonical)

    monkeypatch.setattr(selectors, "_check_data_query", dead_then_alive)
    data = selectors.check_data_load(key)
    assert data is not None
    assert data["license_key"] == key
    assert len(calls) == 2
    assert kept_connection.health_check_done


@pytest.mark.django_db(transaction=True)
def test_miss_does_not_retry_a_database_that_stays_down(
    key: str, kept_connection: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []

    def down(conn: Any, canonical: str) -> Any:
        calls.append(1)
        raise OperationalError("connection refused")

    monkeypatch.setattr(selectors, "_check_data_query", down)
    with pytest.raises(OperationalError):
        selectors.check_data_load(key)
    assert len(calls) == 2


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_miss_on_a_connection_the_server_dropped_is_answered(
    key: str, kept_connection: Any
) -> None:
    pid = kept_connection.connection.info.backend_pid
    admin = connections.create_connection("default")
    try:
        with admin.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
    finally:
        admin.close()
    data = selectors.check_data_load(key)
    assert data is not None
    assert data["license_key"] == key
    assert kept_connection.connection.info.backend_pid != pid


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_a_miss_runs_a_statement_the_server_prepared_once_per_connection(
    key: str, kept_connection: Any
) -> None:
    # psycopg prepares a query after its 5th run on a connection; from then on the server
    # neither parses nor plans it again (planning was most of a miss's database time).
    for _ in range(7):
        assert selectors.check_data_load(key) is not None
    with kept_connection.cursor() as cursor:
        cursor.execute("SELECT statement, generic_plans + custom_plans FROM pg_prepared_statements")
        prepared = dict(cursor.fetchall())
    runs = [count for statement, count in prepared.items() if "licensing_licensekey" in statement]
    assert len(runs) == 1  # one statement, run again as prepared (the last runs)
    assert runs[0] >= 1
