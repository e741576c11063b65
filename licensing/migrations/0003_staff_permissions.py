from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('licensing', '0002_customer_email_idna'),
    ]

    operations = [
        migrations.AlterModelOptions(
            name='license',
            options={'ordering': ['id'], 'permissions': [('issue_license', 'Can issue a license (US1 provisioning)'), ('suspend_license', 'Can suspend and resume a license'), ('renew_license', 'Can renew a license'), ('cancel_license', 'Can cancel a license'), ('change_seats', "Can change a license's seat limit"), ('release_activation', "Can release a license's activations"), ('change_customer_email', "Can correct a license key's customer email")]},
        ),
    ]
