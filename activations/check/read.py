"""The check's read path: the near cache, else one round trip to Redis (the rate limits
counted and the cached answer read together), else the database; the answer rendered.

A check naming an instance is also its heartbeat (SPEC §10): a row found live is refreshed
(coalesced, no invalidation: no answer changes), a dead one revived (written at once, the
key invalidated), a reclaimed one given a place back if one is free; after either of those
two writes the answer is read again from the database.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from activations import services
from activations.check.facts import (
    CacheResult,
    CheckCacheRead,
    CheckData,
    check_answer,
    check_body,
    check_cache_lookup,
    check_data,
    check_data_load,
    check_data_unwritten,
    instance_states,
    json_body,
    rendered_body,
)
from activations.check.limits import (
    IP_SCOPE,
    KEY_SCOPE,
    UNKNOWN_KEY_SCOPE,
    BudgetSpent,
    limit_ip,
    limit_key,
    unknown_key,
)
from activations.check.near import NearCache, near_cache
from activations.errors import LicenseNotFound
from activations.models import ActivationState
from audit.services import Actor
from license_service import metrics
from license_service.errors import Throttled
from license_service.logging import bind_license_key
from license_service.middleware import client_ip
from license_service.ratelimit import Window, rate_window
from licensing.keys import canonical_license_key

# What a check reports on: one product's slug, all of the key's products (None), or a
# function choosing the product from the key's facts once they are read (the EDD endpoint
# matches ``item_id``/``item_name`` against them); it raises LicenseNotFound (or a
# subclass) when the key has no license for the product it names.
ProductChoice = str | None | Callable[[CheckData], str]


def check(
    request: HttpRequest,
    raw_key: str,
    product_slug: str | None,
    instance_identifier: str | None,
) -> HttpResponse:
    """The product API's check answer (``check_read``), rendered."""
    answer = check_read(request, raw_key, product_slug, instance_identifier)
    body = answer if isinstance(answer, bytes) else json_body(answer)
    return HttpResponse(body, content_type="application/json")


def check_read(
    request: HttpRequest,
    raw_key: str,
    product: ProductChoice,
    instance_identifier: str | None,
) -> bytes | dict[str, Any]:
    """The answer of one check: from the near cache (no round trip) when it has the key and
    the local counts admit the request, else from one round trip to Redis, else from the
    database; the plain check (no product, no instance) as its rendered body, any other as
    the answer's dict. Shared by both protocols (the product API, the EDD endpoint): one
    read, its rate limits, the heartbeat and the cache. Raises the domain errors the views
    answer (unknown key, no license for the product, throttled)."""
    key = canonical_license_key(raw_key)
    bind_license_key(key)
    if key is None:
        raise unknown_key(limit_ip(request))
    ip = client_ip(request) or "unknown"
    knobs = settings.LICENSE_SERVICE
    now = time.time()
    count = (
        rate_window(IP_SCOPE, ip, knobs["THROTTLE_PRODUCT_IP"], now=now),
        rate_window(KEY_SCOPE, key, knobs["THROTTLE_PRODUCT_KEY"], now=now),
    )
    unknown = rate_window(UNKNOWN_KEY_SCOPE, ip, knobs["THROTTLE_UNKNOWN_KEY_IP"], now=now)
    near = near_cache()
    plain = product is None and instance_identifier is None
    # No round trip: the answer is in this process and the limits admit it locally.
    kept, token = near.get(key, count, unknown) if near is not None else (None, None)
    data: CheckData | None
    if kept is not None:
        metrics.record_check_cache("near_hit")
        body = rendered_body(kept.rendered, timezone.now()) if plain else None
        if body is not None:  # the usual check: its answer as it was rendered
            return body
        data = kept.data()
    else:
        try:
            data, cache_result = _check_from_cache(key, count, unknown, near, token)
        except BudgetSpent:
            if instance_identifier is None:
                raise
            return _check_over_budget(key, product, instance_identifier, unknown)
        metrics.record_check_cache(cache_result)
    if data is None:
        raise unknown_key(ip)
    if plain:
        return check_body(data)
    states = None if instance_identifier is None else instance_states(data, instance_identifier)
    try:
        answer = check_answer(data, product_slug=_chosen(product, data), states=states)
    except LicenseNotFound as exc:
        raise unknown_key(ip, exc) from None
    if instance_identifier is not None and states is not None:
        answer = _heartbeat_answer(key, data, answer, states, instance_identifier)
    return answer


def _chosen(product: ProductChoice, data: CheckData) -> str | None:
    """The product slug a check reports on (``ProductChoice``)."""
    return product(data) if callable(product) else product


def _seen(
    key: str,
    data: CheckData,
    states: dict[int, ActivationState],
    instance_identifier: str,
    answered: list[int],
) -> bool:
    """The check as the instance's heartbeat on the ``answered`` licenses: its rows, live
    or dead, are refreshed (a dead one at once: ``revive``); a reclaimed one takes a place
    back if one is free. Whether a seat changed (the answer is then read again)."""
    rows = [i for i in answered if states.get(i) in _HOLDS_A_ROW]
    revive = any(states[i] == ActivationState.DEAD for i in rows)
    changed = False
    if rows:
        wrote = services.activation_heartbeat(
            license_key=key,
            license_ids=rows,
            instance_identifier=instance_identifier,
            heartbeat_seconds=_shortest_heartbeat(data, rows),
            revive=revive,
        )
        changed = revive and wrote
    for license_id in answered:
        if states.get(license_id) == ActivationState.RECLAIMED:
            changed |= services.activation_return(
                license_id=license_id,
                instance_identifier=instance_identifier,
                actor=Actor.product(),
            )
    return changed


def _heartbeat_answer(
    key: str,
    data: CheckData,
    answer: dict[str, Any],
    states: dict[int, ActivationState],
    instance_identifier: str,
) -> dict[str, Any]:
    """``answer`` after the check's heartbeat (``_seen``): read again from the database
    when the heartbeat changed a seat (rare: not cached; the write invalidated the key)."""
    answered = [entitlement["license_id"] for entitlement in answer["entitlements"]]
    if not _seen(key, data, states, instance_identifier, answered):
        return answer
    fresh = check_data_load(key)
    if fresh is None:
        return answer
    fresh["licenses"] = [lic for lic in fresh["licenses"] if lic["license_id"] in answered]
    return check_answer(fresh, states=instance_states(fresh, instance_identifier))


_HOLDS_A_ROW = (ActivationState.ACTIVE, ActivationState.DEAD)


def _shortest_heartbeat(data: CheckData, license_ids: list[int]) -> int | None:
    """The smallest ``heartbeat_seconds`` of these licenses' products (None: none has one)."""
    return min(
        (
            lic["heartbeat_seconds"]
            for lic in data["licenses"]
            if lic["license_id"] in license_ids and lic["heartbeat_seconds"] is not None
        ),
        default=None,
    )


def _check_from_cache(
    key: str, count: Sequence[Window], unknown: Window, near: NearCache | None, token: int | None
) -> tuple[CheckData | None, CacheResult]:
    """One round trip: the IP's counter, this IP's unknown-key counter (a gate: read, and
    BudgetSpent when it has no room, before anything about the key is counted, read or
    written), the key's counter (each with the events the near cache admitted locally),
    the cached answer; the database on a miss. What Redis answers goes to the near cache if
    nothing invalidated it since ``token``."""
    cached = _counted_lookup(key, count, unknown, near)
    data, cache_result = check_data(key, read=cached)
    if data is not None and cache_result in ("hit", "miss") and near is not None:
        near.put(key, data, token)
    return data, cache_result


def _counted_lookup(
    key: str, count: Sequence[Window], unknown: Window, near: NearCache | None
) -> CheckCacheRead | None:
    """The round trip of ``_check_from_cache``: what it read of the key (None: the cache is
    down), after the near cache's local counts learned what it counted."""
    ip_window, key_window = count
    windows = (ip_window, unknown, key_window)
    taken = near.counts.take(count) if near is not None else None
    amounts = _ONE_EVENT_AND_A_GATE if taken is None else (taken[0], 0, taken[1])
    try:  # in flight until what Redis counted is learned
        lookup = check_cache_lookup(key, count=windows, amounts=amounts)
        if lookup is None:
            return None
        stop = lookup.throttled
        if near is not None and stop is not None:
            near.counts.learned([stop], [stop.limit + 1])
            after = windows.index(stop) + 1  # not counted: those events wait again
            near.counts.untaken(windows[after:], amounts[after:])
        elif near is not None:
            near.counts.learned(windows, lookup.counts)
        if stop is not None:
            _throttled(stop, unknown)
        return lookup.cached
    finally:
        if near is not None and taken is not None:
            near.counts.settled(count, taken)


def _throttled(stop: Window, unknown: Window) -> NoReturn:
    if stop.key == unknown.key:
        raise BudgetSpent(stop.retry_after)
    raise Throttled(stop.retry_after)


# A check's events without the near cache: one in the IP's window, none in the gate of the
# unknown-key budget, one in the key's.
_ONE_EVENT_AND_A_GATE = (1, 0, 1)


def _check_over_budget(
    key: str, product: ProductChoice, instance_identifier: str, spent: Window
) -> dict[str, Any]:
    """A check from an IP past its unknown-key budget: answered only if the instance has a
    row (live or dead) on one of the key's licenses (of ``product_slug`` when given), then
    counted against the key; else refused as if the key did not exist, having written
    nothing (the facts are read without filling the cache)."""
    data, cache_result = check_data_unwritten(key)
    metrics.record_check_cache(cache_result)
    if data is None:
        raise Throttled(spent.retry_after)
    states = instance_states(data, instance_identifier)
    try:
        answer = check_answer(data, product_slug=_chosen(product, data), states=states)
    except LicenseNotFound:  # no license for that product
        raise Throttled(spent.retry_after) from None
    if not any(entitlement["instance_active"] for entitlement in answer["entitlements"]):
        raise Throttled(spent.retry_after)
    limit_key(key)
    return _heartbeat_answer(key, data, answer, states, instance_identifier)
