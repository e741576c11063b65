"""The console's groups (``support``, ``billing``: licensing 0004) read a license's webhook
deliveries and may send one again (SPEC §15: "a license's webhook deliveries … are
visible"). Support answers "did our backend hear about it?" from the license's page; a
retry sends the same event with the same ``webhook-id``, which a receiver already
de-duplicates, so it changes nothing of the license. Neither group may add, change or
delete an endpoint (the brand's own configuration).

Idempotent, as licensing 0004: each group fetched or created, the permissions created if
``post_migrate`` has not made them yet, nothing taken away. Reversing leaves them.
"""

from __future__ import annotations

from typing import Any

from django.db import migrations

PERMISSIONS = [
    ("webhooks", "webhookdelivery", "view_webhookdelivery", "Can view webhook delivery"),
    ("webhooks", "webhookdelivery", "retry_webhookdelivery", "Can retry a webhook delivery"),
    ("webhooks", "webhookendpoint", "view_webhookendpoint", "Can view webhook endpoint"),
]
GROUPS = ("support", "billing")


def grant(apps: Any, schema_editor: Any) -> None:
    db = schema_editor.connection.alias
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    ContentType = apps.get_model("contenttypes", "ContentType")
    wanted = []
    for app_label, model, codename, name in PERMISSIONS:
        content_type, _ = ContentType.objects.using(db).get_or_create(
            app_label=app_label, model=model
        )
        permission, _ = Permission.objects.using(db).get_or_create(
            content_type=content_type, codename=codename, defaults={"name": name}
        )
        wanted.append(permission)
    for group_name in GROUPS:
        group, _ = Group.objects.using(db).get_or_create(name=group_name)
        group.permissions.add(*wanted)


class Migration(migrations.Migration):
    dependencies = [
        ("webhooks", "0002_delivery_retry_permission"),
        ("licensing", "0004_staff_groups"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
