"""``manage.py reclaim_activations``: give back the places of dead activations (SPEC §10,
§14; SEATS rule 3).

Every row not seen for longer than its product's ``heartbeat_seconds`` is reclaimed,
license by license, each in batches under the license's row lock, oldest first, audited
``activation.reclaimed``. Activate already reclaims what it needs on a full license; this
job reclaims the rest, so the brand API and the admin show the truth. Idempotent, and safe
on two hosts at once (the lock serializes them, the ``UPDATE`` skips rows already reclaimed
and re-checks deadness, so a heartbeat committed meanwhile wins).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from activations import services
from activations.models import Activation
from audit.services import Actor
from brands.models import Brand, Product

ACTOR = Actor.system("reclaim_activations")


def licenses_with_dead_rows(brand: Brand | None) -> Iterator[int]:
    """Ids of the licenses that had dead rows when asked, product by product."""
    products = Product.objects.filter(heartbeat_seconds__isnull=False).order_by("id")
    if brand is not None:
        products = products.filter(brand=brand)
    for product in products.only("id", "heartbeat_seconds"):
        assert product.heartbeat_seconds is not None  # noqa: S101 (filtered above)
        threshold = timezone.now() - timedelta(seconds=product.heartbeat_seconds)
        yield from (
            Activation.objects.filter(
                license__product=product, reclaimed_at__isnull=True, last_seen_at__lt=threshold
            )
            .order_by("license_id")
            .values_list("license_id", flat=True)
            .distinct()
            .iterator()
        )


class Command(BaseCommand):
    help = "Reclaim the places of dead activations (not seen for longer than heartbeat_seconds)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--brand", help="Only this brand (its slug).")
        parser.add_argument(
            "--dry-run", action="store_true", help="Print what would be reclaimed; change nothing."
        )
        parser.add_argument(
            "--batch",
            type=int,
            default=services.RECLAIM_BATCH,
            help="Rows per transaction (default %(default)s).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        brand = None
        if options["brand"]:
            brand = Brand.objects.filter(slug=options["brand"]).first()
            if brand is None:
                raise CommandError(f"No brand {options['brand']!r}.")
        if options["batch"] < 1:
            raise CommandError("--batch must be at least 1.")
        dry_run = options["dry_run"]
        total = 0
        for license_id in list(licenses_with_dead_rows(brand)):
            while True:
                if dry_run:
                    done = services.dead_activations(license_id=license_id)
                else:
                    done = services.activations_reclaim(
                        license_id=license_id, actor=ACTOR, batch=options["batch"]
                    )
                for row in done:
                    self.stdout.write(
                        f"license {row.license_id}: {'would reclaim' if dry_run else 'reclaimed'} "
                        f"activation {row.activation_id} {row.instance_identifier} "
                        f"({row.environment}, last seen {row.last_seen_at.isoformat()})"
                    )
                total += len(done)
                if dry_run or len(done) < options["batch"]:
                    break
        verb = "Would reclaim" if dry_run else "Reclaimed"
        self.stdout.write(f"{verb} {total} activation(s).")
