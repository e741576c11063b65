"""``make faults``: the fault and load suite. Nothing lost, nothing stale, nothing wrong.

Runs the real service under gunicorn (``gunicorn.conf.py``, production settings) against a
throwaway PostgreSQL cluster and Redis server of its own (bench/services.py), on loopback
only, and reports each scenario as pass/fail with its figures in bench/faults.md:

1. seat race        50 concurrent activations of distinct instances on 5 seats, per round
2. stale reads      a write, then at once a check from another connection, with readers
                    hammering the same keys in the background
3. redis killed     Redis SIGKILLed under load, then started again (empty)
3b. redis frozen    Redis SIGSTOPped (unreachable, data kept), then SIGCONTed
4. postgres restart PostgreSQL stopped (immediate) under load, then started again
5. idempotency      20 concurrent identical provisions with one Idempotency-Key
6. audit            mixed writes; audit events by action == successful writes by action
7. brute force      a concurrent burst of random keys from one client vs the unknown-key limit
8. memory soak      one worker's RSS under more distinct keys than its near cache holds
9. two servers      a write through server A, at once a check on server B (one Redis, one DB)
10. heartbeats      200 live instances heartbeat while reclaim_activations sweeps in loops:
                    no live one reclaimed, every stopped one reclaimed once, none early
11. webhooks       10,000 events through the API to 3 endpoints, 2 Celery workers and a
                    beat: every one delivered, signatures valid, feed once and in order, lag
12. broker killed   Redis (the broker and the check cache) SIGKILLed under load for 30 s,
                    started again empty: writes and checks go on, nothing lost after
13. endpoint down   one endpoint refusing connections, one answering 500, next to healthy
                    ones: retries scheduled, a row per event, the healthy ones exactly once
14. worker killed   a worker SIGKILLed while the receiver holds its requests, restarted:
                    every event delivered again with the same webhook-id

After every scenario, the output of every server it ran is searched for every license key
the suite used, in any form (any case, dashes or none, percent-encoded): one found fails the
scenario (SPEC §7: logs never carry a full key).

``python -m bench.faults`` runs the full suite (about 21 minutes, 11's 10,000 events the
most); ``--quick`` (or
``FAULTS_QUICK=1``) runs a few rounds of each (CI). ``--only 1,5`` picks scenarios,
``--skip 3b`` leaves some out;
``--keep`` leaves the temporary directory (server logs) behind. The throwaway servers try
ports 55432 (PostgreSQL), 56379 (Redis) and 58000 (gunicorn) first, or ``FAULTS_PG_PORT``,
``FAULTS_REDIS_PORT`` and ``FAULTS_HTTP_PORT`` (the next free port when one is busy).
The exit status is 1 when any scenario fails. Every request has a timeout; a request that
times out is a hang, and a hang fails its scenario.

The package (its figures and decisions: bench/MEASUREMENTS.md, bench/README.md):

- ``plan``: how much each scenario does (full and quick plans) and the suite's constants;
- ``http``: the HTTP client (``Api``, ``Answer``), ``Tally`` and ``burst``;
- ``keys``: every license key used, and the search for them in the servers' output;
- ``seeding``: the server environment, Django set-up, tenants and licenses seeded directly;
- ``truth``: what a check must answer (``mismatch``) and the database's view (``sweep``);
- ``load``: load generators (``Writer``, ``Hammer``, ``StaticReader``, ``Timeline``);
- ``receiver``: the webhook receiver of 11-14 (verifies every delivery with
  ``standardwebhooks``, records webhook-id, event id and arrival);
- ``scenarios/``: one module per scenario, registered in ``scenarios.SCENARIOS``;
- ``report``: the criteria text and the Markdown report; ``runner``: the command line.
"""

from bench.faults.http import Answer, Api, Tally, burst
from bench.faults.keys import KEYS_USED, OutputWatch, judge_output, key_forms, leaked_keys
from bench.faults.plan import Plan
from bench.faults.report import render
from bench.faults.result import Result
from bench.faults.seeding import Lic
from bench.faults.truth import mismatch

__all__ = [
    "KEYS_USED",
    "Answer",
    "Api",
    "Lic",
    "OutputWatch",
    "Plan",
    "Result",
    "Tally",
    "burst",
    "judge_output",
    "key_forms",
    "leaked_keys",
    "mismatch",
    "render",
]
