"""How much each scenario does (full and quick plans), and the suite's constants."""

from __future__ import annotations

from dataclasses import dataclass

from bench.services import REPO_ROOT

REPORT = REPO_ROOT / "bench" / "faults.md"


QUICK_REPORT = REPO_ROOT / "bench" / "tmp" / "faults-quick.md"


REQUEST_TIMEOUT = 10.0  # seconds; an answer slower than this is a hang


SECRET_KEY = "faults-" + "0123456789abcdef" * 3
SIGNING_KEYS_SECRET = "faults-signing-" + "fedcba9876543210" * 2


HIGH_RATE = "1000000/m"


UNKNOWN_KEY_LIMIT = 50  # scenario 7: THROTTLE_UNKNOWN_KEY_IP = "50/h"


@dataclass(frozen=True)
class Plan:
    """How much each scenario does. Every loop is bounded by a count and by time."""

    quick: bool
    seat_rounds: int = 20
    seat_concurrency: int = 50
    seats: int = 5
    stale_rounds: int = 2000
    stale_writers: int = 8
    stale_readers: int = 4
    outage_before: float = 6.0
    outage_down: float = 6.0
    outage_after: float = 12.0
    # Seconds after the restore before throughput is judged: CACHE_RETRY_SECONDS (5 s, a
    # process skips a cache that failed for that long), a socket timeout, and a margin.
    outage_settle: float = 6.0
    outage_writers: int = 4
    outage_readers: int = 4
    outage_probes: int = 20
    pg_before: float = 4.0
    pg_down: float = 5.0
    pg_after: float = 8.0
    idem_rounds: int = 10
    idem_concurrency: int = 20
    audit_ops: int = 1500
    audit_threads: int = 8
    brute_requests: int = 600
    brute_concurrency: int = 50
    soak_seconds: float = 180.0
    soak_hot_keys: int = 200
    soak_distinct_keys: int = 50_000
    soak_cache_bytes: int = 4 * 1024 * 1024
    soak_clients: int = 8
    # THROTTLE_PRODUCT_KEY of the soak's server. Each process keeps the per-key rate-limit
    # windows it has read until they end (LocalCounts): a minute of distinct keys with the
    # suite's per-minute rate, which levels off after ~60 s: inside a full run, not a quick
    # one, so the quick run uses per-second windows and its last third measures the near
    # cache alone.
    soak_key_rate: str = HIGH_RATE
    # RSS levels off: the last third of the soak grows by less than this many MiB.
    soak_level_mib: float = 3.0
    cross_rounds: int = 2000
    cross_writers: int = 8
    cross_readers: int = 4
    # Scenario 10: live instances heartbeating every hb_seconds / 2 while hb_reclaimers
    # loops run reclaim_activations; hb_run_seconds bounds the heartbeat phase.
    hb_instances: int = 200
    hb_seconds: int = 4
    hb_run_seconds: float = 45.0
    hb_reclaimers: int = 2
    scenario_time_limit: float = 150.0
    # Scenarios 11-14 (webhooks): events made through the API by webhook_writers threads
    # within webhook_write_seconds; every delivery must arrive within webhook_drain_seconds
    # of the last write.
    webhook_events: int = 10_000
    webhook_writers: int = 8
    webhook_write_seconds: float = 900.0
    webhook_drain_seconds: float = 180.0
    webhook_outage_events: int = 20_000  # scenario 12: writes go on for the phases below
    webhook_outage_before: float = 10.0
    webhook_outage_down: float = 30.0
    webhook_outage_after: float = 10.0
    webhook_down_events: int = 1000  # scenario 13
    webhook_kill_events: int = 20  # scenario 14

    @classmethod
    def full(cls) -> Plan:
        return cls(quick=False)

    @classmethod
    def quick_plan(cls) -> Plan:
        return cls(
            quick=True,
            seat_rounds=3,
            stale_rounds=200,
            stale_writers=4,
            stale_readers=1,
            outage_before=3.0,
            outage_down=3.0,
            outage_after=10.0,
            outage_writers=3,
            outage_readers=2,
            outage_probes=8,
            pg_before=2.0,
            pg_down=3.0,
            pg_after=5.0,
            idem_rounds=2,
            audit_ops=200,
            audit_threads=4,
            brute_requests=200,
            soak_seconds=30.0,
            soak_distinct_keys=20_000,
            soak_cache_bytes=1024 * 1024,
            soak_key_rate="1000000/s",
            soak_level_mib=2.5,
            cross_rounds=300,
            cross_writers=4,
            cross_readers=1,
            hb_run_seconds=7.0,
            scenario_time_limit=60.0,
            webhook_events=200,
            webhook_writers=4,
            webhook_write_seconds=40.0,
            webhook_drain_seconds=45.0,
            webhook_outage_events=2000,
            webhook_outage_before=2.0,
            webhook_outage_down=4.0,
            webhook_outage_after=2.0,
            webhook_down_events=60,
            webhook_kill_events=6,
        )
