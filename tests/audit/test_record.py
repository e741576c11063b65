"""``audit_record`` writes inside the caller's transaction, and only there (SPEC §8)."""

from __future__ import annotations

import pytest
from django.db import transaction

from audit.errors import AuditOutsideTransaction
from audit.models import AuditEvent
from audit.services import Actor, audit_record


def record() -> AuditEvent:
    return audit_record(
        action="license.suspended",
        actor=Actor.staff("ops"),
        target_type="license",
        target_id=7,
        license_id=7,
        before={"status": "valid"},
        after={"status": "suspended"},
    )


# Outside a test transaction: pytest-django's plain ``db`` wraps every test in one.
@pytest.mark.django_db(transaction=True)
def test_recording_outside_a_transaction_is_refused_and_writes_nothing():
    assert not transaction.get_connection().in_atomic_block
    with pytest.raises(AuditOutsideTransaction, match=r"transaction\.atomic"):
        record()
    assert not AuditEvent.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_the_outside_a_transaction_error_is_a_runtime_error():
    with pytest.raises(RuntimeError):
        record()


@pytest.mark.django_db(transaction=True)
def test_recording_inside_a_transaction_commits_with_it():
    with transaction.atomic():
        event = record()
    assert AuditEvent.objects.get().pk == event.pk
    assert event.after == {"status": "suspended"}


@pytest.mark.django_db(transaction=True)
def test_an_event_recorded_in_a_rolled_back_transaction_is_gone_with_it():
    class ChangeFailed(Exception):
        pass

    def service() -> None:
        with transaction.atomic():
            record()
            raise ChangeFailed  # the change the event describes fails after it was recorded

    with pytest.raises(ChangeFailed):
        service()
    assert not AuditEvent.objects.exists()
