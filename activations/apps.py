from django.apps import AppConfig


class ActivationsConfig(AppConfig):
    name = "activations"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # In ready(), as Django asks: these modules import models.
        from activations.check.keys import check_answer_changed_received  # noqa: PLC0415 (see above)
        from licensing.signals import check_answer_changed  # noqa: PLC0415 (see above)

        check_answer_changed.connect(check_answer_changed_received, dispatch_uid="check-cache")
