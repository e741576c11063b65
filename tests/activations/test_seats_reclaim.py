"""``manage.py reclaim_activations`` (SEATS rule 3)."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from activations import services
from activations.models import Activation
from audit.models import AuditEvent
from audit.services import Actor
from tests.factories import ActivationFactory, LicenseFactory, ProductFactory

pytestmark = pytest.mark.django_db

HEARTBEAT = 600


def ago(seconds: float):
    return timezone.now() - timedelta(seconds=seconds)


def run(*args: str) -> str:
    out = StringIO()
    call_command("reclaim_activations", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def beating(product):
    product.heartbeat_seconds = HEARTBEAT
    product.save(update_fields=["heartbeat_seconds"])
    return product


def test_every_dead_row_is_reclaimed_and_audited(beating, other_product):
    first, second = LicenseFactory.create_batch(2, product=beating, max_seats=10)
    dead = [
        *ActivationFactory.create_batch(3, license=first, last_seen_at=ago(HEARTBEAT * 2)),
        ActivationFactory.create(
            license=second,
            instance_identifier="staging.a.com",
            environment="staging",
            last_seen_at=ago(HEARTBEAT + 5),
        ),
    ]
    live = ActivationFactory.create(license=first, last_seen_at=ago(HEARTBEAT - 30))
    no_heartbeat = ActivationFactory.create(
        license=LicenseFactory.create(product=other_product), last_seen_at=ago(86400 * 400)
    )
    out = run()
    assert "Reclaimed 4 activation(s)." in out
    assert f"license {second.pk}: reclaimed activation {dead[3].pk} staging.a.com" in out
    assert set(
        Activation.objects.filter(reclaimed_at__isnull=False).values_list("pk", flat=True)
    ) == {a.pk for a in dead}
    for row in (live, no_heartbeat):
        row.refresh_from_db()
        assert row.reclaimed_at is None
    events = AuditEvent.objects.filter(action="activation.reclaimed")
    assert sorted(int(e.target_id) for e in events) == sorted(a.pk for a in dead)
    assert {(e.actor_type, e.actor) for e in events} == {("system", "reclaim_activations")}
    assert "Reclaimed 0 activation(s)." in run()  # idempotent
    assert events.count() == 4


def test_dry_run_changes_nothing(beating):
    license_ = LicenseFactory.create(product=beating)
    row = ActivationFactory.create(license=license_, last_seen_at=ago(HEARTBEAT * 2))
    out = run("--dry-run")
    assert f"would reclaim activation {row.pk}" in out
    assert "Would reclaim 1 activation(s)." in out
    row.refresh_from_db()
    assert row.reclaimed_at is None
    assert not AuditEvent.objects.exists()


def test_brand_option(beating, other_brand):
    other = ProductFactory.create(brand=other_brand, heartbeat_seconds=HEARTBEAT)
    mine = ActivationFactory.create(
        license=LicenseFactory.create(product=beating), last_seen_at=ago(HEARTBEAT * 2)
    )
    theirs = ActivationFactory.create(
        license=LicenseFactory.create(product=other), last_seen_at=ago(HEARTBEAT * 2)
    )
    run("--brand", other_brand.slug)
    mine.refresh_from_db()
    theirs.refresh_from_db()
    assert mine.reclaimed_at is None
    assert theirs.reclaimed_at is not None
    with pytest.raises(CommandError):
        run("--brand", "nope")


def test_batches_reclaim_everything_oldest_first(beating):
    license_ = LicenseFactory.create(product=beating, max_seats=None)
    rows = [
        ActivationFactory.create(license=license_, last_seen_at=ago(HEARTBEAT * 2 + n))
        for n in range(7)
    ]
    first = services.activations_reclaim(license_id=license_.pk, actor=Actor.system(), batch=3)
    assert [r.activation_id for r in first] == [rows[6].pk, rows[5].pk, rows[4].pk]
    assert "Reclaimed 4 activation(s)." in run("--batch", "2")
    assert not Activation.objects.filter(reclaimed_at__isnull=True).exists()


def test_reclaim_runs_in_constant_queries(beating, django_assert_num_queries):
    license_ = LicenseFactory.create(product=beating, max_seats=None)
    for n in (1, 25):
        ActivationFactory.create_batch(n, license=license_, last_seen_at=ago(HEARTBEAT * 2))
        # Lock, dead rows locked, reclaim, audit rows, their events (3: the heartbeat
        # values in use, the license with its seats, one INSERT) (+2: the test's transaction).
        with django_assert_num_queries(4 + 3 + 2):
            assert (
                len(services.activations_reclaim(license_id=license_.pk, actor=Actor.system())) == n
            )
