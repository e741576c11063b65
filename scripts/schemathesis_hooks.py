"""schemathesis hooks: the business rules the OpenAPI document cannot express.

A JSON schema cannot say "a date in the future, at most a century away", "unique among
existing brands" or "at most 255 characters once normalized", all of which SPEC requires
and the service enforces with 400 ``validation_error``. Without these hooks the
positive-data check would count those answers as failures. The hooks only ever turn a
valid value into another valid value (or drop a positive case the SPEC calls invalid);
negative cases are left alone, so the negative-data check still sees every schema
violation.

They also point part of the generated identifiers at the seeded objects, so requests reach
the code behind the 404s, and keep the fuzzer's own credentials alive (it must not revoke
the API key or deactivate the brand it authenticates with).
"""

from __future__ import annotations

import io
import itertools
import json
import os
import re
import zipfile
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote

import schemathesis

from activations.normalize import clean_instance_identifier
from licensing.expiry import latest_expiry

_SLUG = re.compile(r"^[a-z0-9-]{1,50}$")
_KEY_PREFIX = re.compile(r"^[A-Z]{2,6}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")  # C0 controls and DEL
# settings.DATA_UPLOAD_MAX_MEMORY_SIZE: a larger JSON body is a 413 before it is parsed.
MAX_JSON_BODY_BYTES = 64 * 1024
_unique = itertools.count(1)
SEEDED_INSTANCE = "fuzz.example.com"  # scripts/schemathesis_run.py activates it

BRAND_SLUG = os.environ.get("ST_BRAND_SLUG", "rankmath")
SEEDED = {
    "license_id": os.environ.get("ST_LICENSE_ID"),
    "activation_id": os.environ.get("ST_ACTIVATION_ID"),
    "product_id": os.environ.get("ST_PRODUCT_ID"),
    "slug": BRAND_SLUG,
    "license_key": os.environ.get("ST_LICENSE_KEY"),
    "email": "fuzz@example.com",
}
SPARE_API_KEY_ID = os.environ.get("ST_SPARE_API_KEY_ID")
PRODUCT_SLUG = os.environ.get("ST_PRODUCT_SLUG", "rankmath-pro")
BRAND_API_KEY = os.environ.get("ST_BRAND_API_KEY", "")
STAFF_PASSWORD = os.environ.get("DEMO_ADMIN_PASSWORD") or "admin"
STAFF_REFRESH = os.environ.get("ST_STAFF_REFRESH", "")


def _path(context: Any) -> str:
    return context.operation.path if context.operation is not None else ""


def _method(context: Any) -> str:
    return context.operation.method.upper() if context.operation is not None else ""


def _is_negative(case: Any) -> bool:
    meta = getattr(case, "meta", None)
    return bool(meta is not None and meta.generation.mode.is_negative)


def _letters(n: int) -> str:
    out = ""
    while True:
        n, rest = divmod(n, 26)
        out = chr(ord("A") + rest) + out
        if n == 0:
            return out


def _seed_path_parameters(case: Any) -> None:
    """Half of the positive cases' ids become the seeded object's id (the other half stay
    random, for the 404 paths). Negative cases keep their generated values: replacing an
    invalid one with a valid id would make the fuzzer expect a rejection that cannot come."""
    params = case.path_parameters
    if not params or _is_negative(case) or not next(_unique) % 2:
        return
    for name in params:
        if name == "api_key_id":
            # Only the spare key may be revoked: never the one the fuzzer authenticates with.
            if SPARE_API_KEY_ID:
                params[name] = SPARE_API_KEY_ID
        elif SEEDED.get(name) is not None:
            params[name] = SEEDED[name]


def _keep_expiry_in_range(body: dict[str, Any]) -> None:
    """An expiry in the future (SPEC §5) and within the horizon (licensing.expiry)."""
    value = body.get("expires_at")
    if not isinstance(value, str):
        return
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return
    if parsed.tzinfo is None:
        return
    now = datetime.now(UTC)
    try:
        out_of_range = not now < parsed <= latest_expiry(now)
    except (OverflowError, ValueError):
        out_of_range = False
    if out_of_range:
        body["expires_at"] = (now + timedelta(days=30)).isoformat()


def _make_unique(body: dict[str, Any], path: str) -> None:
    """Slugs and key prefixes are unique (a duplicate is a 400 naming the field, SPEC §3)."""
    n = next(_unique)
    slug = body.get("slug")
    if isinstance(slug, str) and _SLUG.match(slug):
        suffix = f"-{n}"
        body["slug"] = slug[: 50 - len(suffix)] + suffix
    # A product belongs to an existing brand (an unknown one is a 400 on "brand").
    brand = body.get("brand")
    if path == "/api/v1/products/" and isinstance(brand, str) and _SLUG.match(brand):
        body["brand"] = (BRAND_SLUG, "wp-rocket")[n % 2]
    prefix = body.get("key_prefix")
    if isinstance(prefix, str) and _KEY_PREFIX.match(prefix):
        body["key_prefix"] = ("Z" + _letters(n))[-6:].rjust(2, "Z")


def _use_real_credentials(body: dict[str, Any], path: str) -> None:
    if path == "/api/v1/auth/token/" and isinstance(body.get("username"), str):
        body["username"], body["password"] = "admin", STAFF_PASSWORD
    elif path == "/api/v1/auth/token/refresh/" and isinstance(body.get("refresh"), str):
        body["refresh"] = STAFF_REFRESH
    elif path == "/api/v1/auth/brand-token/" and isinstance(body.get("api_key"), str):
        body["api_key"] = BRAND_API_KEY


def _a_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("fuzz-plugin/fuzz-plugin.php", "<?php // fuzz\n")
    return buffer.getvalue()


_ZIP = _a_zip()


def _real_release_upload(case: Any, body: dict[str, Any], path: str, method: str) -> None:
    """A positive upload carries a zip (no schema can say "a zip file") of a version the
    product does not have yet, half of the time to the seeded product."""
    if method != "POST" or not path.endswith("/releases/") or _is_negative(case):
        return
    n = next(_unique)
    body["package"] = _ZIP
    body["version"] = f"0.{n}.{os.getpid()}"
    if case.path_parameters and n % 2:
        case.path_parameters["slug"] = PRODUCT_SLUG


# A public address literal: it passes the SSRF rules without a DNS lookup (no network here);
# no worker runs beside the fuzzed server, so nothing is ever sent to it.
WEBHOOK_URL = "https://93.184.216.34/fuzz-hooks/{n}"


def _webhook_url(case: Any, body: dict[str, Any], path: str) -> None:
    """A positive webhook URL must be https and resolve to public addresses only, which no
    schema can say: the generated string becomes such a URL."""
    webhooks = path.startswith("/api/v1/brand/webhooks")
    if webhooks and not _is_negative(case) and isinstance(body.get("url"), str):
        body["url"] = WEBHOOK_URL.format(n=next(_unique))


@schemathesis.hook
def map_case(context: Any, case: Any) -> Any:
    _seed_path_parameters(case)
    body = case.body
    if not isinstance(body, dict):
        return case
    path, method = _path(context), _method(context)
    _real_release_upload(case, body, path, method)
    _webhook_url(case, body, path)
    _keep_expiry_in_range(body)
    if method == "POST" and path in ("/api/v1/brands/", "/api/v1/products/"):
        _make_unique(body, path)
    edd_item_id = body.get("edd_item_id")
    if (
        path.startswith("/api/v1/products/")
        and not _is_negative(case)
        and isinstance(edd_item_id, int)
    ):
        # Unique per brand too (a duplicate is a 400 naming the field, as a slug's is).
        body["edd_item_id"] = 1_000_000 + next(_unique)
    # Half of the positive product calls use the seeded license, so they reach the seat
    # logic instead of stopping at license_not_found.
    if (
        path.startswith("/api/v1/product/")
        and not _is_negative(case)
        and isinstance(body.get("license_key"), str)
        and SEEDED["license_key"]
        and next(_unique) % 2
    ):
        body["license_key"] = SEEDED["license_key"]
        if "product_slug" in body or path != "/api/v1/product/check/":
            body["product_slug"] = PRODUCT_SLUG
        if path == "/api/v1/product/heartbeat/":  # the seeded activation's instance
            body["instance_identifier"] = SEEDED_INSTANCE
    # Logins: half of the positive ones use the real credentials, to reach the success path.
    login = method == "POST" and path.startswith("/api/v1/auth/")
    if login and not _is_negative(case) and next(_unique) % 2:
        _use_real_credentials(body, path)
    # The fuzzer's own brand stays active.
    own_brand = (case.path_parameters or {}).get("slug") == BRAND_SLUG
    if method == "PATCH" and own_brand and body.get("is_active") is False:
        body["is_active"] = True
    return case


@schemathesis.hook
def filter_case(context: Any, case: Any) -> bool:
    """Drop positive cases the SPEC calls invalid for reasons no schema can state, and
    negative ones the server refuses for their size before reading them (413, SPEC §3)."""
    if _is_negative(case):
        body = case.body if isinstance(case.body, dict) else None
        try:
            return body is None or len(json.dumps(body)) <= MAX_JSON_BODY_BYTES
        except (TypeError, ValueError):  # a multipart body (a file): not a JSON body
            return True
    # schemathesis does not enforce "format: email" on what it generates (seeds 4242 and 777
    # sent "\x060|$q@3sdpclgr.org" as valid): a control character in a path value is
    # invalid input for the service (SPEC §3), whatever the format says.
    for value in (case.path_parameters or {}).values():
        if isinstance(value, str) and _CONTROL.search(unquote(value)):
            return False
    body = case.body if isinstance(case.body, dict) else {}
    query = case.query or {}
    identifier = body.get("instance_identifier")
    identifier = identifier if identifier is not None else query.get("instance_identifier")
    # The activate body's replace_instance_identifier follows the same rule.
    for value in (identifier, body.get("replace_instance_identifier")):
        if isinstance(value, str):
            try:
                clean_instance_identifier(value)
            except ValueError:
                return False
    return True
