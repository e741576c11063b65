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
from django.views.decorators.csrf import csrf_exempt

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


# What an EDD check_license answers, as the bare form view answers it.
_BARE_FORM_BODY = {
    "success": True,
    "license": "site_inactive",
    "item_id": False,
    "item_name": "bench-pro",
    "checksum": "9861a898afc9178c204394d77fa831d5",
    "license_limit": 3,
    "site_count": 0,
    "activations_left": 3,
    "expires": "2027-12-05 06:28:33",
    "customer_name": "",
    "customer_email": "c***@example.com",
    "payment_id": 0,
    "price_id": False,
    "is_local": False,
    "license_token": None,
}


def bare_view(request: HttpRequest) -> JsonResponse:
    return JsonResponse(_BARE_BODY)


@csrf_exempt
def bare_form_view(request: HttpRequest) -> JsonResponse:
    """The ceiling of an EDD request: the same form POST (read through ``request.POST``, as
    any Django view reads a form), a constant EDD-shaped answer."""
    if request.POST.get("edd_action") is None:
        return JsonResponse({"success": False}, status=400)
    return JsonResponse(_BARE_FORM_BODY)


urlpatterns: list[URLPattern | URLResolver] = [
    path("bench/bare", bare_view),
    path("bench/bare-form/", bare_form_view),
    *cast("list[URLPattern | URLResolver]", production_urlpatterns),
]
