"""On PostgreSQL the database itself refuses UPDATE and DELETE of audit rows (migration
audit 0002), whatever sends them: raw SQL, a data migration's historical model, a bug."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps as global_apps
from django.db import DatabaseError, connection, transaction
from django.db.migrations.loader import MigrationLoader

from audit.models import AuditEvent
from tests.audit.conftest import snapshot
from tests.conftest import requires_postgres

pytestmark = [pytest.mark.django_db, requires_postgres]

# The trigger's RAISE (SQLSTATE P0001) reaches Django as a DatabaseError subclass (psycopg 3
# maps it to ProgrammingError): the API's handler answers 500 and logs "database error".


def raw(sql: str, *params: int) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def test_the_table_these_tests_write_is_the_audit_table():
    assert AuditEvent._meta.db_table == "audit_auditevent"


def test_raw_sql_update_of_an_audit_row_is_refused_by_the_database(event):
    before = snapshot()
    with pytest.raises(DatabaseError, match="append-only: UPDATE"), transaction.atomic():
        raw("UPDATE audit_auditevent SET action = 'license.resumed' WHERE id = %s", event.pk)
    assert snapshot() == before


def test_raw_sql_delete_of_an_audit_row_is_refused_by_the_database(event):
    before = snapshot()
    with pytest.raises(DatabaseError, match="append-only: DELETE"), transaction.atomic():
        raw("DELETE FROM audit_auditevent WHERE id = %s", event.pk)
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        raw("DELETE FROM audit_auditevent")
    assert snapshot() == before


def test_a_data_migrations_historical_model_cannot_delete_or_update_audit_rows(event):
    # Historical models have neither the guarded queryset nor save(): only the trigger holds.
    state = MigrationLoader(connection).project_state(("audit", "0002_append_only"))
    historical = state.apps.get_model("audit", "AuditEvent")
    before = snapshot()
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        historical.objects.filter(pk=event.pk).update(actor="forger")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        historical.objects.all().delete()
    assert snapshot() == before


def test_raw_sql_insert_of_an_audit_row_is_still_allowed(event):
    inserted = raw(
        "INSERT INTO audit_auditevent (action, actor_type, actor, target_type, target_id,"
        " request_id, created_at) VALUES ('x.y', 'system', 'system', 't', '1', '', now())"
    )
    assert inserted == 1


def test_the_migration_reverses_cleanly_and_reapplies(event):
    append_only = importlib.import_module("audit.migrations.0002_append_only")
    with transaction.atomic():  # DDL is transactional on PostgreSQL: undone on the way out
        with connection.schema_editor() as editor:
            append_only.drop_trigger(global_apps, editor)
        assert raw("UPDATE audit_auditevent SET actor = 'ops' WHERE id = %s", event.pk) == 1
        with connection.schema_editor() as editor:
            append_only.create_trigger(global_apps, editor)
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            raw("DELETE FROM audit_auditevent WHERE id = %s", event.pk)
        transaction.set_rollback(True)
