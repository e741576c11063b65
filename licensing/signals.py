"""Signals of the licensing app.

``check_answer_changed`` (argument ``key``: a canonical license key) is sent inside the
transaction of every write that can change the product check's answer for that key (or
after it has committed); the check (``activations.check.keys``) listens and forgets its
cached answer once the transaction, if any, has committed.
Sent, not called, so licensing never imports the floor above it.
"""

from __future__ import annotations

from django.dispatch import Signal

check_answer_changed = Signal()


def check_cache_forget_on_commit(key: str) -> None:
    """Tell the check that ``key``'s answer changes when this transaction commits."""
    check_answer_changed.send(sender=None, key=key)
