"""The brand API and the admin count seats as SPEC §10 does (SEATS rules 1, 8): live
production activations are seats, staging and local ones are reported apart, dead ones are
listed with ``status: dead`` but count not, reclaimed ones are not listed at all."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from activations.models import Activation
from audit.services import Actor
from licensing.services import license_cancel
from tests.factories import ActivationFactory
from tests.licensing.conftest import LICENSES_URL

pytestmark = pytest.mark.django_db

HEARTBEAT = 600


def ago(seconds: float):
    return timezone.now() - timedelta(seconds=seconds)


@pytest.fixture
def mixed(license_):
    """On a 3-seat license with a heartbeat: one live seat, one dead, one reclaimed, one
    live staging, one dead local."""
    product = license_.product
    product.heartbeat_seconds = HEARTBEAT
    product.save(update_fields=["heartbeat_seconds"])
    live = ActivationFactory.create(license=license_, instance_identifier="live.com")
    dead = ActivationFactory.create(
        license=license_, instance_identifier="dead.com", last_seen_at=ago(HEARTBEAT * 2)
    )
    ActivationFactory.create(
        license=license_,
        instance_identifier="gone.com",
        last_seen_at=ago(HEARTBEAT * 3),
        reclaimed_at=ago(60),
    )
    staging = ActivationFactory.create(
        license=license_, instance_identifier="staging.live.com", environment="staging"
    )
    ActivationFactory.create(
        license=license_,
        instance_identifier="localhost",
        environment="local",
        last_seen_at=ago(HEARTBEAT * 2),
    )
    return license_, live, dead, staging


def test_license_detail_counts_live_production_seats(brand_client, mixed):
    license_, live, *_ = mixed
    body = brand_client.get(f"{LICENSES_URL}/{license_.pk}").json()
    assert (body["seats_used"], body["seats_remaining"], body["non_production_in_use"]) == (1, 2, 1)
    listed = {a["instance_identifier"]: a for a in body["activations"]}
    assert set(listed) == {"live.com", "dead.com", "staging.live.com", "localhost"}
    assert listed["live.com"] == {
        "id": live.pk,
        "instance_identifier": "live.com",
        "environment": "production",
        "status": "active",
        "activated_at": live.activated_at.isoformat().replace("+00:00", "Z"),
        "last_seen_at": live.last_seen_at.isoformat().replace("+00:00", "Z"),
    }
    assert listed["dead.com"]["status"] == "dead"
    assert (listed["staging.live.com"]["environment"], listed["localhost"]["status"]) == (
        "staging",
        "dead",
    )


def test_license_detail_runs_in_constant_queries(
    brand_client, mixed, django_assert_max_num_queries
):
    license_ = mixed[0]
    brand_client.get(f"{LICENSES_URL}/{license_.pk}")  # records the API key's last use
    # API key, heartbeat values, the license with its counts, its activations.
    with django_assert_max_num_queries(4):
        assert brand_client.get(f"{LICENSES_URL}/{license_.pk}").status_code == 200
    ActivationFactory.create_batch(10, license=license_, last_seen_at=ago(HEARTBEAT * 2))
    with django_assert_max_num_queries(4):
        assert brand_client.get(f"{LICENSES_URL}/{license_.pk}").status_code == 200


def test_list_and_by_email_count_the_same_way(brand_client, mixed):
    license_ = mixed[0]
    [listed] = brand_client.get(LICENSES_URL).json()["results"]
    assert (listed["seats_used"], listed["non_production_in_use"]) == (1, 1)
    email = license_.license_key.customer_email
    body = brand_client.get(f"{LICENSES_URL}/by-email/{email}").json()
    [product] = body["licenses"][0]["products"]
    assert product["seats_used"] == 1


def test_without_a_heartbeat_every_row_not_reclaimed_is_a_seat(brand_client, license_):
    ActivationFactory.create_batch(2, license=license_, last_seen_at=ago(86400 * 400))
    ActivationFactory.create(license=license_, reclaimed_at=ago(5))
    body = brand_client.get(f"{LICENSES_URL}/{license_.pk}").json()
    assert body["seats_used"] == 2
    assert {a["status"] for a in body["activations"]} == {"active"}
    assert len(body["activations"]) == 2


def test_cancel_deletes_reclaimed_rows_too(mixed):
    license_ = mixed[0]
    license_cancel(license_=license_, actor=Actor.system())
    assert not Activation.objects.filter(license=license_).exists()


@pytest.mark.usefixtures("mixed")
def test_admin_seats_column_counts_live_production_seats():
    user = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    client = Client()
    client.force_login(user)
    response = client.get(reverse("admin:licensing_license_changelist"))
    assert response.status_code == 200
    assert "1 / 3" in response.content.decode()
