"""Password guessing is locked out per username and per client IP, on the admin login and
the staff token endpoint alike (SPEC §4; issue 12, item 12; django-axes, brands.lockout)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from axes.middleware import AxesMiddleware
from axes.models import AccessAttempt
from django.conf import settings
from django.test import Client
from django.utils.module_loading import import_string
from rest_framework.test import APIClient

from tests.brands.envelope import assert_error
from tests.factories import StaffUserFactory

pytestmark = pytest.mark.django_db

TOKEN_URL = "/api/v1/auth/token/"
ADMIN_LOGIN = "/admin/login/"
RIGHT = "staff-password"
LIMIT = settings.AXES_FAILURE_LIMIT
COOL_OFF = int(settings.AXES_COOLOFF_TIME.total_seconds())


def token(username: str, password: str, ip: str = "198.51.100.1", **extra: Any) -> Any:
    client = APIClient(REMOTE_ADDR=ip, **extra)
    return client.post(TOKEN_URL, {"username": username, "password": password}, format="json")


def admin_login(client: Client, username: str, password: str) -> Any:
    return client.post(ADMIN_LOGIN, {"username": username, "password": password, "next": "/admin/"})


def fail(times: int, username: str = "ops", ip: str = "198.51.100.1") -> list[int]:
    return [token(username, f"wrong-{i}", ip).status_code for i in range(times)]


def test_the_budget_is_configured():
    assert LIMIT >= 3
    assert COOL_OFF >= 60
    assert settings.AXES_LOCKOUT_PARAMETERS == ["username", "ip_address"]


# --- the token endpoint ------------------------------------------------------------------


def test_token_endpoint_answers_429_past_the_budget_even_with_the_right_password(staff_user):
    assert fail(LIMIT) == [401] * (LIMIT - 1) + [429]
    response = token("ops", RIGHT)
    body = assert_error(response, 429, "throttled")
    assert int(response["Retry-After"]) == COOL_OFF
    assert body["details"] == {"retry_after": COOL_OFF}
    assert "access" not in body


def test_failures_under_the_budget_leave_the_right_password_working(staff_user):
    assert fail(LIMIT - 1) == [401] * (LIMIT - 1)
    assert token("ops", RIGHT).status_code == 200


def test_one_ip_is_locked_across_usernames(staff_user):
    StaffUserFactory.create(username="other")
    for i in range(LIMIT):
        token(f"guess-{i}", "wrong")  # never the same username twice
    assert_error(token("other", RIGHT), 429, "throttled")
    assert token("other", RIGHT, ip="198.51.100.2").status_code == 200


def test_one_username_is_locked_across_ips(staff_user):
    StaffUserFactory.create(username="other")
    for i in range(LIMIT):
        token("ops", "wrong", ip=f"203.0.113.{i + 1}")  # never the same address twice
    assert_error(token("ops", RIGHT, ip="192.0.2.99"), 429, "throttled")
    assert token("other", RIGHT, ip="192.0.2.99").status_code == 200


def test_the_cool_off_ends_the_lockout(staff_user):
    fail(LIMIT)
    assert_error(token("ops", RIGHT), 429, "throttled")
    AccessAttempt.objects.update(
        attempt_time=AccessAttempt.objects.get().attempt_time - timedelta(seconds=COOL_OFF + 1)
    )
    assert token("ops", RIGHT).status_code == 200


def test_an_attempt_during_the_lockout_starts_the_cool_off_again(staff_user):
    fail(LIMIT)
    AccessAttempt.objects.update(
        attempt_time=AccessAttempt.objects.get().attempt_time - timedelta(seconds=COOL_OFF - 5)
    )
    assert_error(token("ops", "still-guessing"), 429, "throttled")
    AccessAttempt.objects.update(
        attempt_time=AccessAttempt.objects.get().attempt_time - timedelta(seconds=10)
    )
    assert_error(token("ops", RIGHT), 429, "throttled")


def test_a_success_clears_the_users_own_failures(staff_user):
    fail(LIMIT - 1)
    assert token("ops", RIGHT).status_code == 200
    assert fail(LIMIT - 1) == [401] * (LIMIT - 1)
    assert token("ops", RIGHT).status_code == 200


def test_logging_in_to_ones_own_account_does_not_clear_the_guesses_at_another(staff_user):
    StaffUserFactory.create(username="mallory")
    fail(LIMIT - 1, username="ops")
    assert token("mallory", RIGHT).status_code == 200
    assert fail(1, username="ops") == [429]
    assert_error(token("ops", RIGHT, ip="192.0.2.99"), 429, "throttled")


def test_the_lockout_follows_the_client_ip_behind_the_proxies(staff_user, settings):
    settings.NUM_PROXIES = 1
    proxy = "10.0.0.2"
    for i in range(LIMIT):
        token(f"guess-{i}", "wrong", ip=proxy, HTTP_X_FORWARDED_FOR="203.0.113.7")
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {"203.0.113.7"}
    locked = token("ops", RIGHT, ip=proxy, HTTP_X_FORWARDED_FOR="203.0.113.7")
    assert_error(locked, 429, "throttled")
    assert token("ops", RIGHT, ip=proxy, HTTP_X_FORWARDED_FOR="203.0.113.8").status_code == 200


def test_a_forged_forwarded_for_does_not_escape_the_lock_without_proxies(staff_user):
    for i in range(LIMIT):
        token(f"guess-{i}", "wrong", HTTP_X_FORWARDED_FOR=f"203.0.113.{i + 1}")
    assert_error(token("ops", RIGHT, HTTP_X_FORWARDED_FOR="192.0.2.1"), 429, "throttled")


@pytest.mark.parametrize(
    "headers",
    [
        {"HTTP_USER_AGENT": "bot\x00"},
        {"HTTP_ACCEPT": "application/json\x00"},
        {"HTTP_USER_AGENT": "é" * 1000},
        {"HTTP_X_FORWARDED_FOR": "unknown"},
        {"HTTP_X_FORWARDED_FOR": "1.2.3.4:5678"},
        {"HTTP_X_FORWARDED_FOR": "[2001:db8::1]:443"},
    ],
)
def test_odd_headers_on_a_login_are_counted_never_a_500(staff_user, settings, headers):
    """axes stores the client's headers and IP with each attempt (PostgreSQL: text without
    NUL, an inet column)."""
    settings.NUM_PROXIES = 1
    assert token("ops", "wrong", **headers).status_code == 401
    assert admin_login(Client(**headers), "ops", "wrong").status_code == 200
    assert token("ops", RIGHT, **headers).status_code == 200
    assert admin_login(Client(**headers), "ops", RIGHT).status_code == 302


def test_attempts_without_a_usable_ip_share_one_budget(staff_user, settings):
    settings.NUM_PROXIES = 1
    StaffUserFactory.create(username="other")
    for i in range(LIMIT):
        token(f"guess-{i}", "wrong", HTTP_X_FORWARDED_FOR=f"garbage-{i}")
    assert_error(token("other", RIGHT, HTTP_X_FORWARDED_FOR="nonsense"), 429, "throttled")


def test_the_failure_limit_is_a_setting(staff_user, settings):
    settings.AXES_FAILURE_LIMIT = 2
    assert fail(2) == [401, 429]


# --- the admin login ---------------------------------------------------------------------


def test_admin_login_is_locked_past_the_budget_even_with_the_right_password(staff_user):
    client = Client(REMOTE_ADDR="198.51.100.1")
    for i in range(LIMIT - 1):
        assert admin_login(client, "ops", f"wrong-{i}").status_code == 200
    assert admin_login(client, "ops", "wrong-again").status_code == 429
    response = admin_login(client, "ops", RIGHT)
    assert response.status_code == 429
    assert int(response["Retry-After"]) == COOL_OFF
    html = response.content.decode()
    assert "Too many failed logins" in html
    assert '<form action="/admin/login/' in html  # the admin's own page, its form saying why
    assert "_auth_user_id" not in client.session
    assert client.get("/admin/").status_code == 302


def test_admin_login_under_the_budget_says_wrong_password_and_then_lets_in(staff_user):
    client = Client()
    response = admin_login(client, "ops", "wrong")
    assert response.status_code == 200
    assert "Please enter the correct username and password" in response.content.decode()
    assert admin_login(client, "ops", RIGHT).status_code == 302
    assert client.get("/admin/").status_code == 200


def test_the_admin_and_the_api_share_one_budget(staff_user):
    client = Client(REMOTE_ADDR="198.51.100.1")
    for i in range(LIMIT - 1):
        admin_login(client, "ops", f"wrong-{i}")
    assert fail(1) == [429]
    assert admin_login(Client(REMOTE_ADDR="192.0.2.99"), "ops", RIGHT).status_code == 429


def test_an_admin_login_clears_the_users_own_failures(staff_user):
    fail(LIMIT - 1)
    assert admin_login(Client(REMOTE_ADDR="198.51.100.1"), "ops", RIGHT).status_code == 302
    assert fail(LIMIT - 1) == [401] * (LIMIT - 1)


# --- the schema ----------------------------------------------------------------------------


def test_the_token_endpoint_documents_its_lockout(api_client):
    operation = api_client.get("/api/schema/").json()["paths"][TOKEN_URL]["post"]
    assert "429" in operation["responses"]
    assert "Retry-After" in operation["responses"]["429"]["headers"]
    assert "LOGIN_FAILURE_LIMIT" in operation["description"]


def test_the_lockout_middleware_is_axes_own_installed_last():
    assert issubclass(import_string(settings.MIDDLEWARE[-1]), AxesMiddleware)
    assert settings.AUTHENTICATION_BACKENDS[0] == "axes.backends.AxesStandaloneBackend"
