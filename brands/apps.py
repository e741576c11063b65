from __future__ import annotations

from django.apps import AppConfig


class BrandsConfig(AppConfig):
    name = "brands"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Receivers: staff tokens revoked on a password change or deactivation, and a
        # successful login clearing that user's failed attempts.
        from brands import lockout, signals  # noqa: F401, PLC0415 (receivers connect in ready())
