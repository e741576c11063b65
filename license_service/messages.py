"""Django's message storage, holding its request weakly.

The request holds its message storage (``request._messages``), and Django's storages hold
the request back: a reference cycle on every request, which only the cyclic garbage
collector can free, so every request left garbage for it (see ARCHITECTURE.md, garbage
collection). Here the storages reach the request through a weak reference; they are used
only while the request is alive (by the view and by ``MessageMiddleware`` on the way out).
"""

from __future__ import annotations

import weakref
from typing import Any

from django.contrib.messages.storage import cookie, fallback, session


class _WeakRequest:
    """``self.request``, held through a weak reference."""

    _request_ref: weakref.ref[Any]

    @property
    def request(self) -> Any:
        return self._request_ref()

    @request.setter
    def request(self, value: Any) -> None:
        self._request_ref = weakref.ref(value)


class CookieStorage(_WeakRequest, cookie.CookieStorage):
    pass


class SessionStorage(_WeakRequest, session.SessionStorage):
    pass


class FallbackStorage(_WeakRequest, fallback.FallbackStorage):
    """``MESSAGE_STORAGE``: Django's default storage, cookies then the session."""

    storage_classes = (CookieStorage, SessionStorage)
