"""Fixtures of the staff API, token and admin tests."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from audit.services import Actor
from brands.models import Brand, BrandApiKey
from brands.services import api_key_create


@pytest.fixture
def plain_user(db: Any) -> Any:
    return get_user_model().objects.create_user(username="customer-care", password="pw-12345")


@pytest.fixture
def user_client(plain_user: Any) -> APIClient:
    """A valid staff-style JWT of a user who is not staff."""
    client = APIClient()
    client.credentials(
        HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(plain_user).access_token}"
    )
    return client


@pytest.fixture
def api_key(brand: Brand) -> tuple[BrandApiKey, str]:
    return api_key_create(brand=brand, name="backend", scopes=None, actor=Actor.system())


@pytest.fixture
def admin_client(staff_user: Any) -> Client:
    """A Django test client logged in to the admin as a superuser."""
    client = Client()
    client.force_login(staff_user)
    return client
