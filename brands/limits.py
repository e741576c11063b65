"""The bounds of a product's seat settings (SPEC §10), checked wherever they are set: the
staff API, the admin and the services.

``heartbeat_seconds``: null (activations never go stale) or between
``settings.LICENSE_SERVICE["HEARTBEAT_MIN_SECONDS"]`` (read when checked, so a server's own
setting and the tests' lowered one apply) and a year. ``non_production_limit``: the staging
and local activations a license may hold besides its seats, 0 to 10,000.
"""

from __future__ import annotations

from django.conf import settings
from django.dispatch import Signal

HEARTBEAT_MAX_SECONDS = 365 * 24 * 3600
NON_PRODUCTION_LIMIT_MAX = 10_000
DEFAULT_NON_PRODUCTION_LIMIT = 10
EDD_ITEM_ID_MAX = 2**31 - 1  # what a PositiveIntegerField column holds on PostgreSQL
# A signed license token's lifetime (SPEC §12): a minute (clock skew is the floor of what
# is useful) to 90 days (a stolen token is a licence until it expires; the JWKS keeps a
# retired key that long at most).
DEFAULT_TOKEN_LIFETIME_SECONDS = 7 * 24 * 3600
TOKEN_LIFETIME_MIN_SECONDS = 60
TOKEN_LIFETIME_MAX_SECONDS = 90 * 24 * 3600

# Sent (argument ``product_id``) inside the transaction that changes a product's
# ``heartbeat_seconds``: which activations are dead, hence every license's ``seats_used``,
# changes with it. Sent, not called, so brands never imports the floors above it; the check
# (activations) may listen to forget the cached answers of that product's keys on commit.
product_heartbeat_changed = Signal()

# Sent (argument ``brand_slug``) inside the transaction that changes a brand's catalogue as
# the EDD endpoint and update checks read it (``releases.catalog``): a product created, a
# product's name or ``edd_item_id`` (products are matched by them), the brand's
# non-production patterns (``is_local``), a brand created (an unknown slug is remembered
# briefly). Sent, not called: the catalogue's cache entry of that brand is forgotten on
# commit by its listener (releases), which brands may not import.
brand_catalog_changed = Signal()


def heartbeat_min_seconds() -> int:
    return int(settings.LICENSE_SERVICE["HEARTBEAT_MIN_SECONDS"])


def heartbeat_seconds_problem(value: object) -> str | None:
    """Why ``value`` is refused as a product's ``heartbeat_seconds``; None if it is valid."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        return "Must be an integer or null."
    low, high = heartbeat_min_seconds(), HEARTBEAT_MAX_SECONDS
    if not low <= value <= high:
        return f"Must be null or between {low} and {high} seconds."
    return None


def non_production_limit_problem(value: object) -> str | None:
    """Why ``value`` is refused as a product's ``non_production_limit``; None if valid."""
    if isinstance(value, bool) or not isinstance(value, int):
        return "Must be an integer."
    if not 0 <= value <= NON_PRODUCTION_LIMIT_MAX:
        return f"Must be between 0 and {NON_PRODUCTION_LIMIT_MAX}."
    return None


def edd_item_id_problem(value: object) -> str | None:
    """Why ``value`` is refused as a product's ``edd_item_id``; None if it is valid (null,
    or a positive integer a PositiveIntegerField column holds)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        return "Must be an integer or null."
    if not 1 <= value <= EDD_ITEM_ID_MAX:
        return f"Must be null or between 1 and {EDD_ITEM_ID_MAX}."
    return None


def token_lifetime_problem(value: object) -> str | None:
    """Why ``value`` is refused as a product's ``token_lifetime_seconds``; None if valid."""
    if isinstance(value, bool) or not isinstance(value, int):
        return "Must be an integer."
    low, high = TOKEN_LIFETIME_MIN_SECONDS, TOKEN_LIFETIME_MAX_SECONDS
    if not low <= value <= high:
        return f"Must be between {low} and {high} seconds."
    return None
