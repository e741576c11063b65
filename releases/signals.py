"""Signals of the releases app.

``release_changed`` (arguments ``product_id``, ``brand_slug``) is sent after the commit of
every write that can change what an update check answers for a product (publish, yank,
notes). The brand's cached catalogue (``releases.catalog``) listens there and is forgotten.
"""

from __future__ import annotations

from django.db import transaction
from django.dispatch import Signal

release_changed = Signal()


def release_changed_on_commit(product_id: int, brand_slug: str) -> None:
    transaction.on_commit(
        lambda: release_changed.send(sender=None, product_id=product_id, brand_slug=brand_slug)
    )
