from django.apps import AppConfig


class ActivationsConfig(AppConfig):
    name = "activations"
    default_auto_field = "django.db.models.BigAutoField"
