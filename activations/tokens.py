"""Signed license tokens (SPEC §12) in the answers of activate and of a check naming an
instance: a compact JWS (EdDSA over Ed25519, PyJWT) signed with the brand's current key
(``brands.services.signing_key_current``), which any stock JOSE library verifies against
the JWKS (``/.well-known/jwks.json``, ``/api/v1/product/jwks/{brand}``).

Which entitlements get one: those the instance holds a place on (``instance_active``; an
activation always does) whose license has not expired. A token for an instance without a
seat would be an offline licence past the seat limit; an expired license's token would be
expired when issued. Others carry ``license_token: null``. A check answer carries one per
entitlement, and at the top level the token of its only entitlement (null when it lists
several: read each entitlement's, or pass ``product_slug``).

Off the hot path: the plain check (no instance) never comes here. A check naming an
instance reuses the token cached for (key, license, instance) while it has more than half
its lifetime left, for one extra cache read (the key's generation, the cache's epoch, the
brand's current kid and the tokens, in one ``get_many``). The entry is tagged with the
key's check generation and the cache's epoch (``activations.check.keys``): every change
that invalidates the key's check answer (suspend, seats, renew, release, a heartbeat
that revives) kills its tokens too. It is also compared with the answer it goes out with
(status, expiry, seats, product, issuer) and with the brand's current kid, so a write
racing the read, or a rotation, gets a fresh signature, never a stale claim.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import jwt
from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse

from activations.check.facts import json_body
from activations.check.keys import (
    EPOCH_KEY,
    check_entry,
    check_entry_fresh,
    check_generation_key,
    generation_timeout,
    new_stamp,
)
from activations.check.read import check, check_read
from activations.models import Activation
from activations.selectors import instance_hash, iso_datetime
from brands import services as brand_services
from brands.signing import current_kid_cache_key, decrypt_private_key, private_key_object
from license_service import metrics
from license_service.redis.breaker import cache_failed, cache_unavailable
from licensing.keys import key_display_prefix
from licensing.models import License

logger = logging.getLogger(__name__)

TOKEN_TYPE = "license+jwt"  # noqa: S105 (a media type, not a secret)
ALGORITHM = "EdDSA"
TOKEN_PREFIX = "token:v1:"  # noqa: S105 (a cache key prefix)


def token_cache_key(key: str, license_id: int, instance: str) -> str:
    return f"{TOKEN_PREFIX}{key}:{license_id}:{instance_hash(instance)}"


def issuer(request: HttpRequest) -> str:
    """``iss``: PUBLIC_URL when set, else the request's own absolute base URL."""
    public_url: str = settings.PUBLIC_URL
    return public_url or request.build_absolute_uri("/").rstrip("/")


# --- signing -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Signed:
    token: str
    kid: str
    iat: int
    exp: int


def _expiry(expires_at: str | None) -> float | None:
    if expires_at is None:
        return None
    return datetime.fromisoformat(expires_at).astimezone(UTC).timestamp()


@dataclass(frozen=True, slots=True)
class Subject:
    """What a token names besides the answer's facts, read in one query."""

    brand_id: int
    brand: str
    product: str
    license_key: str
    lifetime: int


def _subject_of_license(license_id: int) -> Subject:
    row = License.objects.filter(pk=license_id).values_list(
        "product__brand_id",
        "product__brand__slug",
        "product__slug",
        "license_key__key",
        "product__token_lifetime_seconds",
    )
    return Subject(*row.get())


def license_token_sign(
    *,
    entitlement: dict[str, Any],
    instance: str,
    iss: str,
    now: float,
    subject: Subject | None = None,
) -> Signed | None:
    """A new token for the instance on this license, its claims those of ``entitlement``
    (the answer it goes out with: status, expiry, seats). None when the license has
    expired (a token would be expired when issued). Raises SigningKeyUnreadable, and
    whatever the database raises."""
    license_id: int = entitlement["license_id"]
    subject = subject or _subject_of_license(license_id)
    iat = int(now)
    exp = iat + subject.lifetime
    expires = _expiry(entitlement["expires_at"])
    if expires is not None:
        exp = min(exp, math.floor(expires))  # never past the license's own expiry
    if exp <= iat:
        return None
    key = brand_services.signing_key_current(brand_id=subject.brand_id)
    raw = decrypt_private_key(key.private_key_encrypted, brand_id=subject.brand_id, kid=key.kid)
    claims = {
        "iss": iss,
        "sub": str(license_id),
        "brand": subject.brand,
        "product": subject.product,
        "key_prefix": key_display_prefix(subject.license_key),
        "instance": instance,
        "status": entitlement["status"],
        "expires_at": entitlement["expires_at"],
        "max_seats": entitlement["max_seats"],
        "iat": iat,
        "nbf": iat,
        "exp": exp,
    }
    token = jwt.encode(
        claims,
        private_key_object(raw),
        algorithm=ALGORITHM,
        headers={"kid": key.kid, "typ": TOKEN_TYPE},
    )
    # Before the token leaves: its key stays in the JWKS until it has expired.
    brand_services.signing_key_note_signed(key=key, exp=datetime.fromtimestamp(exp, tz=UTC))
    return Signed(token=token, kid=key.kid, iat=iat, exp=exp)


def _signed_or_none(
    *,
    entitlement: dict[str, Any],
    instance: str,
    iss: str,
    now: float,
    subject: Subject | None,
) -> Signed | None:
    """``license_token_sign``, never raising: a token that cannot be made (an unreadable
    key, the database) is left out of an answer that is otherwise right, logged and
    counted (``license_token_total{result="error"}``)."""
    license_id = entitlement["license_id"]
    try:
        signed = license_token_sign(
            entitlement=entitlement,
            instance=instance,
            iss=iss,
            now=now,
            subject=subject,
        )
    except Exception:
        logger.exception("license token not signed", extra={"license_id": license_id})
        metrics.record_token("error")
        return None
    metrics.record_token("signed" if signed is not None else "none")
    return signed


# --- the cache -----------------------------------------------------------------------------


def _matches(entitlement: dict[str, Any], iss: str) -> tuple[Any, ...]:
    """What a cached token must agree with to go out with an answer."""
    return (
        entitlement["product_slug"],
        entitlement["status"],
        entitlement["expires_at"],
        entitlement["max_seats"],
        iss,
    )


def _eligible(entitlement: dict[str, Any], now: float) -> bool:
    """Whether the entitlement gets a token: the instance holds a place on it, and the
    license has not expired."""
    if not entitlement.get("instance_active", True):
        return False
    expires = _expiry(entitlement["expires_at"])
    return expires is None or expires > now


@dataclass(frozen=True, slots=True)
class _Tags:
    generation: Any
    epoch: Any
    kid: Any  # the brand's current kid as the cache has it (None: unknown)
    tokens: dict[str, Any]


def _read(names: Sequence[str], brand: str) -> _Tags | None:
    """One cache read: the key's generation, the epoch, the brand's kid and the tokens."""
    if cache_unavailable():
        return None
    generation_key, kid_key = names[0], current_kid_cache_key(brand)
    try:
        found = cache.get_many([generation_key, EPOCH_KEY, kid_key, *names[1:]])
    except Exception:
        cache_failed("license token read")
        return None
    tokens = {name: found.get(name) for name in names[1:]}
    generation, epoch = found.get(generation_key), found.get(EPOCH_KEY)
    if generation is None or epoch is None:
        generation, epoch = _stamped(generation_key, generation, epoch)
    return _Tags(generation, epoch, found.get(kid_key), tokens)


def _stamped(generation_key: str, generation: Any, epoch: Any) -> tuple[Any, Any]:
    """The tags, written first where missing (an activation before any check, an evicted
    generation), as the check's lookup does: never overwriting one an invalidation wrote
    meanwhile (``add``), so no tag is ever None and none is reused. Nothing cached under
    the old ones (there are none) could become fresh."""
    try:
        if generation is None:
            cache.add(generation_key, new_stamp(), generation_timeout())
        if epoch is None:
            cache.add(EPOCH_KEY, new_stamp(), None)
        found = cache.get_many([generation_key, EPOCH_KEY])
    except Exception:
        cache_failed("license token read")
        return None, None
    return found.get(generation_key), found.get(EPOCH_KEY)


def _reusable(entry: Any, tags: _Tags, match: tuple[Any, ...], now: float) -> str | None:
    if not check_entry_fresh(entry, generation=tags.generation, epoch=tags.epoch):
        return None
    token, kid, cached_match, renew_at = entry[2]
    if now >= renew_at or cached_match != match:
        return None
    if tags.kid is not None and kid != tags.kid:  # the brand rotated its key since
        return None
    return str(token)


def license_tokens(  # noqa: PLR0913 (the answer's parts; no wrapper per check)
    *,
    key: str,
    brand: str,
    entitlements: list[dict[str, Any]],
    instance: str,
    request: HttpRequest,
    subject: Subject | None = None,
) -> list[str | None]:
    """The token of each entitlement (None: not eligible, or not signed): cached while it
    has more than half its lifetime left, else signed and cached under the tags read.
    ``subject``: what the caller already read of the (only) license's brand and product."""
    now = time.time()
    wanted = [e for e in entitlements if _eligible(e, now)]
    if not wanted:  # the usual EDD check of a site without a seat: nothing to build
        return [None] * len(entitlements)
    iss = issuer(request)
    names = [token_cache_key(key, e["license_id"], instance) for e in wanted]
    tags = _read([check_generation_key(key), *names], brand)
    tokens: dict[int, str | None] = {}
    fills: dict[str, Any] = {}
    longest = 0
    for entitlement, name in zip(wanted, names, strict=True):
        match = _matches(entitlement, iss)
        cached = None if tags is None else _reusable(tags.tokens.get(name), tags, match, now)
        if cached is not None:
            metrics.record_token("cached")
            tokens[entitlement["license_id"]] = cached
            continue
        signed = _signed_or_none(
            entitlement=entitlement,
            instance=instance,
            iss=iss,
            now=now,
            subject=subject,
        )
        tokens[entitlement["license_id"]] = None if signed is None else signed.token
        if signed is None or tags is None or tags.generation is None or tags.epoch is None:
            continue
        renew_at = signed.iat + (signed.exp - signed.iat) / 2
        payload = (signed.token, signed.kid, match, renew_at)
        fills[name] = check_entry(payload, generation=tags.generation, epoch=tags.epoch)
        longest = max(longest, math.ceil(renew_at - now))
    if fills:
        try:
            cache.set_many(fills, timeout=max(1, longest))
        except Exception:
            cache_failed("license token write")
    return [tokens.get(e["license_id"]) for e in entitlements]


# --- the answers ---------------------------------------------------------------------------


def check_answer_with_tokens(
    request: HttpRequest, answer: dict[str, Any], instance: str
) -> dict[str, Any]:
    """A check answer naming an instance, with ``license_token`` in each entitlement and
    at the top level (its only entitlement's; null when it lists several)."""
    entitlements = answer["entitlements"]
    tokens = license_tokens(
        key=answer["license_key"],
        brand=answer["brand"],
        entitlements=entitlements,
        instance=instance,
        request=request,
    )
    for entitlement, token in zip(entitlements, tokens, strict=True):
        entitlement["license_token"] = token
    answer["license_token"] = tokens[0] if len(tokens) == 1 else None
    return answer


def check_with_tokens(
    request: HttpRequest,
    raw_key: str,
    product_slug: str | None,
    instance_identifier: str | None,
) -> HttpResponse:
    """The product API's check (``read.check``); with an instance, its answer carries
    license tokens. Without one, exactly ``read.check``: the plain check is untouched."""
    if instance_identifier is None:
        return check(request, raw_key, product_slug, instance_identifier)
    answer = check_read(request, raw_key, product_slug, instance_identifier)
    if isinstance(answer, dict):  # always, with an instance (bytes: the plain check only)
        answer = check_answer_with_tokens(request, answer, instance_identifier)
        return HttpResponse(json_body(answer), content_type="application/json")
    return HttpResponse(answer, content_type="application/json")


def activation_token(
    request: HttpRequest, *, activation_id: int, answer: dict[str, Any]
) -> str | None:
    """The token of an activation's answer (its instance holds a place: it was just
    activated, or already was). None, logged and counted, when it cannot be made."""
    try:
        row = (
            Activation.objects.filter(pk=activation_id)
            .values_list(
                "instance_identifier",
                "license__product__brand_id",
                "license__product__brand__slug",
                "license__product__slug",
                "license__license_key__key",
                "license__product__token_lifetime_seconds",
            )
            .first()
        )
    except Exception:
        logger.exception("license token not signed", extra={"activation_id": activation_id})
        metrics.record_token("error")
        return None
    if row is None:  # released by a concurrent deactivation: nothing to attest
        return None
    instance, brand_id, brand, product, license_key, lifetime = row
    subject = Subject(brand_id, brand, product, license_key, lifetime)
    entitlement = {
        "license_id": answer["license_id"],
        "product_slug": subject.product,
        "status": answer["status"],
        "expires_at": answer["expires_at"],
        "max_seats": answer["max_seats"],
        "instance_active": True,
    }
    return license_tokens(
        key=subject.license_key,
        brand=subject.brand,
        entitlements=[entitlement],
        instance=instance,
        request=request,
        subject=subject,
    )[0]


def seat_answer(seats: Any) -> dict[str, Any]:
    """What ``activation_token`` reads of an activation's ``SeatState``, for a protocol
    that renders its own answer (the EDD endpoint)."""
    return {
        "license_id": seats.license_id,
        "status": seats.status,
        "expires_at": iso_datetime(seats.expires_at),
        "max_seats": seats.max_seats,
    }
