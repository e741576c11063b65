"""The check's facts and their loading: what a check answer is made of, read from the cache
entry (``keys``) or, on a miss, from the database (one or two queries), and how it is
rendered.

The cache holds, per license key, the raw facts of every entitlement (``KeyFacts``: stored
status, ``expires_at``, seats counted as SPEC §10 counts them, hashes of the instances with
a row, dead or reclaimed): the effective status is computed when the answer is served, so
a cached entry can outlive an expiry time without ever reporting a license as valid after
it. Seats are different: a live activation that stops heartbeating dies at a known moment
(``last_seen_at + heartbeat_seconds``), and ``seats_used`` then drops, so an entry is
served no later than the first death among its live rows (``cached_until``, and the
rendered body's "true until"). A heartbeat of a live row changes no answer; one that
revives a dead row, or returns a reclaimed one, invalidates the key as any write does.

For the plain check (no ``product_slug``, no ``instance_identifier``, the bulk of the
traffic) the entry also holds the rendered body and the time it stays true until (the next
expiry or death), and a hit sends those bytes as they are. Entries live at most
``CHECK_CACHE_TTL`` seconds; unknown keys are remembered for ``CHECK_NEGATIVE_CACHE_TTL``
seconds; an entry read from the read replica (which may lag) for at most
``REPLICA_CACHE_TTL`` seconds.

The facts are ``TypedDict``s: plain dicts at run time (as compact to pickle and as quick
to read as before), one declared shape for the type checker.

A hit is one cache round trip, together with the caller's rate limits, and no SQL query;
a miss costs one query when the key's licenses have no activation (the key with its
licenses, products, brand and whether each has activation rows), else a second (their
rows, from which seats are counted; one more per license with too many rows to list), and
one more round trip to store the entry.
"""

from __future__ import annotations

import functools
import json
import math
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
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
from activations.models import Activation, ActivationState, Environment
from activations.selectors import instance_hash, iso_datetime, mask_email
from brands.models import Brand, Product
from license_service.ratelimit import Window
from license_service.redis.breaker import cache_failed, cache_unavailable
from license_service.redis.scripts import Stamp, cache_backend
from license_service.routers import replica_was_used
from licensing.models import License, LicenseKey, effective_status
from licensing.selectors import seats_remaining

# Above this many activation rows, a license's instances are not cached: its seats are
# counted by one aggregate query, and instance_active is answered by one indexed query.
MAX_CACHED_INSTANCES = 1000

# Seconds an answer read from the replica is cached: a few times a replication lag.
REPLICA_CACHE_TTL = 5

# Earlier than any last_seen_at: the threshold of a product whose activations never die.
_NEVER_DEAD = datetime(1970, 1, 1, tzinfo=UTC)

CacheResult = Literal["near_hit", "hit", "miss", "negative_hit", "error"]


class LicenseFacts(TypedDict):
    """One entitlement of a key, as stored."""

    license_id: int
    product_slug: str
    status: str
    expires_at: datetime | None
    max_seats: int
    heartbeat_seconds: int | None  # the product's (None: its activations never die)
    seats_used: int  # live production rows (SPEC §10, licensing.seats)
    non_production_in_use: int  # live staging and local rows
    # Hashes of the identifiers of the rows (live or dead; not reclaimed), of the dead ones
    # among them, and of the reclaimed rows; None: too many to cache (ask the table).
    instances: frozenset[str] | None
    dead: frozenset[str] | None
    reclaimed: frozenset[str] | None
    # When the first live row dies (None: none will), at which time seats_used is stale.
    live_until: datetime | None


class KeyFacts(TypedDict):
    """Everything a check answer of one key is made of."""

    license_key: str
    brand: str
    customer_email_masked: str
    licenses: list[LicenseFacts]
    # Set when stored: the plain answer's body and the time it stays true until (None: no
    # such time); the wall-clock time the entry stops being served (its first death, or
    # when the Redis entry expires).
    rendered: NotRequired[tuple[bytes, datetime | None]]
    cached_until: NotRequired[float]


CheckData = KeyFacts


@dataclass(frozen=True, slots=True)
class LoadSql:
    """The queries of a miss (``_load_sql``)."""

    licenses: str  # the key, its licenses, products, brand, whether they have activations
    rows: str  # the activation rows of one license, at most a number (a parameter)
    seats: str  # the seats of one license with too many rows to list


@functools.cache
def _load_sql(vendor: str) -> LoadSql:
    """The queries of a miss, written once per database vendor from the models' table and
    column names. Plain SQL: compiling the equivalent ORM query cost more CPU than running
    it (about half of a miss)."""
    qn = connections[DEFAULT_DB_ALIAS].ops.quote_name

    def col(model: Any, field: str) -> str:
        return f"{qn(model._meta.db_table)}.{qn(model._meta.get_field(field).column)}"

    key_table, license_table = LicenseKey._meta.db_table, License._meta.db_table
    brand_table = Brand._meta.db_table
    product_table, activation_table = Product._meta.db_table, Activation._meta.db_table
    activations = qn(activation_table)
    # Whether a license has activation rows: one index probe (cheaper than counting them,
    # which the second query does, for the licenses that have some).
    has_rows = (
        f"EXISTS (SELECT 1 FROM {activations} "  # noqa: S608 (names only)
        f"WHERE {col(Activation, 'license')} = {col(License, 'id')})"
    )
    # Only table and column names from the models go into the text; values are parameters.
    licenses = (
        f"SELECT {col(LicenseKey, 'customer_email')}, {col(Brand, 'slug')}, "  # noqa: S608 (see above)
        f"{col(License, 'id')}, {col(License, 'status')}, {col(License, 'expires_at')}, "
        f"{col(License, 'max_seats')}, {col(Product, 'slug')}, "
        f"{col(Product, 'heartbeat_seconds')}, {has_rows} "
        f"FROM {qn(key_table)} "
        f"INNER JOIN {qn(brand_table)} ON {col(LicenseKey, 'brand')} = {col(Brand, 'id')} "
        f"LEFT OUTER JOIN {qn(license_table)} "
        f"ON {col(License, 'license_key')} = {col(LicenseKey, 'id')} "
        f"LEFT OUTER JOIN {qn(product_table)} ON {col(License, 'product')} = {col(Product, 'id')} "
        f"WHERE {col(LicenseKey, 'key')} = %s "
        f"ORDER BY {col(License, 'id')}"
    )
    rows = (
        f"SELECT * FROM (SELECT {col(Activation, 'license')}, "  # noqa: S608 (the same)
        f"{col(Activation, 'instance_identifier')}, {col(Activation, 'environment')}, "
        f"{col(Activation, 'last_seen_at')}, {col(Activation, 'reclaimed_at')} "
        f"FROM {activations} WHERE {col(Activation, 'license')} = %s LIMIT %s) AS listed"
    )
    # Parameters: production, production, the license, the live threshold.
    production = col(Activation, "environment")
    seats = (
        f"SELECT COUNT(CASE WHEN {production} = %s THEN 1 END), "  # noqa: S608 (the same)
        f"COUNT(CASE WHEN {production} <> %s THEN 1 END), "
        f"MIN({col(Activation, 'last_seen_at')}) "
        f"FROM {activations} WHERE {col(Activation, 'license')} = %s "
        f"AND {col(Activation, 'reclaimed_at')} IS NULL "
        f"AND {col(Activation, 'last_seen_at')} >= %s"
    )
    return LoadSql(licenses=licenses, rows=rows, seats=seats)


def _aware(value: Any) -> datetime | None:
    """A datetime column as the ORM would return it: aware, in UTC."""
    if value is None:
        return None
    # A str: SQLite without a declared type for the column.
    moment: datetime = datetime.fromisoformat(value) if isinstance(value, str) else value
    if timezone.is_naive(moment):
        return moment.replace(tzinfo=UTC)
    return moment


def live_threshold(heartbeat_seconds: int | None, now: datetime) -> datetime | None:
    """Rows last seen before this are dead (None: they never die)."""
    if heartbeat_seconds is None:
        return None
    return now - timedelta(seconds=heartbeat_seconds)


def row_state(
    last_seen_at: datetime, reclaimed_at: Any, threshold: datetime | None
) -> ActivationState:
    """``Activation.state`` of a row read as values (``threshold``: ``live_threshold``)."""
    if reclaimed_at is not None:
        return ActivationState.RECLAIMED
    if threshold is not None and last_seen_at < threshold:
        return ActivationState.DEAD
    return ActivationState.ACTIVE


def check_data_load(key: str) -> CheckData | None:
    """The raw check facts of a canonical key from the database, or None.

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
    """The facts of ``key``: one query, a second for the rows of the licenses that have
    some (up to one more than MAX_CACHED_INSTANCES each), and one per license with more."""
    sql = _load_sql(connection.vendor)
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(sql.licenses, [key])
        rows = cursor.fetchall()
        if not rows:
            return None
        licenses: list[LicenseFacts] = []
        listed: dict[int, LicenseFacts] = {}
        for (
            _,
            _,
            license_id,
            status,
            expires_at,
            max_seats,
            product_slug,
            heartbeat_seconds,
            has_rows,
        ) in rows:
            if license_id is None:
                continue
            lic: LicenseFacts = {
                "license_id": license_id,
                "product_slug": product_slug,
                "status": status,
                "expires_at": _aware(expires_at),
                "max_seats": max_seats,
                "heartbeat_seconds": heartbeat_seconds,
                "seats_used": 0,
                "non_production_in_use": 0,
                "instances": frozenset(),
                "dead": frozenset(),
                "reclaimed": frozenset(),
                "live_until": None,
            }
            licenses.append(lic)
            if has_rows:
                listed[license_id] = lic
        if listed:
            _load_rows(cursor, sql, listed, now)
    customer_email, brand_slug = rows[0][0], rows[0][1]
    facts: KeyFacts = {
        "license_key": key,
        "brand": brand_slug,
        "customer_email_masked": mask_email(customer_email),
        "licenses": licenses,
    }
    return facts


def _load_rows(cursor: Any, sql: LoadSql, listed: dict[int, LicenseFacts], now: datetime) -> None:
    """The seats of ``listed`` licenses: their rows, up to MAX_CACHED_INSTANCES + 1 each in
    one statement (one bounded select per license, put together by UNION ALL); those with
    more are counted by ``_count_seats`` instead."""
    bound = MAX_CACHED_INSTANCES + 1
    params: list[int] = []
    for license_id in listed:
        params += [license_id, bound]
    cursor.execute(" UNION ALL ".join([sql.rows] * len(listed)), params)
    rows = cursor.fetchall()
    per_license = Counter(row[0] for row in rows)
    for license_id, count in per_license.items():
        if count > MAX_CACHED_INSTANCES:
            _count_seats(cursor, sql.seats, listed.pop(license_id), now)
    _tally_rows(listed, [row for row in rows if row[0] in listed], now)


def _tally_rows(listed: dict[int, LicenseFacts], rows: list[Any], now: datetime) -> None:
    """Count the seats of ``listed`` licenses from their activation rows (``license_id,
    instance_identifier, environment, last_seen_at, reclaimed_at``), and keep the hashes of
    their identifiers by state."""
    hashes: dict[int, dict[ActivationState, set[str]]] = {
        license_id: {state: set() for state in ActivationState} for license_id in listed
    }
    for license_id, identifier, environment, last_seen_at, reclaimed_at in rows:
        lic = listed[license_id]
        heartbeat = lic["heartbeat_seconds"]
        last_seen = _aware(last_seen_at)
        assert last_seen is not None  # noqa: S101 (a NOT NULL column)
        state = row_state(last_seen, reclaimed_at, live_threshold(heartbeat, now))
        hashes[license_id][state].add(instance_hash(identifier))
        if state != ActivationState.ACTIVE:
            continue
        if environment == Environment.PRODUCTION:
            lic["seats_used"] += 1
        else:
            lic["non_production_in_use"] += 1
        if heartbeat is not None:
            _dies_at(lic, last_seen + timedelta(seconds=heartbeat))
    for license_id, by_state in hashes.items():
        lic = listed[license_id]
        dead = by_state[ActivationState.DEAD]
        lic["instances"] = frozenset(by_state[ActivationState.ACTIVE] | dead)
        lic["dead"] = frozenset(dead)
        lic["reclaimed"] = frozenset(by_state[ActivationState.RECLAIMED])


def _count_seats(cursor: Any, sql: str, lic: LicenseFacts, now: datetime) -> None:
    """The seats of a license with too many rows to list, by one aggregate query; its
    instances are then asked of the table when a check names one (``instance_states``)."""
    heartbeat = lic["heartbeat_seconds"]
    threshold = live_threshold(heartbeat, now) or _NEVER_DEAD
    adapt = cursor.db.ops.adapt_datetimefield_value
    production = Environment.PRODUCTION.value
    cursor.execute(sql, [production, production, lic["license_id"], adapt(threshold)])
    seats_used, non_production, first_seen = cursor.fetchone()
    lic["seats_used"], lic["non_production_in_use"] = seats_used, non_production
    lic["instances"] = lic["dead"] = lic["reclaimed"] = None
    oldest = _aware(first_seen)
    if heartbeat is not None and oldest is not None:
        _dies_at(lic, oldest + timedelta(seconds=heartbeat))


def _dies_at(lic: LicenseFacts, moment: datetime) -> None:
    if lic["live_until"] is None or moment < lic["live_until"]:
        lic["live_until"] = moment


def first_death(data: CheckData) -> datetime | None:
    """When the first live row of the key dies (None: none will): its facts' seats are
    true until then."""
    return min(
        (lic["live_until"] for lic in data["licenses"] if lic["live_until"] is not None),
        default=None,
    )


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
    if check_entry_fresh(entry, generation=read.generation, epoch=read.epoch) and unexpired(
        entry[2]
    ):
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


def unexpired(data: CheckData | None) -> bool:
    """Whether cached facts are still true: not past their first death (``cached_until``;
    Redis keeps an entry up to a second longer, its timeouts being whole seconds)."""
    return data is None or time.time() < data.get("cached_until", math.inf)


def _remember(key: str, data: CheckData | None, read: CheckCacheRead) -> None:
    knobs = settings.LICENSE_SERVICE
    ttl = knobs["CHECK_NEGATIVE_CACHE_TTL"] if data is None else knobs["CHECK_CACHE_TTL"]
    if replica_was_used():  # may lag the primary: a just-provisioned key, a fresh seat
        ttl = min(ttl, REPLICA_CACHE_TTL)
    if data is not None:
        now = timezone.now()
        _render(data, now)
        # A near cache keeps it no longer; nobody serves it once a live row has died.
        cached_until = time.time() + ttl
        death = first_death(data)
        if death is not None:
            cached_until = min(cached_until, death.timestamp())
            ttl = max(1, min(ttl, math.ceil(cached_until - time.time())))
        data["cached_until"] = cached_until
    entry = check_entry(data, generation=read.generation, epoch=read.epoch)
    check_cache_store(key, entry, timeout=ttl)


def _render(data: CheckData, now: datetime) -> None:
    """Add the plain answer's body to the facts, with the time it stays true until (the
    next expiry of a valid license, or the first death of a live row, which changes
    ``seats_used``; None: no such time)."""
    changes = [
        lic["expires_at"]
        for lic in data["licenses"]
        if lic["status"] == License.Status.VALID
        and lic["expires_at"] is not None
        and lic["expires_at"] > now
    ]
    death = first_death(data)
    if death is not None:
        changes.append(death)
    data["rendered"] = (json_body(check_answer(data, now=now)), min(changes, default=None))


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
    states: dict[int, ActivationState] | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The SPEC §6 check body from cached facts, with statuses as of ``now``; with
    ``states`` (``instance_states``: a check naming an instance), each entitlement says
    whether the instance is active on it (a live or dead row: the check revives a dead
    one), and ``reason: "reclaimed"`` when its row was reclaimed.

    Raises LicenseNotFound when ``product_slug`` is given and the key does not carry it.
    """
    now = now or timezone.now()
    licenses = data["licenses"]
    if product_slug is not None:
        licenses = [lic for lic in licenses if lic["product_slug"] == product_slug]
        if not licenses:
            raise LicenseNotFound("This key has no license for that product.")
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
            "non_production_in_use": lic["non_production_in_use"],
        }
        if states is not None:
            state = states.get(lic["license_id"])
            entitlement["instance_active"] = state in _HOLDS_A_ROW
            if state == ActivationState.RECLAIMED:
                entitlement["reason"] = "reclaimed"
        entitlements.append(entitlement)
    return {
        "success": True,
        "license_key": data["license_key"],
        "brand": data["brand"],
        "customer_email_masked": data["customer_email_masked"],
        "entitlements": entitlements,
    }


_HOLDS_A_ROW = (ActivationState.ACTIVE, ActivationState.DEAD)


def instance_states(data: CheckData, instance_identifier: str) -> dict[int, ActivationState]:
    """The state of the instance's row on each of the key's licenses that has one: from the
    facts, or by one indexed query for the licenses with too many rows to cache."""
    digest = instance_hash(instance_identifier)
    states: dict[int, ActivationState] = {}
    uncached: dict[int, LicenseFacts] = {}
    for lic in data["licenses"]:
        instances, dead, reclaimed = lic["instances"], lic["dead"], lic["reclaimed"]
        if instances is None or dead is None or reclaimed is None:
            uncached[lic["license_id"]] = lic
        elif digest in dead:
            states[lic["license_id"]] = ActivationState.DEAD
        elif digest in instances:
            states[lic["license_id"]] = ActivationState.ACTIVE
        elif digest in reclaimed:
            states[lic["license_id"]] = ActivationState.RECLAIMED
    if uncached:
        now = timezone.now()
        rows = Activation.objects.filter(
            license_id__in=uncached, instance_identifier=instance_identifier
        ).values_list("license_id", "last_seen_at", "reclaimed_at")
        for license_id, last_seen_at, reclaimed_at in rows:
            threshold = live_threshold(uncached[license_id]["heartbeat_seconds"], now)
            states[license_id] = row_state(last_seen_at, reclaimed_at, threshold)
    return states
