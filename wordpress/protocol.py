"""The EDD Software Licensing protocol (SPEC §11): its input read from a request, the
product a request names matched against a key's facts, and its answers' JSON.

Pure functions and plain values: no rule of the service lives here. Which answer a seat
or a check gets is decided by the domain (``activations``); this module only says it in
EDD's words.

What the clients send (EDD's sample plugin, ``EDD_SL_Plugin_Updater``, the newer SDK):
``edd_action``, ``license``, ``item_id`` and/or ``item_name``, ``url`` (the site's
``home_url()``), ``environment``; as a POST form or as GET query arguments. A missing
``item_id``/``item_name`` arrives as the string ``"0"``; the sample plugin URL-encodes
``item_name`` before the form encoding does it again, so it is decoded twice. Without a
``url``, the site is the one the ``WordPress/x.y; <home_url>`` User-Agent names, as EDD
reads it.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, unquote, unquote_plus

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.http import HttpRequest
from django.http.multipartparser import MultiPartParserError
from django.utils.text import slugify

from activations.check.facts import CheckData, LicenseFacts
from licensing.errors import LicenseNotFound
from licensing.models import License, effective_status
from releases.catalog import Catalog, CatalogProduct
from releases.versions import MAX_VERSION_LENGTH

# The most characters of one input value looked at: anything longer is no license key,
# item name or site address a client sends (an address is at most 255 once normalized).
MAX_VALUE_LENGTH = 2048
# The largest item id an EDD store hands out that the column holds.
MAX_ITEM_ID = 2**31 - 1
# The environment a WordPress site says it is (``wp_get_environment_type()``), recorded.
ENVIRONMENT_CLAIMS = frozenset({"production", "staging", "development", "local"})

_DIGITS = re.compile(r"[0-9]{1,10}")
_SPACES = re.compile(r"\s+")


class ItemNameMismatch(LicenseNotFound):
    """The key has no license for the product ``item_name`` names (EDD:
    ``item_name_mismatch``). Counted as an answer naming no license."""

    edd_error = "item_name_mismatch"


class InvalidItemId(LicenseNotFound):
    """The key has no license for the product ``item_id`` names (EDD: ``invalid_item_id``)."""

    edd_error = "invalid_item_id"


def edd_error_of(exc: LicenseNotFound) -> str:
    """EDD's ``error`` for an answer naming no license: the product it names, else the key."""
    return str(getattr(exc, "edd_error", "missing"))


@dataclass(frozen=True, slots=True)
class EddInput:
    """One request's input, as EDD reads it."""

    action: str
    license: str  # as sent ("" when missing)
    item_id: int | None  # None: missing, "0" or not a positive integer
    item_name: str | None  # decoded twice; None: missing or "0"
    url: str  # the site, from ``url`` or the User-Agent ("" when neither gives one)
    environment: str  # the site's claim, one of ENVIRONMENT_CLAIMS, or ""
    # ``item_name`` as EDD echoes it: PHP's urldecode() of the form value, so the sample
    # plugin's urlencode("My Plugin") (``My+Plugin``) comes back as ``My Plugin``.
    item_name_echoed: str | None = None
    # get_version's: the plugin's folder, its installed version, whether betas are wanted.
    slug: str = ""
    version: str | None = None
    beta: bool = False

    def checksum(self) -> str:
        """An md5 of the request's arguments, as EDD sends one (its arguments sorted by
        length, longest first, then JSON-encoded): the same request, the same checksum."""
        args = [self.license, str(self.item_id or ""), self.item_name or "", self.url]
        encoded = json.dumps(sorted(args, key=len, reverse=True))
        return hashlib.md5(encoded.encode(), usedforsecurity=False).hexdigest()


def edd_input(request: HttpRequest) -> EddInput:
    """The request's EDD input: the query arguments, overridden by a form body, or by a
    JSON object body (tolerated: no EDD client sends one). Values that are not text are
    ignored. Raises RequestDataTooBig for a body over the configured limit."""
    values: dict[str, str] = {}
    if request.META.get("QUERY_STRING"):
        _merge(values, request.GET.items())
    if request.method == "POST":
        if request.content_type == "application/json" or _looks_like_json(request):
            _merge(values, _json_object(request.body).items())
        else:
            _merge(values, _form(request))
    url = _decoded_once(values.get("url", ""))
    if not url:
        url = site_from_user_agent(request.headers.get("user-agent", ""))
    environment = values.get("environment", "").strip().lower()
    return EddInput(
        action=values.get("edd_action", "").strip(),
        license=values.get("license", "").strip(),
        item_id=_item_id(values.get("item_id", "")),
        item_name=_item_name(values.get("item_name", "")),
        url=url,
        environment=environment if environment in ENVIRONMENT_CLAIMS else "",
        item_name_echoed=_item_name_echoed(values.get("item_name", "")),
        slug=values.get("slug", "").strip()[:MAX_SLUG_CHARS],
        version=_version(values.get("version", "")),
        beta=values.get("beta", "").strip().lower() in _TRUE,
    )


# PHP's truthy spellings of a checkbox or boolean the clients send ("1", "true", "on").
_TRUE = frozenset({"1", "true", "on", "yes"})
MAX_SLUG_CHARS = 100


def _version(value: str) -> str | None:
    value = value.strip()
    return value if value and len(value) <= MAX_VERSION_LENGTH else None


def _merge(values: dict[str, str], items: Any) -> None:
    for name, raw in items:
        value = _text(raw)
        if isinstance(name, str) and value is not None and len(value) <= MAX_VALUE_LENGTH:
            values[name] = value


def _text(value: Any) -> str | None:
    """A value as the text PHP would read (JSON numbers and booleans included); None for
    anything else (objects, lists, null)."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int | float):
        return str(value)
    return value if isinstance(value, str) else None


def _form(request: HttpRequest) -> Any:
    """The form body's (name, value) pairs; none when it cannot be parsed (a broken
    multipart body, too many fields). Raises RequestDataTooBig.

    A urlencoded body (what every EDD client sends) is parsed here, as ``request.POST``
    would parse it (UTF-8, blank values kept, ``DATA_UPLOAD_MAX_NUMBER_FIELDS``, the body
    size limit of ``request.body``) but into plain pairs: the ``QueryDict`` of lists it
    builds costs this hot path about 20 µs a request, and only the last value of a name is
    read (as PHP reads a form). A charset other than UTF-8 is read as UTF-8, as PHP does,
    where ``request.POST`` refuses the request."""
    if request.content_type == "application/x-www-form-urlencoded":
        raw = request.body
        try:
            text = raw.decode()
        except UnicodeDecodeError:
            text = raw.decode("iso-8859-1")
        try:
            return parse_qsl(
                text, keep_blank_values=True, max_num_fields=settings.DATA_UPLOAD_MAX_NUMBER_FIELDS
            )
        except ValueError:  # too many fields
            return ()
    try:
        return request.POST.items()
    except RequestDataTooBig:
        raise
    except (MultiPartParserError, SuspiciousOperation, ValueError):
        return ()


def _looks_like_json(request: HttpRequest) -> bool:
    """A body sent without a form's content type that is a JSON object."""
    if request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        return False
    try:
        return request.body.lstrip()[:1] == b"{"
    except RequestDataTooBig:
        raise
    except Exception:  # an unreadable body: nothing to read from it
        return False


def _json_object(raw: bytes) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):
        return {}
    return value if isinstance(value, dict) else {}


def _decoded_once(value: str) -> str:
    """A value EDD URL-decodes once more after the form decoding (``url``)."""
    value = value.strip()
    return unquote(value).strip() if "%" in value else value


def site_from_user_agent(user_agent: str) -> str:
    """The site of WordPress's User-Agent (``WordPress/6.5; https://example.com``), or ""."""
    if not user_agent.startswith("WordPress/"):
        return ""
    _, _, rest = user_agent.partition(";")
    return rest.split(";", 1)[0].strip()


def _item_id(value: str) -> int | None:
    value = value.strip()
    if not _DIGITS.fullmatch(value):
        return None
    number = int(value)
    return number if 0 < number <= MAX_ITEM_ID else None


def _item_name(value: str) -> str | None:
    """``item_name`` decoded twice (the sample plugin encodes it before the form does)."""
    name = unquote(unquote(value.strip())).strip()
    return None if name in ("", "0") else name


def _item_name_echoed(value: str) -> str | None:
    """``item_name`` as EDD's server answers it: decoded once more as PHP's urldecode()
    does (``+`` is a space), then once more for a client that encoded it twice."""
    name = unquote(unquote_plus(value.strip())).strip()
    return None if name in ("", "0") else name


# --- the product a request names ------------------------------------------------------------


def license_for(
    data: CheckData,
    catalog: Catalog | None,
    *,
    brand_slug: str,
    item_id: int | None,
    item_name: str | None,
) -> tuple[LicenseFacts, CatalogProduct]:
    """The key's license for the product the request names, with that product as the
    brand's catalogue has it: by ``item_id`` (the product's ``edd_item_id``), else by
    ``item_name`` (the product's name or slug, case-insensitively).

    Raises LicenseNotFound when the key is another brand's (as if it did not exist),
    InvalidItemId when an ``item_id`` was sent and no license matches, ItemNameMismatch
    otherwise."""
    if data["brand"] != brand_slug or catalog is None or catalog["brand"] != brand_slug:
        raise LicenseNotFound()
    held = {lic["product_slug"]: lic for lic in data["licenses"]}
    products = [product for product in catalog["products"] if product["slug"] in held]
    if item_id is not None:
        for product in products:
            if product["edd_item_id"] == item_id:
                return held[product["slug"]], product
    if item_name is not None:
        wanted = _names(item_name)
        for product in products:
            if wanted & {_folded(product["name"]), _folded(product["slug"])}:
                return held[product["slug"]], product
    if item_id is not None:
        raise InvalidItemId("This key has no license for that item id.")
    raise ItemNameMismatch("This key has no license for that item name.")


def _folded(text: str) -> str:
    return _SPACES.sub(" ", text).strip().casefold()


@functools.lru_cache(maxsize=1024)
def _names(item_name: str) -> frozenset[str]:
    """What an item name may stand for: itself; with ``+`` as a space (PHP's ``urlencode``
    before the form encoding); as a slug (``My Plugin`` -> ``my-plugin``). Remembered: a
    plugin sends the same few names on every call, and ``slugify`` is most of a match."""
    names = {_folded(item_name), _folded(unquote_plus(item_name))}
    return frozenset(names | {slugify(name) for name in names} - {""})


# --- answers --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LicenseState:
    """What an answer tells of the license: its effective status, expiry and seats."""

    status: str
    expires_at: datetime | None
    seats_used: int
    max_seats: int | None


def state_of(lic: LicenseFacts, now: datetime) -> LicenseState:
    """A license's state from its check facts."""
    return LicenseState(
        status=effective_status(lic["status"], lic["expires_at"], now),
        expires_at=lic["expires_at"],
        seats_used=lic["seats_used"],
        max_seats=lic["max_seats"],
    )


def expires_text(expires_at: datetime | None) -> str:
    """EDD's ``expires``: ``Y-m-d H:i:s`` in UTC, or ``lifetime``."""
    if expires_at is None:
        return "lifetime"
    return expires_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def license_fields(state: LicenseState, *, customer_email: str, is_local: bool) -> dict[str, Any]:
    """The fields EDD adds when the request names a license it has."""
    limit = state.max_seats or 0  # EDD: 0 is unlimited
    left: int | str = max(0, limit - state.seats_used) if limit else "unlimited"
    return {
        "license_limit": limit,
        "site_count": state.seats_used,
        "activations_left": left,
        "expires": expires_text(state.expires_at),
        "customer_name": "",  # the service keeps no customer name
        "customer_email": customer_email,  # masked, as every public answer has it (§6)
        "payment_id": 0,  # no EDD payment behind it
        "price_id": False,  # EDD's value for a product without variable prices
        "is_local": is_local,
    }


def base_answer(
    edd: EddInput, *, success: bool, license_value: str, product: CatalogProduct | None
) -> dict[str, Any]:
    """What every answer starts with: ``item_id`` and ``item_name`` as EDD echoes them (the
    product's own when the request left them out)."""
    item_id: int | bool = edd.item_id or False
    item_name = edd.item_name_echoed or edd.item_name or ""
    if product is not None:
        item_id = product["edd_item_id"] or item_id
        item_name = item_name or product["name"]
    return {
        "success": success,
        "license": license_value,
        "item_id": item_id,
        "item_name": item_name,
        "checksum": edd.checksum(),
    }


# Effective statuses EDD reports as ``disabled`` (EDD's own word for a revoked license).
DISABLED_STATUSES = frozenset({License.Status.SUSPENDED, License.Status.CANCELLED})


# --- get_version ----------------------------------------------------------------------------


def php_serialize(value: dict[str, str]) -> str:
    """A PHP ``serialize()`` of an array of strings by string keys (lengths in UTF-8 bytes),
    as EDD sends ``sections``, ``banners`` and ``icons``: the updater's ``maybe_unserialize``
    turns it into the array WordPress indexes (a JSON object would stay a ``stdClass``)."""
    parts = [f"a:{len(value)}:{{"]
    for key, text in value.items():
        parts.append(f's:{len(key.encode())}:"{key}";s:{len(text.encode())}:"{text}";')
    parts.append("}")
    return "".join(parts)
