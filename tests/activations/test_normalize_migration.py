"""The data migrations that bring stored identifiers and e-mails to the IDNA form (issue 12,
item 16): rows written in the old form, the migrations run by Django's executor, the merge
and the audit trail checked. Runs on SQLite and PostgreSQL alike."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.apps.registry import Apps
from django.core.cache import cache
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from activations.check.keys import check_generation_key
from licensing.keys import generate_license_key

pytestmark = pytest.mark.django_db(transaction=True)

ACTIVATIONS = ("activations", "0002_instance_identifiers_idna")
LICENSING = ("licensing", "0002_customer_email_idna")
MINE = [ACTIVATIONS, LICENSING]


def _executor() -> MigrationExecutor:
    return MigrationExecutor(connection)


def _before(node: tuple[str, str]) -> tuple[str, str]:
    parents = _executor().loader.graph.node_map[node].parents
    return next(parent.key for parent in parents if parent.key[0] == node[0])


@pytest.fixture
def old_apps() -> Iterator[Apps]:
    """The schema just before these migrations, for rows in the old form; the latest
    schema again afterwards."""
    before = [_before(node) for node in MINE]
    executor = _executor()
    executor.migrate(before)
    yield _executor().loader.project_state(MINE, at_end=False).apps
    executor = _executor()
    executor.migrate(executor.loader.graph.leaf_nodes())


def _migrate_mine() -> Apps:
    executor = _executor()
    executor.migrate(MINE)
    return _executor().loader.project_state(MINE).apps


def _make(apps: Apps) -> dict[str, Any]:
    """Rows as the old code stored them: bare international names kept as typed (they were
    machine ids to it), URLs' hosts lower-cased but not converted, e-mails only lower-cased.
    """
    Brand = apps.get_model("brands", "Brand")
    Product = apps.get_model("brands", "Product")
    LicenseKey = apps.get_model("licensing", "LicenseKey")
    License = apps.get_model("licensing", "License")
    Activation = apps.get_model("activations", "Activation")
    AuditEvent = apps.get_model("audit", "AuditEvent")

    brand = Brand.objects.create(name="RankMath", slug="rankmath", key_prefix="RNKM")
    product = Product.objects.create(brand=brand, name="Pro", slug="pro", default_max_seats=3)
    second = Product.objects.create(brand=brand, name="AI", slug="ai", default_max_seats=3)

    def key(email: str) -> Any:
        return LicenseKey.objects.create(
            brand=brand, key=generate_license_key("RNKM"), customer_email=email
        )

    unicode_key = key("ann@exämple.com")
    ascii_key = key("ann@xn--exmple-cua.com")
    plain_key = key("bob@example.com")
    full = License.objects.create(license_key=unicode_key, product=product, max_seats=3)
    other = License.objects.create(license_key=ascii_key, product=second, max_seats=3)

    t0 = timezone.now() - timedelta(days=30)

    def seat(license_: Any, identifier: str, activated: int, seen: int) -> Any:
        activation = Activation.objects.create(
            license=license_,
            instance_identifier=identifier,
            activated_at=t0 + timedelta(days=activated),
            last_seen_at=t0 + timedelta(days=seen),
        )
        AuditEvent.objects.create(
            action="activation.created",
            actor_type="product",
            actor="product",
            target_type="activation",
            target_id=str(activation.pk),
            brand_id=brand.pk,
            license_id=license_.pk,
            after={"instance_identifier": identifier},
        )
        return activation

    return {
        "t0": t0,
        "keys": (unicode_key, ascii_key, plain_key),
        "full": full,
        "other": other,
        # one site, three seats: a punycode, a Unicode and a fullwidth spelling
        "unicode": seat(full, "exämple.com", activated=2, seen=5),
        "punycode": seat(full, "xn--exmple-cua.com", activated=0, seen=1),
        "fullwidth": seat(full, "ｅｘäｍｐｌｅ.com", activated=1, seen=9),
        "renamed": seat(full, "bücher.de", activated=3, seen=3),
        "refused": seat(other, "http://", activated=0, seen=0),
        "unchanged": seat(other, "site.example.com", activated=0, seen=0),
        # the same site on another license is another seat, rewritten on its own
        "elsewhere": seat(other, "exämple.com", activated=4, seen=4),
    }


def test_activations_that_now_name_one_site_are_merged_into_the_first(old_apps):
    rows = _make(old_apps)
    audit_before = set(
        old_apps.get_model("audit", "AuditEvent").objects.values_list("id", flat=True)
    )

    apps = _migrate_mine()

    Activation = apps.get_model("activations", "Activation")
    t0, full, other = rows["t0"], rows["full"], rows["other"]
    assert sorted(
        Activation.objects.filter(license_id=full.pk).values_list("id", "instance_identifier")
    ) == [(rows["punycode"].pk, "xn--exmple-cua.com"), (rows["renamed"].pk, "xn--bcher-kva.de")]
    kept = Activation.objects.get(pk=rows["punycode"].pk)
    assert kept.activated_at == t0  # the earliest
    assert kept.last_seen_at == t0 + timedelta(days=9)  # the latest
    assert sorted(
        Activation.objects.filter(license_id=other.pk).values_list("id", "instance_identifier")
    ) == [
        (rows["refused"].pk, "http://"),
        (rows["unchanged"].pk, "site.example.com"),
        (rows["elsewhere"].pk, "xn--exmple-cua.com"),
    ]

    AuditEvent = apps.get_model("audit", "AuditEvent")
    assert audit_before <= set(AuditEvent.objects.values_list("id", flat=True))
    new_events = AuditEvent.objects.exclude(id__in=audit_before).filter(target_type="activation")
    assert sorted((e.action, e.target_id) for e in new_events) == sorted(
        [
            ("activation.normalized", str(rows["punycode"].pk)),
            ("activation.merged", str(rows["unicode"].pk)),
            ("activation.merged", str(rows["fullwidth"].pk)),
            ("activation.normalized", str(rows["renamed"].pk)),
            ("activation.normalized", str(rows["elsewhere"].pk)),
        ]
    )
    for event in new_events:
        assert (event.actor_type, event.actor) == ("system", "migration")
        assert event.license_id in {full.pk, other.pk}
    normalized = new_events.get(target_id=str(rows["punycode"].pk))
    assert normalized.after["merged_activation_ids"] == sorted(
        [rows["unicode"].pk, rows["fullwidth"].pk]
    )
    merged = new_events.get(target_id=str(rows["fullwidth"].pk))
    assert merged.before["instance_identifier"] == "ｅｘäｍｐｌｅ.com"
    assert merged.after["merged_into_activation_id"] == rows["punycode"].pk
    # the merged activations' own history still stands, next to where they went
    assert AuditEvent.objects.filter(
        action="activation.created", target_id=str(rows["fullwidth"].pk)
    ).exists()
    # the check answers of the keys whose seats changed were invalidated
    unicode_key, ascii_key, _plain_key = rows["keys"]
    assert cache.get(check_generation_key(unicode_key.key)) is not None
    assert cache.get(check_generation_key(ascii_key.key)) is not None


def test_emails_are_rewritten_and_keys_that_now_share_one_are_not_merged(old_apps):
    rows = _make(old_apps)

    apps = _migrate_mine()

    LicenseKey = apps.get_model("licensing", "LicenseKey")
    unicode_key, ascii_key, plain_key = rows["keys"]
    assert sorted(LicenseKey.objects.values_list("id", "customer_email")) == [
        (unicode_key.pk, "ann@xn--exmple-cua.com"),
        (ascii_key.pk, "ann@xn--exmple-cua.com"),
        (plain_key.pk, "bob@example.com"),
    ]
    License = apps.get_model("licensing", "License")
    assert License.objects.get(pk=rows["full"].pk).license_key_id == unicode_key.pk
    AuditEvent = apps.get_model("audit", "AuditEvent")
    changed = AuditEvent.objects.get(action="license_key.email_changed")
    assert changed.target_type == "license_key"
    assert changed.target_id == str(unicode_key.pk)
    assert changed.before == {"customer_email": "ann@exämple.com"}
    assert changed.after == {"customer_email": "ann@xn--exmple-cua.com"}
    assert cache.get(check_generation_key(unicode_key.key)) is not None
    assert cache.get(check_generation_key(plain_key.key)) is None


def test_migrating_twice_changes_nothing_more(old_apps):
    _make(old_apps)
    apps = _migrate_mine()
    Activation = apps.get_model("activations", "Activation")
    AuditEvent = apps.get_model("audit", "AuditEvent")
    state = sorted(Activation.objects.values_list("id", "instance_identifier", "last_seen_at"))
    events = AuditEvent.objects.count()

    executor = _executor()
    executor.migrate([_before(node) for node in MINE])  # the reverse changes no row
    _migrate_mine()

    assert (
        sorted(Activation.objects.values_list("id", "instance_identifier", "last_seen_at")) == state
    )
    assert AuditEvent.objects.count() == events
