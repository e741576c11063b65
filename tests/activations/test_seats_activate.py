"""Activate under SPEC §10 (SEATS rules 2, 4, 5): environments, the non-production limit,
dead seats reclaimed to make room, reclaimed rows coming back, replace, and the answers."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from activations.models import Activation
from audit.models import AuditEvent
from licensing.models import License
from tests.activations.conftest import body
from tests.activations.test_activate import TOKEN_SIGNED_QUERIES
from tests.factories import ActivationFactory, LicenseFactory

pytestmark = pytest.mark.django_db

HEARTBEAT = 600


def ago(seconds: float):
    return timezone.now() - timedelta(seconds=seconds)


def post(client, key: str, instance: Any = "example.com", **extra: Any) -> Any:
    return client.post("/api/v1/product/activate", {**body(key, instance), **extra}, format="json")


@pytest.fixture
def beating(product):
    """The product with a heartbeat: silent activations die."""
    product.heartbeat_seconds = HEARTBEAT
    product.save(update_fields=["heartbeat_seconds"])
    return product


def dead(license_, n: int = 1, *, seen: float = HEARTBEAT * 2, **kwargs: Any) -> list[Activation]:
    return ActivationFactory.create_batch(n, license=license_, last_seen_at=ago(seen), **kwargs)


# --- environment ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("instance", "environment"),
    [
        ("https://www.example.com/", "production"),
        ("staging.example.com", "staging"),
        ("http://localhost:8080", "local"),
        ("mysite.wpengine.com", "staging"),
        ("10.0.0.7", "local"),
    ],
)
def test_the_environment_is_decided_from_the_identifier(client, key, instance, environment):
    response = post(client, key, instance)
    assert response.status_code == 200
    assert response.json()["environment"] == environment
    assert Activation.objects.get().environment == environment


def test_non_production_takes_no_seat(client, key, license_):
    ActivationFactory.create_batch(3, license=license_)  # the license is full
    response = post(client, key, "staging.example.com")
    assert response.status_code == 200
    answer = response.json()
    assert (answer["seats_used"], answer["seats_remaining"]) == (3, 0)
    assert answer["non_production_in_use"] == 1


def test_the_claim_is_recorded_but_never_frees_a_production_host(client, key, license_):
    ActivationFactory.create_batch(3, license=license_)
    response = post(client, key, "shop.example.com", environment="staging")
    assert response.status_code == 409
    assert response.json()["error"] == "seat_limit_exceeded"
    Activation.objects.filter(license=license_).latest("id").delete()
    response = post(client, key, "shop.example.com", environment="development")
    assert response.status_code == 200
    row = Activation.objects.get(instance_identifier="shop.example.com")
    assert (row.environment, row.environment_claim) == ("production", "development")


def test_brand_patterns_make_hosts_staging(client, key, license_, brand):
    brand.non_production_patterns = ["*.preview.example.net"]
    brand.save(update_fields=["non_production_patterns"])
    response = post(client, key, "pr-12.preview.example.net")
    assert response.json()["environment"] == "staging"
    assert response.json()["seats_used"] == 0


def test_non_production_limit(client, key, license_, product):
    product.non_production_limit = 2
    product.save(update_fields=["non_production_limit"])
    assert post(client, key, "staging.a.com").status_code == 200
    assert post(client, key, "localhost").status_code == 200
    response = post(client, key, "dev.b.com")
    assert response.status_code == 409
    assert response.json()["error"] == "seat_limit_exceeded"
    assert response.json()["details"] == {"non_production_in_use": 2, "non_production_limit": 2}
    # Production seats are untouched by the non-production limit.
    assert post(client, key, "b.com").json()["seats_used"] == 1


# --- dead seats reclaimed ------------------------------------------------------------------


def test_a_full_license_reclaims_the_oldest_dead_seat(client, key, license_, beating):
    live = ActivationFactory.create(license=license_)
    older = dead(license_, seen=HEARTBEAT * 3)[0]
    newer = dead(license_, seen=HEARTBEAT * 2)[0]
    response = post(client, key, "new.example.com")
    assert response.status_code == 200
    assert response.json()["seats_used"] == 2  # live + new; the other dead one counts not
    older.refresh_from_db()
    newer.refresh_from_db()
    assert older.reclaimed_at is not None
    assert newer.reclaimed_at is None
    live.refresh_from_db()
    assert live.reclaimed_at is None
    event = AuditEvent.objects.get(action="activation.reclaimed")
    assert event.target_id == str(older.pk)
    assert event.license_id == license_.pk
    assert (event.before or {})["instance_identifier"] == older.instance_identifier
    assert event.after == {"reason": "dead", "last_seen_at": older.last_seen_at.isoformat()}
    created = AuditEvent.objects.get(action="activation.created")
    assert created.request_id == event.request_id


def test_ties_are_reclaimed_by_id(client, key, license_, beating):
    seen = ago(HEARTBEAT * 2)
    first, *_ = ActivationFactory.create_batch(3, license=license_, last_seen_at=seen)
    assert post(client, key, "new.example.com").status_code == 200
    reclaimed = set(
        Activation.objects.filter(reclaimed_at__isnull=False).values_list("pk", flat=True)
    )
    assert reclaimed == {first.pk}


def test_no_dead_seat_no_room(client, key, license_, beating):
    ActivationFactory.create_batch(3, license=license_, last_seen_at=ago(HEARTBEAT - 30))
    response = post(client, key, "new.example.com")
    assert response.status_code == 409
    assert response.json()["details"] == {"seats_used": 3, "max_seats": 3}
    assert not Activation.objects.filter(reclaimed_at__isnull=False).exists()
    assert not AuditEvent.objects.exists()


def test_without_a_heartbeat_nothing_is_ever_dead(client, key, license_):
    ActivationFactory.create_batch(3, license=license_, last_seen_at=ago(86400 * 365))
    assert post(client, key, "new.example.com").status_code == 409


def test_non_production_reclaims_only_non_production(client, key, license_, beating):
    beating.non_production_limit = 1
    beating.save(update_fields=["non_production_limit"])
    prod = dead(license_)[0]
    stale = dead(license_, instance_identifier="staging.old.com", environment="staging")[0]
    assert post(client, key, "staging.new.com").status_code == 200
    stale.refresh_from_db()
    prod.refresh_from_db()
    assert stale.reclaimed_at is not None
    assert prod.reclaimed_at is None


def test_lowered_max_seats_reclaims_just_enough(client, key, license_, beating):
    dead(license_, 4)
    ActivationFactory.create(license=license_)
    License.objects.filter(pk=license_.pk).update(max_seats=2)  # 5 rows, room for 1 more
    assert post(client, key, "new.example.com").status_code == 200
    assert Activation.objects.filter(reclaimed_at__isnull=False).count() == 4
    assert AuditEvent.objects.filter(action="activation.reclaimed").count() == 4


def test_a_dead_seat_activated_again_is_live_without_a_second_seat(client, key, license_, beating):
    row = dead(license_, instance_identifier="example.com")[0]
    ActivationFactory.create_batch(2, license=license_)
    response = post(client, key, "https://example.com/")
    assert response.status_code == 200
    assert response.json()["activation_id"] == row.pk
    assert response.json()["seats_used"] == 3
    row.refresh_from_db()
    assert row.last_seen_at > ago(5)


def test_counts_report_live_seats_only(client, key, license_, beating):
    dead(license_, 2)
    dead(license_, reclaimed_at=ago(5))
    response = post(client, key, "new.example.com")
    assert response.json()["seats_used"] == 1
    assert response.json()["seats_remaining"] == 2


# --- a reclaimed row comes back ------------------------------------------------------------


def test_a_reclaimed_instance_takes_a_free_seat_back(client, key, license_, beating):
    row = dead(license_, instance_identifier="example.com", reclaimed_at=ago(60))[0]
    response = post(client, key, "example.com", environment="production")
    assert response.status_code == 200
    assert response.json()["activation_id"] == row.pk
    assert response.json()["seats_used"] == 1
    row.refresh_from_db()
    assert row.reclaimed_at is None
    assert row.activated_at > ago(5)
    assert row.environment_claim == "production"
    event = AuditEvent.objects.get(action="activation.created")
    assert (event.after or {})["reason"] == "returned"


def test_a_reclaimed_instance_on_a_full_license_is_refused(client, key, license_, beating):
    row = dead(license_, instance_identifier="example.com", reclaimed_at=ago(60))[0]
    ActivationFactory.create_batch(3, license=license_)
    response = post(client, key, "example.com")
    assert response.status_code == 409
    row.refresh_from_db()
    assert row.reclaimed_at is not None


# --- replace -------------------------------------------------------------------------------


def test_replace_moves_the_seat_on_a_full_license(client, key, license_):
    ActivationFactory.create_batch(2, license=license_)
    old = ActivationFactory.create(license=license_, instance_identifier="old.com")
    response = post(client, key, "https://new.com/", replace_instance_identifier="www.old.com")
    assert response.status_code == 200
    assert response.json()["seats_used"] == 3
    assert not Activation.objects.filter(pk=old.pk).exists()
    new = Activation.objects.get(instance_identifier="new.com")
    released = AuditEvent.objects.get(action="activation.released")
    created = AuditEvent.objects.get(action="activation.created")
    assert released.target_id == str(old.pk)
    assert released.after == {"reason": "replaced", "by": "new.com"}
    assert created.target_id == str(new.pk)
    assert (created.after or {})["replaces"] == "old.com"
    assert released.request_id
    assert released.request_id == created.request_id


@pytest.mark.parametrize("state", ["missing", "reclaimed", "other-license"])
def test_replace_of_an_instance_without_a_place_is_404(client, key, license_, product, state):
    if state == "reclaimed":
        ActivationFactory.create(
            license=license_, instance_identifier="old.com", reclaimed_at=ago(5)
        )
    if state == "other-license":
        ActivationFactory.create(
            license=LicenseFactory.create(product=product), instance_identifier="old.com"
        )
    response = post(client, key, "new.com", replace_instance_identifier="old.com")
    assert response.status_code == 404
    assert response.json()["error"] == "activation_not_found"
    assert not Activation.objects.filter(instance_identifier="new.com").exists()
    assert not AuditEvent.objects.exists()


def test_replace_with_itself_is_a_no_op(client, key, license_):
    row = ActivationFactory.create(license=license_, instance_identifier="old.com")
    response = post(client, key, "old.com", replace_instance_identifier="https://old.com/")
    assert response.status_code == 200
    assert response.json()["activation_id"] == row.pk
    assert Activation.objects.get().pk == row.pk
    assert not AuditEvent.objects.exists()


def test_replace_when_the_new_instance_is_active_releases_only_the_old(client, key, license_):
    ActivationFactory.create(license=license_, instance_identifier="old.com")
    new = ActivationFactory.create(license=license_, instance_identifier="new.com")
    response = post(client, key, "new.com", replace_instance_identifier="old.com")
    assert response.status_code == 200
    assert response.json()["activation_id"] == new.pk
    assert response.json()["seats_used"] == 1
    assert list(AuditEvent.objects.values_list("action", flat=True)) == ["activation.released"]


def test_promotion_needs_a_production_seat(client, key, license_):
    ActivationFactory.create_batch(3, license=license_)
    ActivationFactory.create(
        license=license_, instance_identifier="staging.shop.com", environment="staging"
    )
    response = post(client, key, "shop.com", replace_instance_identifier="staging.shop.com")
    assert response.status_code == 409
    assert response.json()["details"] == {"seats_used": 3, "max_seats": 3}
    assert Activation.objects.filter(instance_identifier="staging.shop.com").exists()
    assert not AuditEvent.objects.exists()


def test_promotion_reclaims_a_dead_seat(client, key, license_, beating):
    ActivationFactory.create_batch(2, license=license_)
    dead(license_)
    ActivationFactory.create(
        license=license_, instance_identifier="staging.shop.com", environment="staging"
    )
    response = post(client, key, "shop.com", replace_instance_identifier="staging.shop.com")
    assert response.status_code == 200
    assert (response.json()["seats_used"], response.json()["non_production_in_use"]) == (3, 0)
    assert response.json()["environment"] == "production"
    assert AuditEvent.objects.filter(action="activation.reclaimed").count() == 1


def test_replace_onto_a_reclaimed_row_reuses_it(client, key, license_, beating):
    ActivationFactory.create_batch(2, license=license_)
    ActivationFactory.create(license=license_, instance_identifier="old.com")
    back = dead(license_, instance_identifier="new.com", reclaimed_at=ago(5))[0]
    response = post(client, key, "new.com", replace_instance_identifier="old.com")
    assert response.status_code == 200
    assert response.json()["activation_id"] == back.pk
    created = AuditEvent.objects.get(action="activation.created")
    assert ((created.after or {})["reason"], (created.after or {})["replaces"]) == (
        "returned",
        "old.com",
    )


# --- input ---------------------------------------------------------------------------------


@pytest.mark.parametrize("claim", [True, 1, 0.5, "prod", "", None, ["staging"], {"a": 1}])
def test_a_bad_environment_claim_is_400_naming_the_field(client, key, claim):
    response = post(client, key, environment=claim)
    assert response.status_code == 400
    assert response.json()["error"] == "validation_error"
    assert set(response.json()["details"]) == {"environment"}
    assert not Activation.objects.exists()


@pytest.mark.parametrize("value", [1, True, "", "   ", "https://", None])
def test_a_bad_replace_identifier_is_400_naming_the_field(client, key, value):
    response = post(client, key, replace_instance_identifier=value)
    assert response.status_code == 400
    assert set(response.json()["details"]) == {"replace_instance_identifier"}


def test_unknown_fields_are_ignored(client, key):
    response = post(client, key, surprise={"x": 1}, environment="local", extra=3)
    assert response.status_code == 200


# --- queries -------------------------------------------------------------------------------


@pytest.mark.parametrize("present", [0, 1, 20])
def test_activation_query_count_is_constant(client, product, present, django_assert_num_queries):
    license_ = LicenseFactory.create(product=product, max_seats=None)
    ActivationFactory.create_batch(present, license=license_)
    # Lock, counts and rows, savepoint, insert, release, audit row, its event (3: the
    # heartbeat values in use, the license with its seats, the INSERT) (+2: the test's
    # transaction makes the service's a savepoint), and the answer's license token.
    with django_assert_num_queries(6 + 3 + 2 + TOKEN_SIGNED_QUERIES):
        assert post(client, license_.license_key.key, "new.example.com").status_code == 200


@pytest.mark.parametrize("reclaimed", [1, 20])
def test_reclaiming_runs_in_constant_queries(client, beating, reclaimed, django_assert_num_queries):
    license_ = LicenseFactory.create(product=beating, max_seats=2)
    dead(license_, reclaimed)
    ActivationFactory.create(license=license_)  # rows: reclaimed + 1, room needs `reclaimed`
    # Lock, counts and rows, dead rows locked, reclaim, their audit rows, savepoint,
    # insert, release, audit row, two events of 3 queries each (+2), the license token.
    with django_assert_num_queries(9 + 6 + 2 + TOKEN_SIGNED_QUERIES):
        assert post(client, license_.license_key.key, "new.example.com").status_code == 200
    assert AuditEvent.objects.filter(action="activation.reclaimed").count() == reclaimed
    assert Activation.objects.filter(reclaimed_at__isnull=True).count() == 2
