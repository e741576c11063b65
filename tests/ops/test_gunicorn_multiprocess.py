"""Metrics stay correct across several gunicorn workers (prometheus multiprocess mode).

Starts the real server (gunicorn.conf.py, production settings, two gthread workers) on a
free loopback port, spreads requests over fresh connections, and checks that a scrape,
answered by whichever worker, counts all of them.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from prometheus_client.mmap_dict import MmapedDict

from tests.live import free_port, gunicorn_serving, production_env
from tests.ops.test_metrics import sample

ROOT = Path(__file__).resolve().parents[2]
REQUESTS = 60
# Which worker accepts a connection is the kernel's choice: one may take a whole batch (seen
# in CI on a quiet machine). Batches are sent until both have served, at most this many.
MAX_BATCHES = 10


def get(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 (loopback only)
        return response.status, response.read().decode()


@pytest.fixture
def gunicorn(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    env = production_env(tmp_path, free_port(), GUNICORN_WORKERS="2", GUNICORN_THREADS="2")
    with gunicorn_serving(env, tmp_path) as base:
        yield base, Path(env["PROMETHEUS_MULTIPROC_DIR"])


def test_counts_from_every_worker_add_up(gunicorn):
    base, multiproc = gunicorn
    before = sample(get(f"{base}/metrics")[1], "http_requests_total", route="/healthz")

    sent = 0
    per_worker: list[float] = []
    for _ in range(MAX_BATCHES):
        with ThreadPoolExecutor(max_workers=8) as pool:
            statuses = list(pool.map(lambda _: get(f"{base}/healthz")[0], range(REQUESTS)))
        assert statuses == [200] * REQUESTS
        sent += REQUESTS
        per_worker = [healthz_count(path) for path in multiproc.glob("counter_*.db")]
        if len([n for n in per_worker if n]) >= 2:
            break
    # Each worker wrote its own file, and more than one served: the total is a merge.
    assert len([n for n in per_worker if n]) >= 2
    assert sum(per_worker) == before + sent

    counted = [
        sample(get(f"{base}/metrics")[1], "http_requests_total", route="/healthz")
        for _ in range(4)  # several scrapes, likely answered by different workers
    ]
    assert counted == [before + sent] * 4


def healthz_count(path: Path) -> float:
    total = 0.0
    for key, value, *_ in MmapedDict.read_all_values_from_file(str(path)):
        _, name, labels, _ = json.loads(key)
        if name == "http_requests_total" and labels.get("route") == "/healthz":
            total += value
    return total


def test_latency_histogram_is_merged_too(gunicorn):
    base, _ = gunicorn
    for _ in range(10):
        get(f"{base}/healthz")
    text = get(f"{base}/metrics")[1]
    count = sample(text, "http_request_duration_seconds_count", route="/healthz", method="GET")
    assert count >= 10
    assert (
        sample(
            text, "http_request_duration_seconds_bucket", route="/healthz", method="GET", le="+Inf"
        )
        == count
    )
