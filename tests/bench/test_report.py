"""The benchmark report's arithmetic: how phases measured in one round are compared."""

from __future__ import annotations

import dataclasses
from typing import Any

from bench.config import Config
from bench.report import p99, per_round_ratio, rps, twin_ratio
from bench.run import BARE, HIT, MISS, PAIRS, bracketed, twin_config


def run(phase: str, value: float, round_: int = 1, offered: float = 0.0) -> dict[str, Any]:
    return {"phase": phase, "size": 10, "round": round_, "offered_rps": offered, "rps": value}


def test_the_bare_view_is_measured_again_right_after_the_hit() -> None:
    assert bracketed([BARE, HIT, MISS, PAIRS]) == [BARE, HIT, BARE, MISS, PAIRS]
    assert bracketed([BARE, MISS]) == [BARE, MISS]  # no hit, nothing to bracket


def test_a_phase_is_compared_with_the_bare_runs_either_side_of_it_in_its_round() -> None:
    runs = [
        run("bare", 100),
        run("hit", 90),
        run("bare", 80),  # the machine slowed down during the hit
        run("miss", 40),
        run("bare", 200, round_=2),
        run("hit", 150, round_=2),
        run("bare", 100, round_=2),
        run("miss", 50, round_=2),
    ]
    # Round 1: 90 / mean(100, 80) = 1.0; round 2: 150 / mean(200, 100) = 1.0.
    assert per_round_ratio(runs, "hit", "bare", 10, False, rps) == 1.0
    # The miss against the bare run just before it (the next is another round's):
    # 40 / 80 and 50 / 100.
    assert per_round_ratio(runs, "miss", "bare", 10, False, rps) == 0.5


def test_paced_and_closed_loop_runs_are_never_compared() -> None:
    runs = [run("bare", 100), run("bare", 50, offered=500.0), run("hit", 45, offered=500.0)]
    assert per_round_ratio(runs, "hit", "bare", 10, True, rps) == 0.9
    assert per_round_ratio(runs, "hit", "bare", 10, False, rps) is None


def test_the_bare_view_is_its_own_unit() -> None:
    runs = [run("bare", 100), run("bare", 80)]
    assert per_round_ratio(runs, "bare", "bare", 10, False, rps) == 1.0
    assert per_round_ratio(runs, "bare", "bare", 99, False, rps) is None


def test_the_large_misses_are_paired_with_the_twin_servers_round_by_round() -> None:
    def paced_miss(size: int, round_: int, p99: float) -> dict[str, Any]:
        return {**run("miss", 0, round_, offered=400.0), "size": size, "latency_ms": {"p99": p99}}

    results = {
        "runs": [paced_miss(1000, 1, 6.0), paced_miss(1000, 2, 30.0), paced_miss(10, 1, 1.0)],
        "twin_runs": [paced_miss(10, 1, 5.0), paced_miss(10, 2, 20.0)],
    }
    # Round 1: 6 / 5; round 2: 30 / 20 (the machine was slower then, for both).
    assert twin_ratio(results, 1000, p99) == (1.2 + 1.5) / 2
    assert twin_ratio({"runs": results["runs"]}, 1000, p99) is None  # no twin: no pairing


def test_the_twin_server_has_its_own_database_cache_and_port() -> None:
    cfg = Config.from_env()
    twin = twin_config(
        dataclasses.replace(
            cfg, database_url="postgres://u@h:5432/license_bench", redis_url="redis://h:6379/9"
        )
    )
    assert twin.database_url == "postgres://u@h:5432/license_bench_small"
    assert twin.redis_url == "redis://h:6379/10"
    assert twin.port == cfg.port + 1
