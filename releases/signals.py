"""Signals of the releases app.

``release_changed`` (argument ``product_id``) is sent after the commit of every write that
can change what an update check answers for a product (publish, yank, notes). The update
check's cache (the next step of SPEC §11) listens there; sent, not called, so releases
never imports the floor above it.
"""

from __future__ import annotations

from django.db import transaction
from django.dispatch import Signal

release_changed = Signal()


def release_changed_on_commit(product_id: int) -> None:
    transaction.on_commit(lambda: release_changed.send(sender=None, product_id=product_id))
