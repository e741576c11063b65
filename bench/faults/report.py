"""The scenarios' criteria and the Markdown report (bench/faults.md)."""

from __future__ import annotations

import os
import platform
from datetime import UTC, datetime
from pathlib import Path

from bench.faults.plan import REQUEST_TIMEOUT, Plan
from bench.faults.result import Result

CRITERIA = {
    "1": "Each round a fresh license with 5 seats gets 50 activations of distinct instances at "
    "once (a barrier releases them together): exactly 5 answers 200 and 5 rows stored, every "
    "other answer 409 seat_limit_exceeded, no 5xx, no hang.",
    "2": "Writer threads each own a license; every round is one write (suspend, resume, renew, "
    "set_seats, activate, deactivate) and, as soon as it is answered, a check through another "
    "client (another connection, often another worker; GET or POST, with or without "
    "product_slug and instance_identifier) that must show exactly the committed state. "
    "Background readers keep checking the same keys meanwhile, as products do, so cache "
    "fills race with invalidations. A final sweep compares every key with the database.",
    "3": "Load (verified writer rounds as in 2, and readers of keys that never change), then "
    "Redis is killed mid-run and started again (empty). While it is down, 20 warmed keys "
    "are suspended. Zero 5xx, zero hangs, zero wrong or stale answers during or after, the "
    "suspended keys read as suspended afterwards, and the check rate recovers to at "
    "least 60% of the rate before the outage (each the median of 0.5 s buckets; after: "
    "from 6 s after the restore, once no process still skips the cache, to the end).",
    "3b": "As 3, but Redis is frozen (SIGSTOP) and thawed (SIGCONT): unreachable yet keeping "
    "its data, as a partitioned, paused or persistent Redis does. Entries cached before the "
    "outage are still there afterwards; none may be served once a write made it stale.",
    "4": "Load (cached checks of warmed keys, provisions with an Idempotency-Key, "
    "activations), then PostgreSQL is stopped (immediate: a crash) and started again. "
    "While down: cached checks answer 200, every write answers 503 service_unavailable "
    "JSON with Retry-After, none hangs. After: writes succeed within 5 s; every 201/200 is "
    "stored; each failed provision retried with its Idempotency-Key gives one license; "
    "audit trail and seats agree (nothing half-written).",
    "5": "20 identical provisions with one Idempotency-Key released together: all 201 with "
    "the same body, one license, one license.provisioned event; the same key with another "
    "body is 409 idempotency_conflict.",
    "6": "Threads provision (new customers and added products), change the lifecycle, "
    "activate and deactivate at random, each on its own licenses, counting every successful "
    "write (a cancel also releases its seats). Audit events stored per action must equal "
    "successful writes per action; seats in use must equal activations created minus "
    "released.",
    "7": "A second server with THROTTLE_UNKNOWN_KEY_IP=50/h; 50 clients from one address "
    "send random keys (valid checksums of real and made-up prefixes, and malformed ones) to "
    "check (GET, POST) and activate at once: at most 50 (+5%) are answered 404, all others "
    "429 throttled with Retry-After.",
    "8": "A server of its own with ONE gunicorn worker (Redis, PostgreSQL, near cache on) and "
    "its near cache bounded by CHECK_NEAR_CACHE_MAX_BYTES (1 MiB quick, 4 MiB full). 8 clients "
    "send checks for 30 s (quick) or 3 minutes (full): 70% of 200 hot keys, 25% of distinct "
    "keys each sent once (20,000 or 50,000 seeded by COPY, far more than the cache holds at "
    "~1 KiB an entry), 5% of unknown keys (fresh valid checksums; THROTTLE_UNKNOWN_KEY_IP "
    "high; THROTTLE_PRODUCT_KEY per second in the quick run, so that the per-key rate-limit "
    "windows a process keeps, a minute of keys with the usual per-minute rate, are not still "
    "growing in its last third). The worker's RSS (not the arbiter's) is sampled every "
    "second: it must grow by less than 2.5 MiB (quick) / 3 MiB (full) over the last third of "
    "the run (an unbounded cache grows ~2 KiB a distinct key: 3.5-5.5 MiB over a quick "
    "run's last third, ~17 MiB over a full run's; a bounded one 1-1.7 MiB, 0.8 MiB). Every "
    "known key answers 200, every unknown one 404, no 5xx, no hang. Reported: RSS start / "
    "peak / end, and the hot keys' near-hit ratio (near hits in /metrics over hot checks; "
    "distinct keys are never repeated, unknown keys never near-hit).",
    "9": "Two gunicorn servers (A, B; 2 workers each) on one Redis and one PostgreSQL, as two "
    "hosts would be. Writer threads each own a license; every round is one write through A "
    "(brand API: suspend, resume, renew, set_seats; product API: activate, deactivate) and, "
    "as soon as A answers, a check of the key on B that must show exactly the committed "
    "state, while background readers keep the same keys in B's near caches (B must answer "
    "near hits). 0 stale answers in 2,000 rounds (300 quick); a stale one is polled every "
    "5 ms until fresh and its window (from A's answer) reported. A final sweep compares "
    "every key on B with the database.",
    "10": "A server of its own (HEARTBEAT_MIN_SECONDS=1) and a product with heartbeat_seconds "
    "= 4. 20 licenses of 12 seats, each with 10 live instances (200) and 2 quitters that "
    "stop after activating. The live ones heartbeat every 2 s (heartbeat_seconds / 2, as "
    "README tells clients; POST /api/v1/product/heartbeat, or a check with "
    "instance_identifier where that is not routed) for 7 s (quick) / 45 s (full), while two "
    "loops run manage.py reclaim_activations against the same database. No live instance is "
    "ever reclaimed (0 activation.reclaimed rows name one, none has reclaimed_at, every "
    "heartbeat answers instance_active: true); every quitter is reclaimed exactly once, never "
    "before heartbeat_seconds since it was last seen; every command run exits 0; no 5xx, "
    "no hang. The loops stop before the heartbeats. A live instance the harness itself let go "
    "3 s or more between heartbeats (a busy machine; the write lags by up to 1 s) proves "
    "nothing and is left out, counted; more than 5 % left out fails the run.",
    "11": (
        "A brand with 3 endpoints on the suite's receiver (127.0.0.1, created through the brand "
        "API; every delivery verified with the standardwebhooks library), 2 Celery workers "
        "(prefork, 4 processes each, as in production) and one beat on the stack's Redis as "
        "broker, production webhook settings. Threads make 10,000 events (quick: 200) through "
        "the API (provisions, suspends, resumes), at least 99% of them within 900 s (quick: 40 "
        "s). Every event stored is delivered to every endpoint with a valid signature within "
        "180 s (quick: 45 s) of the last write; a duplicate receipt only with the same "
        "webhook-id; one event stored per successful write; the feed (GET /api/v1/brand/events, "
        "pages of 500) returns every event exactly once, in position order; no 5xx. Reported: "
        "lag from the event's created_at to its first receipt (p50/p99/max), deliveries/s, "
        "duplicates."
    ),
    "12": (
        "As 11 (WEBHOOK_REQUEUE_AFTER 3 s instead of 300 s, so a message lost with the broker "
        "is sent again within the run): writes for 10 s, Redis (broker and check cache) "
        "SIGKILLed for 30 s (quick: 2 s, 3 s down, 2 s after) while writes and checks go on, "
        "then started again empty. Writes succeed while it is down (the outbox is in "
        "PostgreSQL), checks answer 200, no 5xx, no hang; every Celery process survives; once "
        "it is back every event is delivered to every endpoint (a valid signature, duplicates "
        "only with the same webhook-id) within the drain time."
    ),
    "13": (
        "Two healthy endpoints, one answering 500 and one refusing connections (nothing listens "
        "on its port), 1000 events (quick: 60), production retry settings. The healthy ones get "
        "every event exactly once (0 duplicates: no fault touched them). Each down endpoint has "
        "one delivery row per event, every row pending, attempted at least once, with its next "
        "attempt scheduled after its last (backoff: the first wait under 5 s, the second under "
        "5 min); the 500 endpoint's requests all verify."
    ),
    "14": (
        "One worker (prefork, 4 processes) and beat; the receiver holds the first request of "
        "each event at one endpoint open; 20 events (quick: 6) to it and to a healthy endpoint. "
        "Once requests are held, the worker's process group is SIGKILLed (its deliveries "
        "claimed, never answered) and started again. Every delivery row ends succeeded within "
        "the drain time; every request cut off was sent again after the restart with the same "
        "webhook-id. The claim of the killed worker lasts WEBHOOK_TIMEOUT * 2 + "
        "WEBHOOK_LEASE_MARGIN, shortened from 60 s to 10 s here, and the sweep re-queues after "
        "3 s instead of 300 s."
    ),
}


def log_excerpt(path: Path, lines: int = 12) -> str:
    """The server's own warnings and errors: the access log (level info) left out."""
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    kept = [line for line in text if '"level": "info"' not in line and "UserWarning" not in line]
    kept = [line for line in kept if "mw_instance = middleware" not in line]
    return "\n".join(line[:400] for line in kept[-lines:])


def render(results: list[Result], plan: Plan, seconds: float) -> str:
    lines = [
        "# Fault and load suite",
        "",
        f"Generated by `{'FAULTS_QUICK=1 ' if plan.quick else ''}make faults` "
        f"({'quick' if plan.quick else 'full'} run) on "
        f"{datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')} in {seconds:.0f} s. "
        f"Python {platform.python_version()}, {os.cpu_count()} CPUs; the service under "
        "gunicorn (gunicorn.conf.py, production settings) on a private PostgreSQL and Redis "
        "started by bench/services.py, all on 127.0.0.1. Every request has a "
        f"{REQUEST_TIMEOUT:g} s timeout; a timeout counts as a hang. After each scenario "
        "the servers' output is searched for every license key the suite used, in any form; "
        "one found fails the scenario.",
        "",
        "| # | scenario | result | time |",
        "|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r.number} | {r.title} | {'PASS' if r.passed else '**FAIL**'} | {r.seconds:.0f} s |"
        )
    for r in results:
        lines += ["", f"## {r.number}. {r.title}: {'PASS' if r.passed else 'FAIL'}", ""]
        if r.number in CRITERIA:
            lines += [CRITERIA[r.number], ""]
        for name, value in r.figures.items():
            if isinstance(value, dict):
                lines.append(f"- {name}:")
                lines += [f"  - {k}: {v}" for k, v in value.items()]
            else:
                lines.append(f"- {name}: {value}")
        if r.problems:
            lines += ["", "Problems:", ""]
            lines += [f"- {p}" for p in r.problems]
        for note in r.notes:
            lines += ["", "```", note.strip()[-3000:], "```"]
    return "\n".join(lines) + "\n"
