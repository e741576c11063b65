from django.apps import AppConfig


class ReleasesConfig(AppConfig):
    name = "releases"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # In ready(), as Django asks: these modules import models.
        from brands.limits import brand_catalog_changed  # noqa: PLC0415 (see above)
        from releases.catalog import brand_catalog_changed_received  # noqa: PLC0415 (the same)

        # A brand's catalogue entry (products, patterns) is forgotten on commit.
        brand_catalog_changed.connect(brand_catalog_changed_received, dispatch_uid="catalog")
