"""Structured logs: one JSON object per line, request context on each, and no secrets.

The log capture uses the formatter the settings configure (the same one gunicorn's and
Django's lines go through), so what is asserted here is what reaches stdout.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import unquote

import pytest
import structlog
from django.db import OperationalError
from django.test import RequestFactory
from django.utils import timezone
from django.utils.log import log_response
from rest_framework.test import APIClient

from activations.check import facts as selectors
from license_service import health
from license_service.logging import (
    ACCESS_LOGGER,
    bind_license_key,
    key_prefix_var,
    mask_secrets_in,
    register_license_keys,
    registered_license_keys,
)
from licensing import keys
from licensing.keys import generate_license_key, key_display_prefix
from tests.factories import StaffUserFactory

STAFF_PASSWORD = "correct-horse-battery-staple-42"


class CapturedLogs:
    def __init__(self, buffer: io.StringIO):
        self.buffer = buffer

    @property
    def text(self) -> str:
        return self.buffer.getvalue()

    @property
    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.text.splitlines() if line.strip()]

    def access(self) -> list[dict[str, Any]]:
        return [line for line in self.lines if line.get("logger") == ACCESS_LOGGER]


@pytest.fixture
def logs() -> Iterator[CapturedLogs]:
    root = logging.getLogger()
    formatter = next(
        h.formatter
        for h in root.handlers
        if isinstance(h.formatter, structlog.stdlib.ProcessorFormatter)
    )
    access = logging.getLogger(ACCESS_LOGGER)
    raw_formatter = next(h.formatter for h in access.handlers if h.formatter is not None)
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(formatter)
    access_handler = logging.StreamHandler(buffer)
    access_handler.setFormatter(raw_formatter)
    root.addHandler(handler)
    access.addHandler(access_handler)
    try:
        yield CapturedLogs(buffer)
    finally:
        root.removeHandler(handler)
        access.removeHandler(access_handler)


def test_every_line_is_one_json_object(api_client, logs):
    api_client.get("/nope")
    logging.getLogger("django.security").warning("a stdlib line\nwith a newline")
    raw_lines = logs.text.splitlines()
    assert len(raw_lines) == 2
    for raw in raw_lines:
        assert isinstance(json.loads(raw), dict)


@pytest.mark.django_db
def test_access_line_has_request_id_route_status_duration_and_brand(brand_client, logs):
    response = brand_client.get("/api/v1/brand/licenses/123", HTTP_X_REQUEST_ID="req-42")
    assert response.status_code == 404
    [line] = logs.access()
    assert line["event"] == "request"
    assert line["request_id"] == "req-42"
    assert line["route"] == "/api/v1/brand/licenses/{license_id}"
    assert line["method"] == "GET"
    assert line["status"] == 404
    assert line["error"] == "not_found"
    assert line["brand"] == "rankmath"
    assert isinstance(line["duration_ms"], float)
    assert line["level"] == "info"
    assert line["timestamp"].endswith("Z")


@pytest.mark.django_db
def test_lines_logged_during_a_request_carry_its_request_id(api_client, logs, monkeypatch):
    def noisy_cache_check() -> bool:
        logging.getLogger("license_service.health").warning("cache probe is slow")
        return True

    monkeypatch.setattr(health, "_check_cache", noisy_cache_check)
    monkeypatch.setattr(health, "_check_database", lambda alias: True)
    api_client.get("/readyz", HTTP_X_REQUEST_ID="ready-1")
    [warning] = [line for line in logs.lines if line["event"] == "cache probe is slow"]
    assert warning["request_id"] == "ready-1"
    assert warning["level"] == "warning"


def test_probe_requests_are_not_logged(api_client, logs):
    api_client.get("/healthz")
    api_client.get("/metrics")
    assert logs.access() == []


def test_a_key_sent_as_request_id_is_masked_too(api_client, logs):
    key = generate_license_key("RNKM")
    api_client.get("/nope", HTTP_X_REQUEST_ID=key)
    assert key not in logs.text
    assert logs.access()[0]["request_id"] == key_display_prefix(key) + "…"


@pytest.mark.django_db
def test_check_by_url_logs_only_the_key_prefix(api_client, logs):
    key = generate_license_key("RNKM")
    api_client.get(f"/api/v1/product/check/{key}")
    [line] = logs.access()
    assert line["route"] == "/api/v1/product/check/{license_key}"
    assert line["key_prefix"] == key_display_prefix(key)
    assert key not in logs.text


@pytest.mark.django_db
def test_a_made_up_key_in_the_url_is_logged_as_invalid(api_client, logs):
    api_client.get("/api/v1/product/check/not-a-key")
    [line] = logs.access()
    assert line["key_prefix"] == "invalid"


def test_bind_license_key_keeps_only_the_display_prefix(logs):
    key = generate_license_key("WPRK")
    token = key_prefix_var.set(None)
    try:
        bind_license_key(key)
        structlog.get_logger("test").info("checked")
    finally:
        key_prefix_var.reset(token)
    [line] = logs.lines
    assert line["key_prefix"] == key_display_prefix(key) == key[:10]


@pytest.mark.parametrize(
    ("secret", "kept"),
    [
        ("RNKM-ABCDE-FGHJK-MNPQR-STVWX-YZ012-34567", "RNKM-ABCDE…"),
        ("rnkm-abcde-fghjk-mnpqr-stvwx-yz012-34567", "rnkm-abcde…"),
        ("lsk_0123456789abcdefghijklmnopqrstuvwxyzABCDEFG", "lsk_01234567…"),
        ("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl", "[jwt]"),
    ],
)
def test_secrets_in_free_text_are_masked(secret, kept):
    masked = mask_secrets_in(f"Internal Server Error: /api/v1/product/check/{secret} (x)")
    assert secret not in masked
    assert kept in masked


def test_secret_fields_are_masked_in_stdlib_and_structlog_lines(logs):
    logging.getLogger("third.party").info("login", extra={"password": "hunter2hunter2"})
    structlog.get_logger("ours").info("minted", token="abc.def.ghi", api_key="lsk_zzz")
    assert "hunter2hunter2" not in logs.text
    assert "abc.def.ghi" not in logs.text
    assert "lsk_zzz" not in logs.text
    assert next(line.get("password") for line in logs.lines) == "[redacted]"


def test_an_exception_is_logged_as_one_line_with_its_traceback(logs):
    try:
        raise ValueError("boom for RNKM-ABCDE-FGHJK-MNPQR-STVWX-YZ012-34567")
    except ValueError:
        logging.getLogger("license_service.errors").exception("unhandled error")
    [line] = logs.lines
    assert "ValueError" in line["exception"]
    assert "FGHJK" not in line["exception"]


def staff_session(staff: Any) -> list[str]:
    """A staff login, a call with its access token, a refresh, and a failed login: the
    tokens minted on the way (none of them may be logged)."""
    login = APIClient().post(
        "/api/v1/auth/token/",
        {"username": staff.username, "password": STAFF_PASSWORD},
        format="json",
    )
    assert login.status_code == 200, login.content
    minted = [login.json()["access"], login.json()["refresh"]]
    staff_client = APIClient()
    staff_client.credentials(HTTP_AUTHORIZATION=f"Bearer {login.json()['access']}")
    assert staff_client.get("/api/v1/brands/").status_code == 200
    refreshed = APIClient().post(
        "/api/v1/auth/token/refresh/", {"refresh": login.json()["refresh"]}, format="json"
    )
    assert refreshed.status_code == 200
    minted.append(refreshed.json()["access"])
    bad_login = APIClient().post(
        "/api/v1/auth/token/",
        {"username": "ops-log", "password": "wrong-" + STAFF_PASSWORD},
        format="json",
    )
    assert bad_login.status_code == 401
    return minted


@pytest.mark.django_db
def test_a_full_run_logs_no_license_key_api_key_jwt_or_password(brand, product, brand_client, logs):
    """provision -> activate -> check -> lifecycle -> deactivate, with brand JWT and staff
    JWT logins; then nothing secret may appear anywhere in what was logged."""
    staff = StaffUserFactory(username="ops-log", password=STAFF_PASSWORD)
    secrets_seen: list[str] = [brand_client.api_key, STAFF_PASSWORD]
    product_client = APIClient()

    provisioned = brand_client.post(
        "/api/v1/brand/licenses",
        {"customer_email": "Buyer@Example.com", "product_slug": product.slug},
        format="json",
        HTTP_IDEMPOTENCY_KEY="order-1",
    )
    assert provisioned.status_code == 201, provisioned.content
    key = provisioned.json()["license_key"]
    license_id = provisioned.json()["license_id"]
    secrets_seen.append(key)
    seat = {"license_key": key, "product_slug": product.slug, "instance_identifier": "a.com"}

    assert product_client.post("/api/v1/product/activate", seat, format="json").status_code == 200
    assert product_client.get(f"/api/v1/product/check/{key}").status_code == 200
    assert (
        product_client.get(
            f"/api/v1/product/check/{key.lower()}", {"instance_identifier": "a.com"}
        ).status_code
        == 200
    )
    checked = product_client.post("/api/v1/product/check", {"license_key": key}, format="json")
    assert checked.status_code == 200

    token = brand_client.post(
        "/api/v1/auth/brand-token/", {"api_key": brand_client.api_key}, format="json"
    )
    assert token.status_code == 200, token.content
    brand_jwt = token.json()["access"]
    secrets_seen.append(brand_jwt)
    jwt_client = APIClient()
    jwt_client.credentials(HTTP_AUTHORIZATION=f"Bearer {brand_jwt}")

    renew_to = (timezone.now() + timedelta(days=30)).isoformat()
    for body in (
        {"action": "suspend"},
        {"action": "resume"},
        {"action": "renew", "expires_at": renew_to},
        {"action": "set_seats", "max_seats": 5},
    ):
        changed = jwt_client.patch(f"/api/v1/brand/licenses/{license_id}", body, format="json")
        assert changed.status_code == 200, changed.content
    assert jwt_client.get(f"/api/v1/brand/licenses/{license_id}").status_code == 200
    assert jwt_client.get(f"/api/v1/brand/licenses/{license_id}/events").status_code == 200
    assert product_client.post("/api/v1/product/deactivate", seat, format="json").status_code == 200
    cancelled = brand_client.patch(
        f"/api/v1/brand/licenses/{license_id}", {"action": "cancel"}, format="json"
    )
    assert cancelled.status_code == 200
    refused = product_client.post("/api/v1/product/activate", seat, format="json")
    assert refused.json()["error"] == "license_cancelled"

    secrets_seen += staff_session(staff)

    text = logs.text
    access = logs.access()
    assert len(access) == 19
    for secret in secrets_seen:
        assert secret not in text
        assert secret.lower() not in text.lower()
    assert "wrong-" + STAFF_PASSWORD not in text
    # Product calls are identifiable by prefix; brand calls by brand; staff calls by user.
    prefix = key_display_prefix(key)
    assert any(line.get("key_prefix") == prefix for line in access)
    assert {line.get("brand") for line in access} >= {"rankmath"}
    assert any(line.get("staff") == "ops-log" for line in access)
    assert all(
        {"request_id", "route", "status", "duration_ms", "method"} <= set(line) for line in access
    )


# --- every form of a license key is masked (SPEC §7) ----------------------------------------

# A valid key (checksum and all) with an S and a 1, which have non-ASCII spellings.
KEY = "ALPH-NKJ5T-H02DZ-W3XSN-XVP94-9KC21-YZDSR"
BODY = KEY.replace("-", "")[4:]  # the 30 symbols after the prefix: what must never show


def key_forms(key: str) -> dict[str, str]:
    """The forms the service accepts a key in (licensing.keys: any case, dashes anywhere or
    none, percent-encoded in a URL, letters that upper-case to ASCII), and near forms it
    refuses yet that show the key (doubled dashes, a dash in front, a split prefix)."""
    bare = key.replace("-", "")
    return {
        "canonical": key,
        "lower": key.lower(),
        "undashed": bare,
        "undashed-lower": bare.lower(),
        "prefix-dash-only": key[:5] + key[5:].replace("-", ""),
        "one-odd-dash": key[:7] + "-" + key[7:].replace("-", "").lower(),
        "dash-every-3": "-".join(bare[i : i + 3] for i in range(0, len(bare), 3)),
        "double-dashes": key.replace("-", "--"),
        "dash-around": "-" + key + "-",
        "percent-dashes": key.replace("-", "%2D"),
        "percent-dashes-lower": key.replace("-", "%2d").lower(),
        "percent-everything": "".join(f"%{ord(c):02X}" for c in key),
        "non-ascii-letters": key.lower().replace("s", "\u017f").replace("1", "\u0131"),
    }


FORMS = key_forms(KEY)


def shows_key_body(text: str, key: str = KEY) -> bool:
    """Whether the key's symbols after its prefix can be read in ``text`` in any form."""
    squeezed = "".join(c for c in unquote(text).upper() if c.isalnum())
    return key.replace("-", "")[4:] in squeezed


@pytest.mark.parametrize("form", FORMS.values(), ids=FORMS.keys())
@pytest.mark.parametrize(
    "template",
    [
        "{}",
        "GET /api/v1/product/check/{} HTTP/1.1",
        "Invalid request from ip=127.0.0.1: Invalid HTTP request line: 'GET /check/{}?x=1 HTTP/1'",
        "<WSGIRequest: GET '/api/v1/product/check/{}'>",
        '{{"license_key": "{}"}}',
        "key={}&product_slug=alpha",
    ],
    ids=["bare", "request-line", "gunicorn-invalid-line", "wsgirequest", "json", "query"],
)
def test_a_license_key_in_any_form_is_masked_to_its_display_prefix(form, template):
    masked = mask_secrets_in(template.format(form))
    assert not shows_key_body(masked), masked
    assert key_display_prefix(KEY).upper() in masked.upper()


def test_a_key_with_symbols_that_look_alike_is_masked_too():
    # The service reads O as 0 and I, L as 1 (Crockford): a key typed that way is a key.
    lookalike = KEY.replace("0", "O").replace("1", "L")
    masked = mask_secrets_in(f"/check/{lookalike.lower().replace('-', '')}")
    assert not shows_key_body(masked.replace("O", "0").replace("L", "1"))


@pytest.mark.parametrize(
    "text",
    [
        "request 3f2a9c0e1b7d4e5f8a6b9c0d1e2f3a4b done",
        "request abcdef0123456789abcdef0123456789 done",  # a letter-led hex id, 32 long
        "trace 1aa3874c-d21c-4143-a41b-1c347f9c37d2 and ab3874cd-d21c-4143-a41b-1c347f9c37d2",
        "commit 2fd4e1c67a2d28fced849ee1bb76e7391b93eb12 (sha1)",
        "Straße, ﬁle, \u0131d: plain words of a log line, 100% sure",
        "GET /api/v1/brand/licenses?customer_email=user%40example.com HTTP/1.1",
        "abcdefghijklmnopqrstuvwxyzabcdefgh-ijklmnopqrstuvwxyzabcdef",
        "Not Found: /api/v1/product/check/not-a-key",
    ],
)
def test_text_without_a_key_is_left_as_it_is(text):
    assert mask_secrets_in(text) == text


def test_a_line_of_key_shaped_garbage_costs_bounded_work_and_still_hides_a_key():
    garbage = " ".join(f"ZZ{n:030d}" for n in range(40))
    masked = mask_secrets_in(f"{garbage} {KEY.replace('-', '').lower()}")
    assert not shows_key_body(masked)


def test_a_framework_object_in_a_records_extra_is_masked(logs):
    request = RequestFactory().get(f"/api/v1/product/check/{KEY.replace('-', '').lower()}")
    assert BODY.lower() in repr(request)
    response = type("Response", (), {"status_code": 503, "_has_been_logged": False})()
    log_response("Service Unavailable: %s", request.path, response=response, request=request)
    [line] = logs.lines
    assert line["status_code"] == 503
    assert line["request"].startswith("<WSGIRequest: GET '/api/v1/product/check/ALPH-")
    assert not shows_key_body(logs.text)


ACCEPTED = [
    "canonical",
    "lower",
    "undashed",
    "undashed-lower",
    "prefix-dash-only",
    "one-odd-dash",
    "percent-dashes",
    "non-ascii-letters",
]


@pytest.mark.django_db
@pytest.mark.parametrize("form", [FORMS[name] for name in ACCEPTED], ids=ACCEPTED)
def test_a_503_check_with_the_database_down_logs_no_key(api_client, logs, monkeypatch, form):
    def down(*args: Any) -> Any:
        raise OperationalError("connection refused")

    monkeypatch.setattr(selectors, "_check_data_query", down)
    response = api_client.get(f"/api/v1/product/check/{form}")
    assert response.status_code == 503
    assert any(line.get("status_code") == 503 for line in logs.lines)
    assert not shows_key_body(logs.text)


def test_the_shortest_secrets_are_still_masked_past_the_length_shortcut():
    shortest_jwt = "eyJaaaaa.bbbbb.c"  # 16 characters: the shortcut's bound
    assert len(shortest_jwt) == 16
    assert mask_secrets_in(shortest_jwt) == "[jwt]"
    assert mask_secrets_in("lsk_abcdefgh12345678") == "lsk_abcdefgh…"
    assert mask_secrets_in("GET /healthz") == "GET /healthz"


@pytest.fixture
def no_key_rules() -> Iterator[None]:
    """The logging plumbing as it is before licensing's AppConfig.ready() registers keys."""
    registered = registered_license_keys()
    register_license_keys(None)
    try:
        yield
    finally:
        register_license_keys(registered)


@pytest.mark.usefixtures("no_key_rules")
def test_before_licensing_registers_its_keys_anything_key_shaped_is_masked_entirely(logs):
    key = generate_license_key("ACME")
    masked = mask_secrets_in(f"checking {key} and {key.replace('-', '').lower()} now")
    assert masked == "checking [redacted] and [redacted] now"
    assert key_display_prefix(key) not in masked
    bind_license_key(key)
    try:
        structlog.get_logger("test").info("bound")
    finally:
        key_prefix_var.set(None)
    (line,) = [line for line in logs.lines if line.get("event") == "bound"]
    assert line["key_prefix"] == "[redacted]"


def test_licensing_registers_its_key_rules_at_startup():
    rules = registered_license_keys()
    assert rules is not None
    assert rules.canonical is keys.canonical_license_key
    assert rules.canonical_uncached is keys.canonical_license_key_uncached
    assert rules.display_prefix is keys.key_display_prefix
