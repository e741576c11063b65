"""Production URLs plus ``/bench/bare``: the framework's ceiling for ``make bench``.

Used only by ``license_service.settings.bench``. The bare view goes through the same
middleware stack and gunicorn settings as the product API, but does no cache, database or
DRF work; it answers a constant JSON body shaped (and sized) like a check answer, so the
ratios in bench/results.md compare like with like.
"""

from __future__ import annotations

from typing import cast

from django.http import HttpRequest, JsonResponse
from django.urls import URLPattern, URLResolver, path

from license_service.urls import urlpatterns as production_urlpatterns

_BARE_BODY = {
    "success": True,
    "license_key": "BNCH-00000-00000-00000-00000-00000-00000",
    "brand": "bench",
    "customer_email_masked": "u***@example.com",
    "entitlements": [
        {
            "product_slug": "bench-pro",
            "license_id": 1,
            "status": "valid",
            "expires_at": None,
            "seats_used": 0,
            "max_seats": 3,
            "seats_remaining": 3,
        }
    ],
}


def bare_view(request: HttpRequest) -> JsonResponse:
    return JsonResponse(_BARE_BODY)


urlpatterns: list[URLPattern | URLResolver] = [
    path("bench/bare", bare_view),
    *cast("list[URLPattern | URLResolver]", production_urlpatterns),
]
