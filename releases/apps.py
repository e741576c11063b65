from django.apps import AppConfig


class ReleasesConfig(AppConfig):
    name = "releases"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # In ready(), as Django asks: these modules import models.
        from brands.limits import brand_catalog_changed  # noqa: PLC0415 (see above)
        from releases.catalog import (  # noqa: PLC0415 (the same)
            brand_catalog_changed_received,
            release_changed_received,
        )
        from releases.signals import release_changed  # noqa: PLC0415 (the same)

        # A brand's catalogue entry (products, patterns, releases) is forgotten on commit.
        brand_catalog_changed.connect(brand_catalog_changed_received, dispatch_uid="catalog")
        release_changed.connect(release_changed_received, dispatch_uid="catalog-releases")
