"""``manage.py load_demo_data``: the demo tenants of README's curl tour (``make run``).

Two brands with their products, one API key per brand with a fixed, published value, and a
superuser ``admin``. Idempotent: what exists is left as it is, so a second run changes
nothing. Refuses to run unless ``DEBUG`` is on, because everything it creates has a
publicly known secret.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from audit.services import Actor
from brands import services
from brands.models import Brand, BrandApiKey, Product, hash_api_key

ADMIN_USERNAME = "admin"
ADMIN_PASSWORD_ENV = "DEMO_ADMIN_PASSWORD"  # noqa: S105 (a variable name)
ADMIN_PASSWORD_DEFAULT = "admin"  # noqa: S105 (demo only; DEBUG is required)


@dataclass(frozen=True)
class DemoProduct:
    name: str
    slug: str
    default_max_seats: int | None


@dataclass(frozen=True)
class DemoBrand:
    name: str
    slug: str
    key_prefix: str
    api_key: str
    products: tuple[DemoProduct, ...]


# The API keys are documented in README.md; they only ever exist on a DEBUG machine.
DEMO_BRANDS = (
    DemoBrand(
        name="RankMath",
        slug="rankmath",
        key_prefix="RNKM",
        api_key="lsk_demo_rankmath_00000000000000000000000000000000",
        products=(
            DemoProduct("RankMath Pro", "rankmath-pro", 3),
            DemoProduct("Content AI", "content-ai", None),
        ),
    ),
    DemoBrand(
        name="WP Rocket",
        slug="wp-rocket",
        key_prefix="WPRK",
        api_key="lsk_demo_wp-rocket_0000000000000000000000000000000",
        products=(DemoProduct("WP Rocket", "wp-rocket", 1),),
    ),
)


@transaction.atomic
class Command(BaseCommand):
    help = "Create the demo brands, products, API keys and admin user (DEBUG only; idempotent)."

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEBUG:
            raise CommandError(
                "load_demo_data only runs with DEBUG on (local settings): it creates a "
                "superuser and API keys whose secrets are published."
            )
        actor = Actor.system("load_demo_data")
        created: list[str] = []
        with transaction.atomic():
            for demo in DEMO_BRANDS:
                created += self._load_brand(demo, actor)
            created += self._load_admin()

        self.stdout.write(
            "Created: " + ", ".join(created) if created else "Demo data already loaded."
        )
        self.stdout.write("\nDemo brand API keys (header X-Brand-API-Key):")
        for demo in DEMO_BRANDS:
            api_key = BrandApiKey.objects.filter(key_hash=hash_api_key(demo.api_key)).first()
            state = " (revoked)" if api_key is not None and api_key.is_revoked else ""
            self.stdout.write(f"  {demo.slug:<10} {demo.api_key}{state}")
        password = (
            f"${ADMIN_PASSWORD_ENV}"
            if os.environ.get(ADMIN_PASSWORD_ENV)
            else f'"{ADMIN_PASSWORD_DEFAULT}"'
        )
        self.stdout.write(
            f"\nAdmin: /admin/ and POST /api/v1/auth/token/ as user "
            f'"{ADMIN_USERNAME}", password {password}'
        )

    def _load_brand(self, demo: DemoBrand, actor: Actor) -> list[str]:
        created = []
        brand = Brand.objects.filter(slug=demo.slug).first()
        if brand is None:
            brand = services.brand_create(
                name=demo.name, slug=demo.slug, key_prefix=demo.key_prefix, actor=actor
            )
            created.append(f"brand {brand.slug}")
        for product in demo.products:
            if not Product.objects.filter(brand=brand, slug=product.slug).exists():
                services.product_create(
                    brand=brand,
                    name=product.name,
                    slug=product.slug,
                    default_max_seats=product.default_max_seats,
                    actor=actor,
                )
                created.append(f"product {brand.slug}/{product.slug}")
        if not BrandApiKey.objects.filter(key_hash=hash_api_key(demo.api_key)).exists():
            services.api_key_create(
                brand=brand, name="demo", scopes=None, actor=actor, plain=demo.api_key
            )
            created.append(f"API key of {brand.slug}")
        return created

    def _load_admin(self) -> list[str]:
        users = get_user_model()._default_manager
        if users.filter(username=ADMIN_USERNAME).exists():
            return []
        password = os.environ.get(ADMIN_PASSWORD_ENV) or ADMIN_PASSWORD_DEFAULT
        users.create_superuser(
            username=ADMIN_USERNAME, email="admin@example.com", password=password
        )
        return [f"superuser {ADMIN_USERNAME}"]
