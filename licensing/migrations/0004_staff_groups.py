"""The staff groups of the console (SPEC §15): ``support`` and ``billing``.

- support: read everything a support agent looks at, release seats, correct a customer's
  e-mail; never cancel, renew, suspend or change seats.
- billing: read the same, issue, renew, suspend/resume, cancel, change seats.

Idempotent: each group is fetched or created and given its permissions (nothing is taken
away from a group an operator extended by hand). The permissions are created here if they
are missing (Django creates them only after every migration has run, in ``post_migrate``),
with the names Django would give them. Reversing leaves the groups alone: they may hold
users by then.
"""

from __future__ import annotations

from typing import Any

from django.db import migrations

VIEW = [
    ("licensing", "license", "view_license", "Can view license"),
    ("licensing", "licensekey", "view_licensekey", "Can view license key"),
    ("activations", "activation", "view_activation", "Can view activation"),
    ("audit", "auditevent", "view_auditevent", "Can view audit event"),
    ("brands", "brand", "view_brand", "Can view brand"),
    ("brands", "product", "view_product", "Can view product"),
]


def _license(codename: str, name: str) -> tuple[str, str, str, str]:
    return ("licensing", "license", codename, name)


GROUPS = {
    "support": [
        *VIEW,
        _license("release_activation", "Can release a license's activations"),
        _license("change_customer_email", "Can correct a license key's customer email"),
    ],
    "billing": [
        *VIEW,
        _license("issue_license", "Can issue a license (US1 provisioning)"),
        _license("suspend_license", "Can suspend and resume a license"),
        _license("renew_license", "Can renew a license"),
        _license("cancel_license", "Can cancel a license"),
        _license("change_seats", "Can change a license's seat limit"),
    ],
}


def create_groups(apps: Any, schema_editor: Any) -> None:
    db = schema_editor.connection.alias
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    ContentType = apps.get_model("contenttypes", "ContentType")
    for group_name, permissions in GROUPS.items():
        group, _ = Group.objects.using(db).get_or_create(name=group_name)
        for app_label, model, codename, name in permissions:
            content_type, _ = ContentType.objects.using(db).get_or_create(
                app_label=app_label, model=model
            )
            permission, _ = Permission.objects.using(db).get_or_create(
                content_type=content_type, codename=codename, defaults={"name": name}
            )
            group.permissions.add(permission)


class Migration(migrations.Migration):
    dependencies = [
        ("licensing", "0003_staff_permissions"),
        ("activations", "0004_classify_environments"),
        ("audit", "0002_append_only"),
        ("brands", "0003_product_edd_item_id"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_groups, migrations.RunPython.noop)]
