"""The scenarios, one module each (or per family), in the order the suite runs them."""

from __future__ import annotations

from collections.abc import Callable

from bench.faults.context import Context
from bench.faults.result import Result
from bench.faults.scenarios.audit import scenario_audit
from bench.faults.scenarios.brute_force import scenario_brute_force
from bench.faults.scenarios.cross_server import scenario_cross_server
from bench.faults.scenarios.heartbeat_reclaim import scenario_heartbeat_reclaim
from bench.faults.scenarios.idempotency import scenario_idempotency
from bench.faults.scenarios.outage import outage_scenario
from bench.faults.scenarios.postgres import scenario_postgres_restart
from bench.faults.scenarios.seat_race import scenario_seat_race
from bench.faults.scenarios.soak import scenario_memory_soak
from bench.faults.scenarios.stale_reads import scenario_stale_reads
from bench.faults.scenarios.webhooks import (
    scenario_webhook_broker_killed,
    scenario_webhook_endpoint_down,
    scenario_webhook_volume,
    scenario_webhook_worker_killed,
)

SCENARIOS: list[tuple[str, Callable[[Context], Result]]] = [
    ("5", scenario_idempotency),
    ("6", scenario_audit),
    ("1", scenario_seat_race),
    ("2", scenario_stale_reads),
    ("3", lambda ctx: outage_scenario(ctx, "3", "kill")),
    ("3b", lambda ctx: outage_scenario(ctx, "3b", "freeze")),
    ("4", scenario_postgres_restart),
    ("7", scenario_brute_force),
    ("8", scenario_memory_soak),
    ("9", scenario_cross_server),
    ("10", scenario_heartbeat_reclaim),
    ("11", scenario_webhook_volume),
    ("12", scenario_webhook_broker_killed),
    ("13", scenario_webhook_endpoint_down),
    ("14", scenario_webhook_worker_killed),
]
