"""Audit events are append-only through every door the ORM offers (SPEC §8)."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction

from audit.errors import AuditEventImmutable
from audit.models import AuditEvent
from tests.audit.conftest import snapshot

pytestmark = pytest.mark.django_db


def test_queryset_update_of_audit_events_is_refused(event):
    before = snapshot()
    with pytest.raises(AuditEventImmutable, match=r"QuerySet\.update\(\)"):
        AuditEvent.objects.filter(pk=event.pk).update(action="license.resumed")
    with pytest.raises(AuditEventImmutable):
        AuditEvent.objects.all().update(actor="forged")
    assert snapshot() == before


def test_queryset_delete_of_audit_events_is_refused(event):
    before = snapshot()
    with pytest.raises(AuditEventImmutable, match=r"QuerySet\.delete\(\)"):
        AuditEvent.objects.filter(pk=event.pk).delete()
    with pytest.raises(AuditEventImmutable):
        AuditEvent.objects.all().delete()
    assert snapshot() == before


def test_a_values_queryset_cannot_update_or_delete_either(event):
    before = snapshot()
    with pytest.raises(AuditEventImmutable):
        AuditEvent.objects.values("pk").filter(pk=event.pk).update(actor="forged")
    with pytest.raises(AuditEventImmutable):
        AuditEvent.objects.values_list("pk").delete()
    assert snapshot() == before


def test_bulk_update_of_audit_events_is_refused(event):
    before = snapshot()
    event.action = "license.resumed"
    with pytest.raises(AuditEventImmutable, match=r"bulk_update"):
        AuditEvent.objects.bulk_update([event], ["action"])
    assert snapshot() == before


def test_saving_a_recorded_audit_event_again_is_refused(event):
    before = snapshot()
    event.after = {"status": "valid"}
    with pytest.raises(AuditEventImmutable, match=r"Model\.save\(\)"):
        event.save()
    with pytest.raises(AuditEventImmutable):
        event.save(update_fields=["after"])
    assert snapshot() == before


def test_a_new_instance_with_a_recorded_pk_cannot_overwrite_that_row(event):
    before = snapshot()
    forged = AuditEvent(
        pk=event.pk,
        action="license.resumed",
        actor_type="staff",
        actor="forger",
        target_type="license",
        target_id=event.target_id,
        created_at=event.created_at,
    )
    # Without a forced insert, Django would save this as an UPDATE of the recorded row.
    with pytest.raises(IntegrityError, match=r"(?i)unique|duplicate"), transaction.atomic():
        forged.save()
    assert snapshot() == before


def test_save_with_force_update_is_refused_even_on_a_new_instance(event):
    before = snapshot()
    forged = AuditEvent(pk=event.pk, action="forged", actor="forger", target_id="1")
    with pytest.raises(AuditEventImmutable):
        forged.save(force_update=True)
    assert snapshot() == before


def test_model_delete_of_an_audit_event_is_refused(event):
    before = snapshot()
    with pytest.raises(AuditEventImmutable, match=r"Model\.delete\(\)"):
        event.delete()
    assert snapshot() == before


def test_an_upserting_bulk_create_is_refused(event):
    before = snapshot()
    forged = AuditEvent(
        pk=event.pk, action="forged", actor_type="staff", actor="forger", target_id="1"
    )
    with pytest.raises(AuditEventImmutable, match=r"update_conflicts"):
        AuditEvent.objects.bulk_create(
            [forged], update_conflicts=True, update_fields=["action"], unique_fields=["id"]
        )
    assert snapshot() == before


def test_bulk_create_still_inserts_new_events(event):
    count = AuditEvent.objects.count()
    AuditEvent.objects.bulk_create(
        [AuditEvent(action="x.y", actor_type="system", actor="system", target_type="t")]
    )
    assert AuditEvent.objects.count() == count + 1


def test_update_or_create_cannot_change_a_recorded_event(event):
    before = snapshot()
    with pytest.raises(AuditEventImmutable):
        AuditEvent.objects.update_or_create(pk=event.pk, defaults={"action": "forged"})
    assert snapshot() == before


def test_a_recorded_event_can_still_be_read_and_refreshed(event):
    event.refresh_from_db()
    assert AuditEvent.objects.get(pk=event.pk).action == "license.suspended"


def test_the_immutability_error_is_a_runtime_error_that_names_the_operation():
    error = AuditEventImmutable("QuerySet.update()")
    assert isinstance(error, RuntimeError)
    assert error.operation == "QuerySet.update()"
    assert "append-only" in str(error)
