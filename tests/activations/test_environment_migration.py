"""The data migration that gives existing activations their environment (issue 14): rows
written before it (all production seats), the migration run by Django's executor, the
classification, the audit trail and the check cache checked. SQLite and PostgreSQL alike."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.apps.registry import Apps
from django.core.cache import cache
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from activations.check.keys import check_generation_key
from licensing.keys import generate_license_key

pytestmark = pytest.mark.django_db(transaction=True)

MINE = [("activations", "0004_classify_environments")]
BEFORE = [("activations", "0003_seats_environments")]
LICENSES = {"full", "untouched", "other"}


def _executor() -> MigrationExecutor:
    return MigrationExecutor(connection)


@pytest.fixture
def old_apps() -> Iterator[Apps]:
    """The schema just before the migration; the latest schema again afterwards."""
    executor = _executor()
    executor.migrate(BEFORE)
    yield _executor().loader.project_state(MINE, at_end=False).apps
    executor = _executor()
    executor.migrate(executor.loader.graph.leaf_nodes())


def _migrate_mine() -> Apps:
    _executor().migrate(MINE)
    return _executor().loader.project_state(MINE).apps


def _make(apps: Apps) -> dict[str, Any]:
    Brand = apps.get_model("brands", "Brand")
    Product = apps.get_model("brands", "Product")
    LicenseKey = apps.get_model("licensing", "LicenseKey")
    License = apps.get_model("licensing", "License")
    Activation = apps.get_model("activations", "Activation")

    rankmath = Brand.objects.create(
        name="RankMath",
        slug="rankmath",
        key_prefix="RNKM",
        non_production_patterns=["*.preview.rankmath.com"],
    )
    rocket = Brand.objects.create(name="WP Rocket", slug="wp-rocket", key_prefix="WPRK")
    pro = Product.objects.create(brand=rankmath, name="Pro", slug="pro", default_max_seats=3)
    cache_ = Product.objects.create(brand=rocket, name="Rocket", slug="rocket")

    def license_(brand: Any, product: Any, email: str) -> Any:
        key = LicenseKey.objects.create(
            brand=brand, key=generate_license_key(brand.key_prefix), customer_email=email
        )
        return License.objects.create(license_key=key, product=product, max_seats=3)

    full = license_(rankmath, pro, "ann@example.com")
    untouched = license_(rankmath, pro, "bob@example.com")
    other = license_(rocket, cache_, "eve@example.com")

    def seat(lic: Any, identifier: str) -> Any:
        return Activation.objects.create(license=lic, instance_identifier=identifier)

    return {
        "full": full,
        "untouched": untouched,
        "other": other,
        "shop": seat(full, "shop.example.com"),
        "staging": seat(full, "staging.shop.example.com"),
        "wpengine": seat(full, "shopstg.wpengine.com"),
        "localhost": seat(full, "localhost:8080"),
        "private": seat(full, "192.168.1.20/blog"),
        "preview": seat(full, "pr-12.preview.rankmath.com"),  # the brand's own pattern
        "machine": seat(full, "MACHINE-7F3A"),
        "only_production": seat(untouched, "example.dev"),
        # another brand's pattern does not apply here
        "elsewhere": seat(other, "pr-12.preview.rankmath.com"),
        "other_local": seat(other, "shop.test"),
    }


def test_existing_activations_get_their_environment(old_apps):
    rows = _make(old_apps)
    Activation = old_apps.get_model("activations", "Activation")
    assert set(Activation.objects.values_list("environment", flat=True)) == {"production"}

    apps = _migrate_mine()

    Activation = apps.get_model("activations", "Activation")
    environments = dict(Activation.objects.values_list("id", "environment"))
    seats = {name: row for name, row in rows.items() if name not in LICENSES}
    assert {name: environments[row.pk] for name, row in seats.items()} == {
        "shop": "production",
        "staging": "staging",
        "wpengine": "staging",
        "localhost": "local",
        "private": "local",
        "preview": "staging",
        "machine": "production",
        "only_production": "production",
        "elsewhere": "production",
        "other_local": "local",
    }


def test_each_change_is_audited_and_its_keys_check_answer_forgotten(old_apps):
    rows = _make(old_apps)
    AuditEvent = old_apps.get_model("audit", "AuditEvent")
    audit_before = set(AuditEvent.objects.values_list("id", flat=True))

    apps = _migrate_mine()

    AuditEvent = apps.get_model("audit", "AuditEvent")
    events = AuditEvent.objects.exclude(id__in=audit_before)
    changed = {"staging", "wpengine", "localhost", "private", "preview", "other_local"}
    assert sorted(events.values_list("target_id", flat=True)) == sorted(
        str(rows[name].pk) for name in changed
    )
    for event in events:
        assert (event.action, event.actor_type, event.actor) == (
            "activation.classified",
            "system",
            "migration",
        )
        assert event.target_type == "activation"
        assert event.before == {"environment": "production"}
        assert event.after["environment"] in {"staging", "local"}
    preview = events.get(target_id=str(rows["preview"].pk))
    assert preview.after == {"environment": "staging", "reason": "classified"}
    assert preview.license_id == rows["full"].pk
    assert preview.brand_id == rows["full"].license_key.brand_id

    LicenseKey = apps.get_model("licensing", "LicenseKey")
    key_of = dict(LicenseKey.objects.values_list("id", "key"))
    assert cache.get(check_generation_key(key_of[rows["full"].license_key_id])) is not None
    assert cache.get(check_generation_key(key_of[rows["other"].license_key_id])) is not None
    # no activation of this key changed: its cached answer is still good
    assert cache.get(check_generation_key(key_of[rows["untouched"].license_key_id])) is None


def test_migrating_twice_changes_nothing_more(old_apps):
    _make(old_apps)
    apps = _migrate_mine()
    Activation = apps.get_model("activations", "Activation")
    AuditEvent = apps.get_model("audit", "AuditEvent")
    state = sorted(Activation.objects.values_list("id", "environment"))
    events = AuditEvent.objects.count()

    _executor().migrate(BEFORE)  # the reverse is a no-op: nothing changes back
    assert sorted(Activation.objects.values_list("id", "environment")) == state
    _migrate_mine()

    assert sorted(Activation.objects.values_list("id", "environment")) == state
    assert AuditEvent.objects.count() == events


def test_batches_cover_more_rows_than_one_batch(old_apps):
    rows = _make(old_apps)
    Activation = old_apps.get_model("activations", "Activation")
    Activation.objects.bulk_create(
        Activation(license_id=rows["full"].pk, instance_identifier=f"dev.site{i}.example.com")
        for i in range(1_203)
    )

    apps = _migrate_mine()

    Activation = apps.get_model("activations", "Activation")
    staged = Activation.objects.filter(instance_identifier__startswith="dev.site")
    assert staged.count() == 1_203
    assert set(staged.values_list("environment", flat=True)) == {"staging"}
    AuditEvent = apps.get_model("audit", "AuditEvent")
    assert AuditEvent.objects.filter(action="activation.classified").count() == 1_203 + 6
