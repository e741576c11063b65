"""Staff of each console group, and a license with sites, for the console's tests."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.test import Client
from django.utils import timezone

from brands.models import Product
from licensing.models import License
from tests.factories import ActivationFactory, LicenseFactory


def client_of(*groups: str, username: str | None = None) -> Client:
    """A logged-in staff user who is in ``groups`` (created by licensing migration 0004)."""
    user = get_user_model().objects.create_user(
        username=username or "-".join(groups) or "nobody", password="pw", is_staff=True
    )
    for name in groups:
        user.groups.add(Group.objects.get(name=name))
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def support(db: Any) -> Client:
    return client_of("support")


@pytest.fixture
def billing(db: Any) -> Client:
    return client_of("billing")


@pytest.fixture
def viewer(db: Any) -> Client:
    """Staff who may read licenses and keys, and press nothing."""
    client = client_of(username="viewer")
    user = get_user_model().objects.get(username="viewer")
    user.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_license", "view_licensekey"])
    )
    return client


@pytest.fixture
def license_(product: Product) -> License:
    lic: License = LicenseFactory.create(
        product=product,
        license_key__customer_email="jane@example.com",
        expires_at=timezone.now() + timedelta(days=30),
        max_seats=3,
    )
    ActivationFactory.create(license=lic, instance_identifier="shop.example.com")
    ActivationFactory.create(license=lic, instance_identifier="blog.example.com")
    ActivationFactory.create(license=lic, instance_identifier="old.example.com")
    return lic
