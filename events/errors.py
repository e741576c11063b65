"""Errors of the outbox: programming errors, never a client's (as audit's)."""

from __future__ import annotations


class EventOutsideTransaction(RuntimeError):
    """An event was recorded outside ``transaction.atomic``: it would be committed on its
    own, even if the change it describes were rolled back."""

    def __init__(self) -> None:
        super().__init__(
            "event_record must run inside the service's transaction.atomic block, so the "
            "event is committed exactly when the change it describes is."
        )
