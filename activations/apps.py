from django.apps import AppConfig


class ActivationsConfig(AppConfig):
    name = "activations"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from activations.check.keys import check_answer_changed_received
        from licensing.signals import check_answer_changed

        check_answer_changed.connect(check_answer_changed_received, dispatch_uid="check-cache")
