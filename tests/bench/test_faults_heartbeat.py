"""Scenario 10's judging helpers: which answers count as a live heartbeat, and whether the
heartbeat endpoint is routed (else the scenario heartbeats through the check)."""

from __future__ import annotations

from bench.faults.http import Answer
from bench.faults.scenarios.heartbeat_reclaim import (
    _check_active,
    _heartbeat_active,
    heartbeat_endpoint_routed,
)


def _answer(status: int, body: object) -> Answer:
    return Answer(status, body, True, 0.01, 0.0)


def test_a_heartbeat_counts_only_when_the_instance_is_active():
    assert _heartbeat_active(_answer(200, {"success": True, "instance_active": True}))
    assert not _heartbeat_active(
        _answer(200, {"success": True, "instance_active": False, "reason": "reclaimed"})
    )
    assert not _heartbeat_active(_answer(404, {"error": "activation_not_found"}))
    assert not _heartbeat_active(_answer(0, None))


def test_a_check_counts_only_when_its_entitlement_says_the_instance_is_active():
    assert _check_active(_answer(200, {"entitlements": [{"instance_active": True}]}))
    assert not _check_active(
        _answer(200, {"entitlements": [{"instance_active": False, "reason": "reclaimed"}]})
    )
    assert not _check_active(_answer(200, {"entitlements": []}))
    assert not _check_active(_answer(503, {"error": "service_unavailable"}))


def test_a_path_only_the_catch_all_404_answers_is_not_routed():
    assert heartbeat_endpoint_routed("/api/v1/product/activate")
    assert not heartbeat_endpoint_routed("/api/v1/product/no-such-endpoint")
