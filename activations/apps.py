from django.apps import AppConfig


class ActivationsConfig(AppConfig):
    name = "activations"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # In ready(), as Django asks: these modules import models.
        from activations.check.keys import (  # noqa: PLC0415 (see above)
            check_answer_changed_received,
            product_heartbeat_changed_received,
        )
        from brands.limits import product_heartbeat_changed  # noqa: PLC0415 (see above)
        from licensing.signals import check_answer_changed  # noqa: PLC0415 (see above)

        check_answer_changed.connect(check_answer_changed_received, dispatch_uid="check-cache")
        # Which seats are dead changes on every license of the product: a new epoch.
        product_heartbeat_changed.connect(
            product_heartbeat_changed_received, dispatch_uid="check-cache-heartbeat"
        )
