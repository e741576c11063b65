"""Fixtures of the audit tests: a license whose provisioning and suspension were audited."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from audit.models import AuditEvent
from audit.services import Actor
from brands.models import Brand, Product
from licensing.models import License
from licensing.services import license_provision, license_suspend


@pytest.fixture
def license_(brand: Brand, product: Product) -> License:
    lic = license_provision(
        brand=brand,
        customer_email="jane@example.com",
        product_slug=product.slug,
        actor=Actor.brand(brand.slug),
    )
    license_suspend(license_=lic, actor=Actor.staff("ops"))
    return lic


@pytest.fixture
def event(license_: License) -> AuditEvent:
    """The suspension's audit event, as recorded by the service."""
    return AuditEvent.objects.get(license_id=license_.pk, action="license.suspended")


def snapshot() -> list[tuple[Any, ...]]:
    """Every audit row, every column: what "unchanged" is compared against."""
    return list(AuditEvent.objects.order_by("pk").values_list())


@pytest.fixture
def admin_client(staff_user: Any) -> Client:
    """The Django test client logged in to the admin as a staff superuser."""
    assert staff_user.is_superuser
    client = Client()
    client.force_login(staff_user)
    return client
