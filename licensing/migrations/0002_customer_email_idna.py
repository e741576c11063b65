"""Stored customer e-mails in the form SPEC §2 now gives them (issue 12, item 16): trimmed,
lower-cased, the domain in its IDNA ASCII form (``ann@exämple.com`` is
``ann@xn--exmple-cua.com``), so lookups by e-mail (US6, the list filter, the choice of a
key at provisioning) find a customer however the domain was spelled.

Only the e-mail is rewritten; keys are never merged, not even two keys of one brand whose
e-mails now coincide: a key is a credential already in the customer's hands, and each keeps
its licenses and seats. Nothing unique covers (brand, e-mail), so two such keys are valid
rows; provisioning by e-mail then picks the older one, as it does for two keys made with
``new_key``.

Each rewrite is audited (``license_key.email_changed``, actor ``system``/``migration``,
the e-mail before and after). An e-mail whose domain the new rules refuse, or that would
exceed 254 characters in ASCII form, is left as it is and counted in the output. The check
cache of each rewritten key is invalidated after commit (its answer masks the e-mail).
Not reversible (the old spellings are in the audit rows).
"""

from __future__ import annotations

from typing import Any

from django.db import migrations, models, transaction


def rewrite_emails(apps: Any, schema_editor: Any) -> None:
    from licensing.signals import check_answer_changed
    from licensing.models import MAX_EMAIL_LENGTH, normalize_email

    LicenseKey = apps.get_model("licensing", "LicenseKey")
    AuditEvent = apps.get_model("audit", "AuditEvent")
    db = schema_editor.connection.alias
    scan = LicenseKey.objects.using(db).values_list("id", "brand_id", "key", "customer_email")
    changes = []
    refused = 0
    for key_id, brand_id, key, email in scan.iterator(chunk_size=2000):
        try:
            new = normalize_email(email, strict=True)
        except ValueError:
            refused += 1
            continue
        if new == email:
            continue
        if len(new) > MAX_EMAIL_LENGTH:
            refused += 1
            continue
        changes.append((key_id, brand_id, key, email, new))

    for key_id, brand_id, key, email, new in changes:
        LicenseKey.objects.using(db).filter(pk=key_id).update(customer_email=new)
        transaction.on_commit(
            lambda key=key: check_answer_changed.send(sender=None, key=key), using=db
        )
    AuditEvent.objects.using(db).bulk_create(
        [
            AuditEvent(
                action="license_key.email_changed",
                actor_type="system",
                actor="migration",
                target_type="license_key",
                target_id=str(key_id),
                brand_id=brand_id,
                before={"customer_email": email},
                after={"customer_email": new},
            )
            for key_id, brand_id, _, email, new in changes
        ],
        batch_size=500,
    )
    if changes or refused:
        print(
            f"\n  customer e-mails: {len(changes)} rewritten, {refused} left as they were "
            "(domain refused by the new rules)"
        )


class Migration(migrations.Migration):
    dependencies = [
        ("licensing", "0001_initial"),
        ("audit", "0001_initial"),
    ]

    operations = [
        migrations.AlterField(
            model_name="licensekey",
            name="customer_email",
            field=models.EmailField(
                help_text="Stored trimmed, lower-cased, its domain in IDNA ASCII form.",
                max_length=254,
            ),
        ),
        migrations.RunPython(rewrite_emails, migrations.RunPython.noop, elidable=True),
    ]
