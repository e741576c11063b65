"""The benchmark report's arithmetic: how phases measured in one round are compared."""

from __future__ import annotations

from typing import Any

from bench.report import per_round_ratio, rps
from bench.run import BARE, HIT, MISS, PAIRS, bracketed


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
