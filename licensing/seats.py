"""Which activations count (SPEC §10), as query filters over a license's ``activations``.

A *seat* is a production activation that is neither reclaimed nor dead; a *non-production
slot* is the same for staging and local activations. Dead means not seen for longer than
the product's ``heartbeat_seconds``: a comparison with a different threshold per product,
written as one ``Q`` per heartbeat value in use (a handful) so that every database runs it
on plain column comparisons (SQLite cannot multiply a duration by a column).

Used by every count of seats outside the check's miss loader (which counts the rows it
reads): brand API reads, the by-email view, the admin, the seat services.
"""

from __future__ import annotations

import functools
import operator
from datetime import datetime, timedelta

from django.db.models import Q

from brands.models import Product

PRODUCTION = "production"


def live_q(now: datetime, *, prefix: str = "", product_prefix: str = "product__") -> Q:
    """Activations not reclaimed and not dead at ``now``. ``prefix`` reaches the activation
    from the queried model (``"activations__"`` from a License), ``product_prefix`` reaches
    its product from the same model (``"product__"`` from a License, ``"license__product__"``
    from an Activation)."""
    heartbeats = (
        Product.objects.filter(heartbeat_seconds__isnull=False)
        .values_list("heartbeat_seconds", flat=True)
        .distinct()
    )
    alive = [Q(**{f"{product_prefix}heartbeat_seconds__isnull": True})]
    alive += [
        Q(
            **{
                f"{product_prefix}heartbeat_seconds": seconds,
                f"{prefix}last_seen_at__gte": now - timedelta(seconds=seconds),
            }
        )
        for seconds in sorted({s for s in heartbeats if s is not None})
    ]
    return Q(**{f"{prefix}reclaimed_at__isnull": True}) & functools.reduce(operator.or_, alive)


def seat_q(now: datetime, *, prefix: str = "", product_prefix: str = "product__") -> Q:
    """Live production activations: the seats in use."""
    return Q(**{f"{prefix}environment": PRODUCTION}) & live_q(
        now, prefix=prefix, product_prefix=product_prefix
    )


def non_production_q(now: datetime, *, prefix: str = "", product_prefix: str = "product__") -> Q:
    """Live staging and local activations."""
    return ~Q(**{f"{prefix}environment": PRODUCTION}) & live_q(
        now, prefix=prefix, product_prefix=product_prefix
    )
