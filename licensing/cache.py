"""Cache keys of the product check, and their invalidation.

The check answer is cached per license key (all its entitlements). Every service that can
change an answer calls ``check_cache_forget_on_commit`` inside its transaction; the entry
is dropped after commit, so a reader can never re-cache the pre-commit state after the
invalidation ran. Cache errors are swallowed: Redis being down must not fail a write.
"""

from __future__ import annotations

import logging

from django.core.cache import cache
from django.db import transaction

logger = logging.getLogger(__name__)

CHECK_PREFIX = "check:v1:"
NEGATIVE_PREFIX = "check:neg:v1:"


def check_cache_key(key: str) -> str:
    return CHECK_PREFIX + key


def negative_cache_key(key: str) -> str:
    return NEGATIVE_PREFIX + key


def check_cache_forget(key: str) -> None:
    try:
        cache.delete_many([check_cache_key(key), negative_cache_key(key)])
    except Exception:  # the cache is an optimisation; never fail a committed write
        logger.warning("check cache invalidation failed", exc_info=True)


def check_cache_forget_on_commit(key: str) -> None:
    transaction.on_commit(lambda: check_cache_forget(key))
