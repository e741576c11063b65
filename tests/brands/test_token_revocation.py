"""Staff refresh tokens rotate on use and are revoked by a password change, a deactivation
or POST /api/v1/auth/token/revoke/ (SPEC §4; issue 12, item 14)."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from tests.brands.envelope import assert_error
from tests.factories import StaffUserFactory

pytestmark = pytest.mark.django_db

TOKEN_URL = "/api/v1/auth/token/"
REFRESH_URL = "/api/v1/auth/token/refresh/"
REVOKE_URL = "/api/v1/auth/token/revoke/"


def pair(client: APIClient, username: str = "ops", password: str = "staff-password") -> Any:  # noqa: S107 (a test password)
    response = client.post(TOKEN_URL, {"username": username, "password": password}, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def refresh(client: APIClient, token: str) -> Any:
    return client.post(REFRESH_URL, {"refresh": token}, format="json")


def opens_the_staff_api(access: str) -> bool:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return client.get("/api/v1/brands/").status_code == 200


# --- rotation ------------------------------------------------------------------------------


def test_refresh_returns_a_new_refresh_token_and_the_old_one_stops_working(api_client, staff_user):
    first = pair(api_client)["refresh"]
    response = refresh(api_client, first)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access", "refresh"}
    assert body["refresh"] != first
    assert opens_the_staff_api(body["access"])
    body = assert_error(refresh(api_client, first), 401, "not_authenticated")
    assert "blacklisted" in body["message"]


def test_the_rotated_refresh_token_works_once_too(api_client, staff_user):
    second = refresh(api_client, pair(api_client)["refresh"]).json()["refresh"]
    third = refresh(api_client, second)
    assert third.status_code == 200
    assert_error(refresh(api_client, second), 401, "not_authenticated")
    assert refresh(api_client, third.json()["refresh"]).status_code == 200


# --- password change and deactivation ----------------------------------------------------


def test_a_password_change_revokes_every_refresh_token_of_the_user(api_client, staff_user):
    tokens = [pair(api_client)["refresh"], pair(api_client)["refresh"]]
    staff_user.set_password("a-new-password-42")
    staff_user.save()
    for token in tokens:
        assert_error(refresh(api_client, token), 401, "not_authenticated")
    new = pair(api_client, password="a-new-password-42")["refresh"]
    assert refresh(api_client, new).status_code == 200


def test_a_password_change_stops_access_tokens_at_once(api_client, staff_user):
    access = pair(api_client)["access"]
    assert opens_the_staff_api(access)
    staff_user.set_password("a-new-password-42")
    staff_user.save()
    assert not opens_the_staff_api(access)


def test_a_password_changed_in_the_admin_revokes_refresh_tokens(api_client, staff_user):
    token = pair(api_client)["refresh"]
    admin = Client()
    admin.force_login(staff_user)
    response = admin.post(
        f"/admin/auth/user/{staff_user.pk}/password/",
        {"password1": "An0ther-Passw0rd!", "password2": "An0ther-Passw0rd!"},
    )
    assert response.status_code == 302, response.content
    assert_error(refresh(api_client, token), 401, "not_authenticated")


def test_deactivation_revokes_refresh_tokens(api_client, staff_user):
    tokens = pair(api_client)
    staff_user.is_active = False
    staff_user.save(update_fields=["is_active"])
    assert_error(refresh(api_client, tokens["refresh"]), 401, "not_authenticated")
    assert not opens_the_staff_api(tokens["access"])
    staff_user.is_active = True
    staff_user.save()
    body = assert_error(refresh(api_client, tokens["refresh"]), 401, "not_authenticated")
    assert "blacklisted" in body["message"]


def test_other_changes_to_the_user_revoke_nothing(api_client, staff_user):
    tokens = pair(api_client)
    staff_user.email = "ops@example.com"
    staff_user.first_name = "Ops"
    staff_user.save()
    staff_user.save(update_fields=["last_login"])
    assert opens_the_staff_api(tokens["access"])
    assert refresh(api_client, tokens["refresh"]).status_code == 200


def test_one_users_password_change_leaves_other_users_tokens_alone(api_client, staff_user):
    StaffUserFactory.create(username="other")
    theirs = pair(api_client, username="other")["refresh"]
    staff_user.set_password("a-new-password-42")
    staff_user.save()
    assert refresh(api_client, theirs).status_code == 200


# --- POST /api/v1/auth/token/revoke/ -----------------------------------------------------


def test_revoke_stops_the_refresh_token(api_client, staff_user):
    token = pair(api_client)["refresh"]
    response = api_client.post(REVOKE_URL, {"refresh": token}, format="json")
    assert response.status_code == 204
    assert response.content == b""
    assert_error(refresh(api_client, token), 401, "not_authenticated")


def test_revoke_without_trailing_slash_works(api_client, staff_user):
    token = pair(api_client)["refresh"]
    response = api_client.post(REVOKE_URL.rstrip("/"), {"refresh": token}, format="json")
    assert response.status_code == 204
    assert_error(refresh(api_client, token), 401, "not_authenticated")


def test_revoke_leaves_the_users_other_refresh_tokens_alone(api_client, staff_user):
    one, other = pair(api_client)["refresh"], pair(api_client)["refresh"]
    api_client.post(REVOKE_URL, {"refresh": one}, format="json")
    assert refresh(api_client, other).status_code == 200


def test_revoking_a_revoked_token_is_401(api_client, staff_user):
    token = pair(api_client)["refresh"]
    api_client.post(REVOKE_URL, {"refresh": token}, format="json")
    response = api_client.post(REVOKE_URL, {"refresh": token}, format="json")
    assert_error(response, 401, "not_authenticated")


def test_revoke_refuses_an_access_token_and_garbage(api_client, staff_user):
    access = pair(api_client)["access"]
    for token in (access, "x.y.z"):
        response = api_client.post(REVOKE_URL, {"refresh": token}, format="json")
        assert_error(response, 401, "not_authenticated")


@pytest.mark.parametrize("body", [{}, {"refresh": 12}, {"refresh": None}, {"refresh": "x" * 5000}])
def test_bad_revoke_request_is_a_validation_error(api_client, body):
    response = api_client.post(REVOKE_URL, body, format="json")
    assert "refresh" in assert_error(response, 400, "validation_error")["details"]


def test_revoke_endpoint_is_documented(api_client):
    schema = api_client.get("/api/schema/").json()
    operation = schema["paths"]["/api/v1/auth/token/revoke/"]["post"]
    assert set(operation["responses"]) >= {"204", "400", "401", "429"}
    refresh_op = schema["paths"]["/api/v1/auth/token/refresh/"]["post"]
    ref = refresh_op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    component = schema["components"]["schemas"][ref.rsplit("/", 1)[1]]
    assert set(component["properties"]) == {"access", "refresh"}
