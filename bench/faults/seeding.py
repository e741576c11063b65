"""The servers' environment, Django set-up, and data seeded directly (not timed)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.faults.keys import KEYS_USED
from bench.faults.plan import HIGH_RATE, SECRET_KEY, SIGNING_KEYS_SECRET
from bench.services import Stack


def server_env(stack: Stack, **overrides: str) -> dict[str, str]:
    env = {
        "DJANGO_SETTINGS_MODULE": "license_service.settings.production",
        "SECRET_KEY": SECRET_KEY,
        "SIGNING_KEYS_SECRET": SIGNING_KEYS_SECRET,
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "false",
        "SECURE_HSTS_SECONDS": "0",
        "DATABASE_URL": stack.database_url,
        "REDIS_URL": stack.redis_url,
        "THROTTLE_PRODUCT_IP": HIGH_RATE,
        "THROTTLE_PRODUCT_KEY": HIGH_RATE,
        "THROTTLE_BRAND": HIGH_RATE,
        "THROTTLE_AUTH_IP": HIGH_RATE,
        "THROTTLE_UNKNOWN_KEY_IP": HIGH_RATE,
        "LOG_LEVEL": "WARNING",
        "GUNICORN_LOG_LEVEL": "warning",
        # Two processes whatever the machine: the scenarios race writes in one worker
        # against near caches in another.
        "GUNICORN_WORKERS": "2",
        # Webhooks (scenarios 11-14): the suite's receiver is a plain-http server on
        # loopback, which the SSRF rules refuse unless allowed.
        "WEBHOOK_ALLOW_HTTP": "true",
        "WEBHOOK_ALLOWED_NETWORKS": "127.0.0.1/32",
    }
    env.update(overrides)
    return env


def setup_django(stack: Stack) -> None:
    os.environ.update(server_env(stack))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


def db_reconnect() -> None:
    from django.db import connections

    for conn in connections.all():
        conn.close()


@dataclass
class Tenant:
    brand_id: int
    slug: str
    prefix: str
    api_key: str
    products: dict[str, int | None]


def seed_tenant(slug: str, prefix: str, products: dict[str, int | None]) -> Tenant:
    from audit.services import Actor
    from brands import services as brand_services

    actor = Actor.system("faults")
    brand = brand_services.brand_create(
        name=f"Faults {slug}", slug=slug, key_prefix=prefix, actor=actor
    )
    for product_slug, seats in products.items():
        brand_services.product_create(
            brand=brand, name=product_slug, slug=product_slug, default_max_seats=seats, actor=actor
        )
    _, plain = brand_services.api_key_create(brand=brand, name="faults", scopes=None, actor=actor)
    # Its token signing key, made (and audited) now rather than by the first activation's
    # token: scenario 6 counts the audit rows of the writes it makes.
    brand_services.signing_key_current(brand_id=brand.pk)
    return Tenant(brand.pk, slug, prefix, plain, products)


@dataclass
class Lic:
    """A license as the suite expects it to be."""

    license_id: int
    key: str
    product: str
    status: str = "valid"
    expires_at: datetime | None = None
    max_seats: int | None = None
    instances: set[str] = field(default_factory=set)
    counter: int = 0

    def seats_remaining(self) -> int | None:
        if self.max_seats is None:
            return None
        return max(0, self.max_seats - len(self.instances))


def provision_direct(tenant: Tenant, email: str, product: str, **kwargs: Any) -> Lic:
    """Seed a license through the service layer (not timed, not part of any count)."""
    from audit.services import Actor
    from brands.models import Brand
    from licensing.services import license_provision

    brand = Brand.objects.get(pk=tenant.brand_id)
    license_ = license_provision(
        brand=brand,
        customer_email=email,
        product_slug=product,
        actor=Actor.system("faults"),
        **kwargs,
    )
    KEYS_USED.note(license_.license_key.key)
    return Lic(
        license_.pk,
        license_.license_key.key,
        product,
        max_seats=license_.max_seats,
        expires_at=license_.expires_at,
    )


def parse_time(value: Any) -> datetime | None:
    if value is None:
        return None
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def future(days: float) -> datetime:
    return (datetime.now(UTC) + timedelta(days=days)).replace(microsecond=0)


def seed_bulk(slug: str, count: int) -> list[str]:
    """``count`` license keys, one valid license each, loaded with PostgreSQL ``COPY``
    (bench/seed.py's loader: 50,000 in a few seconds, where the service layer would take
    minutes). Their brand and products are seeded through the service layer; the rows get
    ids past every existing one. Returns the keys (all noted as used)."""
    from django.db.models import Max

    from bench import seed
    from brands.models import Product
    from licensing.models import License, LicenseKey

    tenant = seed_tenant(slug, "BNCH", {seed.PRODUCT_PRO: 3, seed.PRODUCT_UNLIMITED: None})
    products = dict(Product.objects.filter(brand_id=tenant.brand_id).values_list("slug", "pk"))
    last = max(
        LicenseKey.objects.aggregate(n=Max("pk"))["n"] or 0,
        License.objects.aggregate(n=Max("pk"))["n"] or 0,
    )
    dataset = seed.Dataset(brand_id=tenant.brand_id, product_ids=products, first_id=last + 1)
    seed.grow(dataset, count)
    for key in dataset.keys:
        KEYS_USED.note(key)
    return dataset.keys
