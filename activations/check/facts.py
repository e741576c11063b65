"""The check's facts and their loading: what a check answer is made of, read from the cache
entry (``keys``) or, on a miss, from the database (two queries), and how it is rendered.

The cache holds, per license key, the raw facts of every entitlement (``KeyFacts``: stored
status, ``expires_at``, seats, hashes of the active instances): the effective status is
computed when the answer is served, so a cached entry can outlive an expiry time without
ever reporting a license as valid after it. For the plain check (no ``product_slug``, no
``instance_identifier``, the bulk of the traffic) the entry also holds the rendered body
and the time it stays true until (the next expiry), and a hit sends those bytes as they
are. Entries live at most ``CHECK_CACHE_TTL`` seconds; unknown keys are remembered for
``CHECK_NEGATIVE_CACHE_TTL`` seconds; an entry read from the read replica (which may lag)
for at most ``REPLICA_CACHE_TTL`` seconds.

The facts are ``TypedDict``s: plain dicts at run time (as compact to pickle and as quick
to read as before), one declared shape for the type checker.

A hit is one cache round trip, together with the caller's rate limits, and no SQL query;
a miss costs two queries (the key with its licenses, products, brand and seat counts; then
the active instances) and one more round trip to store the entry.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, NotRequired, TypedDict

from django.conf import settings
from django.core.cache import cache
from django.db import DEFAULT_DB_ALIAS, InterfaceError, OperationalError, connections, router
from django.utils import timezone

from activations.check.keys import (
    EPOCH_KEY,
    check_cache_key,
    check_cache_store,
    check_entry,
    check_entry_fresh,
    check_generation_key,
    epoch_bump_pending,
    epoch_bumped,
    generation_timeout,
    new_stamp,
)
from activations.errors import LicenseNotFound
from activations.models import Activation
from activations.selectors import instance_hash, iso_datetime, mask_email
from brands.models import Brand, Product
from license_service.ratelimit import Window
from license_service.redis.breaker import cache_failed, cache_unavailable
from license_service.redis.scripts import Stamp, cache_backend
from license_service.routers import replica_was_used
from licensing.models import License, LicenseKey, effective_status
from licensing.selectors import seats_remaining

# Above this many seats in use, a license's instances are not cached; instance_active is
# then answered by one indexed query.
MAX_CACHED_INSTANCES = 1000

# Seconds an answer read from the replica is cached: a few times a replication lag.
REPLICA_CACHE_TTL = 5

CacheResult = Literal["near_hit", "hit", "miss", "negative_hit", "error"]


class LicenseFacts(TypedDict):
    """One entitlement of a key, as stored."""

    license_id: int
    product_slug: str
    status: str
    expires_at: datetime | None
    max_seats: int
    seats_used: int
    # Hashes of the active instances' identifiers; None: too many to cache (ask the table).
    instances: frozenset[str] | None


class KeyFacts(TypedDict):
    """Everything a check answer of one key is made of."""

    license_key: str
    brand: str
    customer_email_masked: str
    licenses: list[LicenseFacts]
    # Set when stored: the plain answer's body and the time it stays true until (None: no
    # such time); the wall-clock time the Redis entry expires.
    rendered: NotRequired[tuple[bytes, datetime | None]]
    cached_until: NotRequired[float]


CheckData = KeyFacts


@functools.cache
def _load_sql(vendor: str) -> tuple[str, str]:
    """The two queries of a miss, written once per database vendor from the models' table
    and column names. Plain SQL: compiling the equivalent ORM query cost more CPU than
    running it (about half of a miss)."""
    qn = connections[DEFAULT_DB_ALIAS].ops.quote_name

    def col(model: Any, field: str) -> str:
        return f"{qn(model._meta.db_table)}.{qn(model._meta.get_field(field).column)}"

    key_table, license_table = LicenseKey._meta.db_table, License._meta.db_table
    brand_table = Brand._meta.db_table
    product_table, activation_table = Product._meta.db_table, Activation._meta.db_table
    grouped = [
        col(LicenseKey, "customer_email"),
        col(Brand, "slug"),
        col(License, "id"),
        col(License, "status"),
        col(License, "expires_at"),
        col(License, "max_seats"),
        col(Product, "slug"),
    ]
    # Only table and column names from the models go into the text; values are parameters.
    licenses = (
        f"SELECT {', '.join(grouped)}, COUNT({col(Activation, 'id')}) "  # noqa: S608 (see above)
        f"FROM {qn(key_table)} "
        f"INNER JOIN {qn(brand_table)} ON {col(LicenseKey, 'brand')} = {col(Brand, 'id')} "
        f"LEFT OUTER JOIN {qn(license_table)} "
        f"ON {col(License, 'license_key')} = {col(LicenseKey, 'id')} "
        f"LEFT OUTER JOIN {qn(product_table)} ON {col(License, 'product')} = {col(Product, 'id')} "
        f"LEFT OUTER JOIN {qn(activation_table)} "
        f"ON {col(Activation, 'license')} = {col(License, 'id')} "
        f"WHERE {col(LicenseKey, 'key')} = %s "
        f"GROUP BY {', '.join(grouped)} ORDER BY {col(License, 'id')}"
    )
    instances = (
        f"SELECT {col(Activation, 'license')}, {col(Activation, 'instance_identifier')} "  # noqa: S608 (the same)
        f"FROM {qn(activation_table)} WHERE {col(Activation, 'license')} IN "
    )
    return licenses, instances


def _aware(value: Any) -> datetime | None:
    """A datetime column as the ORM would return it: aware, in UTC."""
    if value is None:
        return None
    # A str: SQLite without a declared type for the column.
    moment: datetime = datetime.fromisoformat(value) if isinstance(value, str) else value
    if timezone.is_naive(moment):
        return moment.replace(tzinfo=UTC)
    return moment


def check_data_load(key: str) -> CheckData | None:
    """The raw check facts of a canonical key from the database (two queries), or None.

    A read only, so it skips Django's connection health check (a ``SELECT 1`` round trip
    before a request's first query) and retries once on a new connection instead when the
    kept one turns out dead: the same outcome as the health check, one round trip less on
    every miss."""
    connection: Any = connections[router.db_for_read(LicenseKey)]  # stubs lack health_check_*
    if (
        connection.connection is not None
        and connection.health_check_enabled
        and not connection.health_check_done
        and not connection.in_atomic_block
    ):
        connection.health_check_done = True
        try:
            return _check_data_query(connection, key)
        except (OperationalError, InterfaceError):
            connection.close()  # the next query connects again
    return _check_data_query(connection, key)


def _check_data_query(connection: Any, key: str) -> CheckData | None:
    licenses_sql, instances_sql = _load_sql(connection.vendor)
    with connection.cursor() as cursor:
        cursor.execute(licenses_sql, [key])
        rows = cursor.fetchall()
        if not rows:
            return None
        licenses: list[LicenseFacts] = [
            {
                "license_id": license_id,
                "product_slug": product_slug,
                "status": status,
                "expires_at": _aware(expires_at),
                "max_seats": max_seats,
                "seats_used": seats_used,
                "instances": frozenset() if seats_used <= MAX_CACHED_INSTANCES else None,
            }
            for (
                _,
                _,
                license_id,
                status,
                expires_at,
                max_seats,
                product_slug,
                seats_used,
            ) in rows
            if license_id is not None
        ]
        listed = {
            lic["license_id"]: lic
            for lic in licenses
            if lic["seats_used"] and lic["instances"] is not None
        }
        if listed:
            ids = list(listed)
            cursor.execute(instances_sql + f"({', '.join(['%s'] * len(ids))})", ids)
            instances: dict[int, set[str]] = {license_id: set() for license_id in listed}
            for license_id, identifier in cursor.fetchall():
                instances[license_id].add(instance_hash(identifier))
            for license_id, hashes in instances.items():
                listed[license_id]["instances"] = frozenset(hashes)
    customer_email, brand_slug = rows[0][0], rows[0][1]
    facts: KeyFacts = {
        "license_key": key,
        "brand": brand_slug,
        "customer_email_masked": mask_email(customer_email),
        "licenses": licenses,
    }
    return facts


@dataclass(frozen=True, slots=True)
class CheckCacheRead:
    """What the round trip of a check read from the cache about its key: the cached value,
    and the key's generation and the cache's epoch as they were then (the tags an entry
    stored after this read gets)."""

    entry: Any
    generation: int
    epoch: int


@dataclass(frozen=True, slots=True)
class CheckLookup:
    """The cache's round trip of a check: the first of the caller's windows that stopped it
    (then nothing about the key was read or written), else each window's counter and what
    the key's entry is."""

    throttled: Window | None
    cached: CheckCacheRead | None
    counts: list[int] = field(default_factory=list)


def check_cache_lookup(
    key: str, *, count: Sequence[Window] = (), amounts: Sequence[int] = ()
) -> CheckLookup | None:
    """One round trip to the cache (one Lua script on Redis): count the request in the
    caller's rate-limit windows (``amounts`` events each, one by default; 0: a gate, only
    read), in order, stopping at the first past its limit or gate without room; else read
    the key's entry, its generation and the epoch (writing either if missing, and a new
    epoch if an invalidation of this process was lost). None when the cache is down:
    limits fail open, the database answers.
    """
    if cache_unavailable():
        return None
    stamp, pending = new_stamp(), epoch_bump_pending()
    stamps = (
        Stamp(check_generation_key(key), stamp, generation_timeout()),
        Stamp(EPOCH_KEY, stamp, None, force=bool(pending)),
    )
    try:
        found = cache_backend().count_and_read(count, (check_cache_key(key),), stamps, amounts)
    except Exception:
        cache_failed("check cache read")
        return None
    if found.stopped_at is not None:
        return CheckLookup(throttled=count[found.stopped_at], cached=None)
    if pending:
        epoch_bumped(pending)
    entry, generation, epoch = found.values
    cached = CheckCacheRead(entry=entry, generation=generation, epoch=epoch)
    return CheckLookup(throttled=None, cached=cached, counts=found.counts)


def check_data(
    key: str, *, read: CheckCacheRead | None, remember: bool = True
) -> tuple[CheckData | None, CacheResult]:
    """The check facts of a canonical key (None: no such key), from the entry ``read``
    found if it is fresh, else from the database (which then fills the cache, unless
    ``remember`` is False). ``read`` is None when the cache is down: the database answers
    and nothing is stored."""
    if read is None:
        return check_data_load(key), "error"
    entry = read.entry
    if check_entry_fresh(entry, generation=read.generation, epoch=read.epoch):
        data = entry[2]
        return data, "hit" if data is not None else "negative_hit"
    data = check_data_load(key)
    if remember:
        _remember(key, data, read)
    return data, "miss"


def check_data_unwritten(key: str) -> tuple[CheckData | None, CacheResult]:
    """The check facts of a canonical key as ``check_data`` has them, writing nothing to
    the cache: a fresh entry if there is one, else the database's (not stored). For a
    caller that may yet be refused (a refused request writes only its counter)."""
    names = [check_cache_key(key), check_generation_key(key), EPOCH_KEY]
    read: CheckCacheRead | None = None
    if not cache_unavailable():
        try:
            found = cache.get_many(names)
        except Exception:
            cache_failed("check cache read")
        else:
            # Not stamped, so a tag may be missing (None): then no entry is fresh, and
            # nothing is stored under it (remember=False).
            values: list[Any] = [found.get(name) for name in names]
            entry, generation, epoch = values
            read = CheckCacheRead(entry=entry, generation=generation, epoch=epoch)
    return check_data(key, read=read, remember=False)


def _remember(key: str, data: CheckData | None, read: CheckCacheRead) -> None:
    knobs = settings.LICENSE_SERVICE
    ttl = knobs["CHECK_NEGATIVE_CACHE_TTL"] if data is None else knobs["CHECK_CACHE_TTL"]
    if replica_was_used():  # may lag the primary: a just-provisioned key, a fresh seat
        ttl = min(ttl, REPLICA_CACHE_TTL)
    if data is not None:
        _render(data, timezone.now())
        data["cached_until"] = time.time() + ttl  # a near cache keeps it no longer
    entry = check_entry(data, generation=read.generation, epoch=read.epoch)
    check_cache_store(key, entry, timeout=ttl)


def _render(data: CheckData, now: datetime) -> None:
    """Add the plain answer's body to the facts, with the time it stays true until (the
    next expiry of a valid license; None: no such time)."""
    until = min(
        (
            lic["expires_at"]
            for lic in data["licenses"]
            if lic["status"] == License.Status.VALID
            and lic["expires_at"] is not None
            and lic["expires_at"] > now
        ),
        default=None,
    )
    data["rendered"] = (json_body(check_answer(data, now=now)), until)


def check_body(data: CheckData) -> bytes:
    """The JSON body of a check without ``product_slug`` or ``instance_identifier``: the
    one rendered when the entry was stored while it is still true (no entitlement expired
    since), else rendered now."""
    now = timezone.now()
    body = rendered_body(data.get("rendered"), now)
    return body if body is not None else json_body(check_answer(data, now=now))


def rendered_body(rendered: tuple[bytes, datetime | None] | None, now: datetime) -> bytes | None:
    """A pre-rendered plain answer (``_render``), if it is still true at ``now``."""
    if rendered is not None and (rendered[1] is None or now < rendered[1]):
        return rendered[0]
    return None


def json_body(answer: dict[str, Any]) -> bytes:
    """What ``JsonResponse(answer)`` would send (an answer holds only JSON types)."""
    return json.dumps(answer).encode()


def check_answer(
    data: CheckData,
    *,
    product_slug: str | None = None,
    instance_identifier: str | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The SPEC §6 check body from cached facts, with statuses as of ``now``.

    Raises LicenseNotFound when ``product_slug`` is given and the key does not carry it.
    """
    now = now or timezone.now()
    licenses = data["licenses"]
    if product_slug is not None:
        licenses = [lic for lic in licenses if lic["product_slug"] == product_slug]
        if not licenses:
            raise LicenseNotFound("This key has no license for that product.")
    active: set[int] = set()
    if instance_identifier is not None:
        active = _active_license_ids(licenses, instance_identifier)
    entitlements = []
    for lic in licenses:
        entitlement = {
            "product_slug": lic["product_slug"],
            "license_id": lic["license_id"],
            "status": effective_status(lic["status"], lic["expires_at"], now),
            "expires_at": iso_datetime(lic["expires_at"]),
            "seats_used": lic["seats_used"],
            "max_seats": lic["max_seats"],
            "seats_remaining": seats_remaining(
                seats_used=lic["seats_used"], max_seats=lic["max_seats"]
            ),
        }
        if instance_identifier is not None:
            entitlement["instance_active"] = lic["license_id"] in active
        entitlements.append(entitlement)
    return {
        "success": True,
        "license_key": data["license_key"],
        "brand": data["brand"],
        "customer_email_masked": data["customer_email_masked"],
        "entitlements": entitlements,
    }


def _active_license_ids(licenses: list[LicenseFacts], instance_identifier: str) -> set[int]:
    digest = instance_hash(instance_identifier)
    active = {
        lic["license_id"]
        for lic in licenses
        if lic["instances"] is not None and digest in lic["instances"]
    }
    uncached = [lic["license_id"] for lic in licenses if lic["instances"] is None]
    if uncached:
        active.update(
            Activation.objects.filter(
                license_id__in=uncached, instance_identifier=instance_identifier
            ).values_list("license_id", flat=True)
        )
    return active
