"""The fault suite's newer parts: recovery buckets, the soak's RSS probes, the staleness
window of the two-server scenario, and every scenario's criteria."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from bench.faults.http import Answer, Tally
from bench.faults.load import Timeline
from bench.faults.report import CRITERIA
from bench.faults.scenarios import SCENARIOS
from bench.faults.scenarios.cross_server import WindowWriter
from bench.faults.scenarios.soak import rss_of, worker_pids
from bench.faults.seeding import Lic


def _ok(at: float) -> Answer:
    return Answer(200, {}, True, 0.0, at)


def test_bucket_rates_count_successes_per_whole_bucket():
    timeline = Timeline()
    timeline.marks = {"a": 100.0, "b": 102.2}
    tally = Tally()
    for at in (100.1, 100.2, 100.6, 101.9, 102.1):  # the last is past the whole buckets
        tally.add(_ok(at))
    tally.add(Answer(503, {"error": "service_unavailable"}, True, 0.0, 100.3))
    assert timeline.bucket_rates(tally, "a", "b", 0.5) == [4.0, 2.0, 0.0, 2.0]


def test_bucket_rates_of_an_empty_phase():
    timeline = Timeline()
    timeline.marks = {"a": 5.0, "b": 5.0}
    assert timeline.bucket_rates(Tally(), "a", "b", 0.5) == []


def test_a_tally_without_answers_still_counts():
    tally = Tally(keep_answers=False)
    tally.add(_ok(1.0))
    tally.add(Answer(0, None, False, 10.0, 0.0, failure="ReadTimeout"))
    assert tally.count == 2
    assert len(tally.hangs) == 1
    assert tally.answers == []
    assert tally.events == []


def test_rss_of_this_process_and_of_none():
    rss = rss_of(os.getpid())
    assert rss is not None
    assert rss > 1024 * 1024
    assert rss_of(2**22 + 12345) is None


def test_worker_pids_finds_a_child():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(5)"])
    try:
        assert child.pid in worker_pids(os.getpid())
    finally:
        child.kill()
        child.wait()


class _Reader:
    """Answers the check stale ``stale`` times, then fresh."""

    def __init__(self, stale: int) -> None:
        self.stale = stale

    def check(self, key: str, **kwargs: object) -> Answer:
        status = "valid" if self.stale > 0 else "suspended"
        self.stale -= 1
        body = {
            "entitlements": [
                {
                    "product_slug": "pro",
                    "status": status,
                    "expires_at": None,
                    "max_seats": 3,
                    "seats_used": 0,
                    "seats_remaining": 3,
                }
            ]
        }
        return Answer(200, body, True, 0.001, time.monotonic())


def _window_writer(stale: int) -> WindowWriter:
    lic = Lic(1, "KEY", "pro", status="suspended", max_seats=3)
    reader = _Reader(stale)
    writer = WindowWriter("w", lic, reader, reader, reader, Tally())  # type: ignore[arg-type]
    writer.answered = time.monotonic()
    return writer


def test_window_writer_measures_how_long_a_stale_answer_lasted():
    writer = _window_writer(stale=3)
    writer.after_stale()
    assert len(writer.windows) == 1
    assert 0 < writer.windows[0] < 1.0
    assert writer.stale_persistent == 0


def test_window_writer_of_a_fresh_answer_records_a_short_window():
    writer = _window_writer(stale=0)
    writer.after_stale()
    assert writer.windows[0] < 0.5


def test_every_scenario_has_criteria():
    numbers = [number for number, _ in SCENARIOS]
    assert len(numbers) == len(set(numbers))
    assert {"8", "9"} <= set(numbers)
    assert set(numbers) <= set(CRITERIA)
