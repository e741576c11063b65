from django.apps import AppConfig

# Neither module imports a model: safe while the app registry is still loading.
from license_service.logging import LicenseKeyRules, register_license_keys
from licensing.keys import (
    canonical_license_key,
    canonical_license_key_uncached,
    key_display_prefix,
)


class LicensingConfig(AppConfig):
    name = "licensing"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # The logs' masking learns what a license key is from here: license_service (the
        # plumbing) imports no app.
        register_license_keys(
            LicenseKeyRules(
                canonical=canonical_license_key,
                canonical_uncached=canonical_license_key_uncached,
                display_prefix=key_display_prefix,
            )
        )
