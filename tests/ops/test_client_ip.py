"""The client IP behind trusted proxies (SPEC §7): every X-Forwarded-For hop a proxy or a
client may write is parsed or ignored, and never fails an audited write (the audit row's
``client_ip`` is an ``inet`` column on PostgreSQL)."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from audit.models import AuditEvent
from license_service.middleware import forwarded_ip
from tests.factories import LicenseFactory, LicenseKeyFactory

pytestmark = pytest.mark.django_db

PEER = "127.0.0.1"  # REMOTE_ADDR of Django's test client: the nearest (trusted) proxy

# (X-Forwarded-For as the trusted proxy wrote it, the client IP the audit row must get)
HOPS = [
    ("1.2.3.4", "1.2.3.4"),
    ("1.2.3.4:5678", "1.2.3.4"),
    ("2001:db8::1", "2001:db8::1"),
    ("[2001:db8::1]", "2001:db8::1"),
    ("[2001:DB8::1]:443", "2001:db8::1"),
    ("fe80::1%eth0", "fe80::1"),
    ("spoofed-by-client, 9.8.7.6:1234", "9.8.7.6"),
    ("unknown", PEER),
    ("_hidden", PEER),
    ("[2001:db8::1", PEER),
    ("[2001:db8::1]x", PEER),
    ("1.2.3.4:5678:9", PEER),
    ("999.1.1.1", PEER),
    ("1.2.3.4, unknown", PEER),
    ("", PEER),
]


@pytest.fixture(autouse=True)
def _one_trusted_proxy(settings):
    settings.NUM_PROXIES = 1


@pytest.mark.parametrize(("header", "expected"), HOPS)
def test_an_activation_behind_a_proxy_is_audited_with_the_client_ip(product, header, expected):
    key = LicenseKeyFactory.create(brand=product.brand)
    LicenseFactory.create(product=product, license_key=key, max_seats=3)
    response = APIClient().post(
        "/api/v1/product/activate",
        {"license_key": key.key, "product_slug": product.slug, "instance_identifier": "a.com"},
        format="json",
        HTTP_X_FORWARDED_FOR=header,
    )
    assert response.status_code == 200, response.content
    assert AuditEvent.objects.get(action="activation.created").client_ip == expected


@pytest.mark.parametrize(("header", "expected"), HOPS)
def test_a_provision_behind_a_proxy_is_audited_with_the_client_ip(
    brand_client, product, header, expected
):
    response = brand_client.post(
        "/api/v1/brand/licenses",
        {"customer_email": "buyer@example.com", "product_slug": product.slug},
        format="json",
        HTTP_X_FORWARDED_FOR=header,
    )
    assert response.status_code == 201, response.content
    assert AuditEvent.objects.get(action="license.provisioned").client_ip == expected


def test_two_trusted_proxies_take_the_hop_the_outer_proxy_wrote(settings, brand_client, product):
    settings.NUM_PROXIES = 2
    response = brand_client.post(
        "/api/v1/brand/licenses",
        {"customer_email": "buyer@example.com", "product_slug": product.slug},
        format="json",
        HTTP_X_FORWARDED_FOR="6.6.6.6, [2001:db8::7]:51000, 10.0.0.2:443",
    )
    assert response.status_code == 201, response.content
    assert AuditEvent.objects.get(action="license.provisioned").client_ip == "2001:db8::7"


@pytest.mark.parametrize(
    "hop", ["unknown", "", " ", "[", "[]", "[]:1", ":", "1.2.3.4:5:6", "a" * 200]
)
def test_a_hop_that_is_no_ip_address_is_ignored(hop):
    assert forwarded_ip(hop) is None
