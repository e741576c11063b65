"""Staff refresh tokens die with the password they were issued under (SPEC §4).

Every path that changes a user's password or deactivates it saves the user: the admin's
password form, ``manage.py changepassword``, ``set_password()`` + ``save()`` in a shell, a
hash upgrade on login. So the check sits on the model's save, compares with the stored row
and, when the password hash changed or the user was deactivated, calls the service that
blacklists the user's refresh tokens, in the same transaction as the save when there is
one. (``QuerySet.update()`` skips signals: do not change passwords that way.)

Why blacklisting rather than only a claim derived from the password hash: simplejwt checks
such a claim (``CHECK_REVOKE_TOKEN``) on access tokens only, so a refresh token would keep
minting access tokens after a password change; the blacklist is what the refresh and
revoke endpoints consult. The claim is kept as well, for access tokens.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db.models.signals import post_save, pre_save
from django.dispatch import receiver

from brands.services import staff_refresh_tokens_revoke

_WATCHED = {"password", "is_active"}
# Carried on the user instance from its pre_save to its post_save: the instance is the one
# thing both receivers see, and it belongs to one thread's save.
_REVOKE_FLAG = "_staff_tokens_revoke"


@receiver(pre_save, sender=settings.AUTH_USER_MODEL, dispatch_uid="brands.tokens_note")
def _note_credential_change(
    sender: Any, instance: Any, raw: bool, update_fields: Any, **kwargs: Any
) -> None:
    setattr(instance, _REVOKE_FLAG, False)
    if raw or instance._state.adding or instance.pk is None:
        return
    if update_fields is not None and not _WATCHED & set(update_fields):
        return  # e.g. last_login: no query
    stored = sender._default_manager.filter(pk=instance.pk).values(*_WATCHED).first()
    if stored is None:
        return
    revoke = stored["password"] != instance.password or (
        stored["is_active"] and not instance.is_active
    )
    setattr(instance, _REVOKE_FLAG, revoke)


@receiver(post_save, sender=settings.AUTH_USER_MODEL, dispatch_uid="brands.tokens_revoke")
def _revoke_tokens_after_credential_change(sender: Any, instance: Any, **kwargs: Any) -> None:
    if getattr(instance, _REVOKE_FLAG, False):
        setattr(instance, _REVOKE_FLAG, False)
        staff_refresh_tokens_revoke(user=instance)
