"""Audit events are append-only in the database too (SPEC §8; STYLE 4, invariants in the
database as well): on PostgreSQL a row trigger refuses every UPDATE and DELETE of
audit_auditevent, whatever sends it (raw SQL, a historical model in a data migration, a
bug). Inserts cost nothing extra. SQLite has no such guard; the model's own refusals apply.

TRUNCATE is left alone (row triggers do not fire on it): it needs the table owner, and
the test runner empties tables with it between transactional tests. A later migration
that really must rewrite audit rows has to say so in its own SQL:
``ALTER TABLE audit_auditevent DISABLE TRIGGER audit_auditevent_append_only`` and
``ENABLE TRIGGER`` again after, in the same transaction.
"""

from django.db import migrations

FUNCTION = "audit_auditevent_append_only"
TRIGGER = "audit_auditevent_append_only"


def create_trigger(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    table = schema_editor.quote_name(apps.get_model("audit", "AuditEvent")._meta.db_table)
    # No '%' in the SQL: it is sent without parameters, and the message is built by
    # concatenation rather than RAISE's own format string.
    schema_editor.execute(
        f"""
        CREATE OR REPLACE FUNCTION {FUNCTION}() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION USING
                MESSAGE = 'audit events are append-only: ' || TG_OP
                          || ' of audit event ' || OLD.id || ' refused',
                HINT = 'Audit rows are never changed or deleted (SPEC 8).';
        END;
        $$
        """,
        params=None,
    )
    schema_editor.execute(
        f"""
        CREATE TRIGGER {TRIGGER}
        BEFORE UPDATE OR DELETE ON {table}
        FOR EACH ROW EXECUTE FUNCTION {FUNCTION}()
        """,
        params=None,
    )


def drop_trigger(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    table = schema_editor.quote_name(apps.get_model("audit", "AuditEvent")._meta.db_table)
    schema_editor.execute(f"DROP TRIGGER IF EXISTS {TRIGGER} ON {table}", params=None)
    schema_editor.execute(f"DROP FUNCTION IF EXISTS {FUNCTION}()", params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0001_initial"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="auditevent",
            options={"base_manager_name": "objects", "ordering": ["-created_at", "-id"]},
        ),
        migrations.RunPython(create_trigger, drop_trigger),
    ]
