"""The product API's rate limits (SPEC §6), shared by the check and activate/deactivate.

The license key is the product API's credential, so every call is rate-limited per client
IP and per key, and answers naming no license (unknown key, failed checksum, or no license
for that product) count against a much lower per-IP limit. That limit is checked before
any lookup and counted atomically after one, so neither a slow nor a concurrent burst of
guesses gets more than its count of ``license_not_found`` answers per window.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest
from rest_framework.request import Request

from activations.check.near import near_cache
from activations.errors import LicenseNotFound
from license_service.errors import Throttled
from license_service.middleware import client_ip
from license_service.ratelimit import Window, rate_limit_hit, rate_limit_spent, rate_window

PRODUCT_TAG = "product"
IP_SCOPE = "product-ip"
KEY_SCOPE = "product-key"
UNKNOWN_KEY_SCOPE = "product-unknown-key-ip"

ACTIVATE_ERRORS = (
    "validation_error",
    "unsupported_media_type",
    "license_not_found",
    "license_suspended",
    "license_cancelled",
    "license_expired",
    "seat_limit_exceeded",
    "throttled",
)
DEACTIVATE_ERRORS = (
    "validation_error",
    "unsupported_media_type",
    "license_not_found",
    "activation_not_found",
    "throttled",
)
CHECK_ERRORS = ("validation_error", "license_not_found", "throttled")


# --- rate limits ---------------------------------------------------------------------------


def limit_ip(request: HttpRequest | Request) -> str:
    """Count the request against its IP's limit; the IP (the brute-force identity)."""
    ip = client_ip(request) or "unknown"
    rate_limit_hit(IP_SCOPE, ip, settings.LICENSE_SERVICE["THROTTLE_PRODUCT_IP"])
    return ip


def limit_key(key: str) -> None:
    rate_limit_hit(KEY_SCOPE, key, settings.LICENSE_SERVICE["THROTTLE_PRODUCT_KEY"])


def unknown_budget_spent(ip: str) -> Window | None:
    """The IP's unknown-key window if it has no room left (read, not counted)."""
    return rate_limit_spent(
        UNKNOWN_KEY_SCOPE, ip, settings.LICENSE_SERVICE["THROTTLE_UNKNOWN_KEY_IP"]
    )


class BudgetSpent(Throttled):
    """The IP has spent its unknown-key budget (nothing about the key was read or written
    yet): only a key with an instance active on it may still be answered."""


def unknown_key(ip: str, error: LicenseNotFound | None = None) -> LicenseNotFound:
    """Count an answer that names no license; Throttled once the IP is past its limit. The
    near cache learns the count the increment returned (its local count of this IP's
    unknown keys stays exact: known keys' checks from the IP stay near hits while the
    budget has room)."""
    rate = settings.LICENSE_SERVICE["THROTTLE_UNKNOWN_KEY_IP"]
    near = near_cache()
    try:
        count = rate_limit_hit(UNKNOWN_KEY_SCOPE, ip, rate)
    except Throttled:
        if near is not None:
            near.counts.distrust(rate_window(UNKNOWN_KEY_SCOPE, ip, rate))
        raise
    if near is not None and count is not None:
        near.counts.learned([rate_window(UNKNOWN_KEY_SCOPE, ip, rate)], [count])
    return error or LicenseNotFound()
