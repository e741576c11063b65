"""The command line: runs the chosen scenarios on one stack and writes the report."""

from __future__ import annotations

import argparse
import os
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from bench.faults.context import Context
from bench.faults.keys import OutputWatch, judge_output
from bench.faults.plan import QUICK_REPORT, REPORT, Plan
from bench.faults.report import log_excerpt, render
from bench.faults.result import Result
from bench.faults.scenarios import SCENARIOS
from bench.faults.seeding import db_reconnect, server_env, setup_django
from bench.services import Stack

DESCRIPTION = (
    "``make faults``: the fault and load suite. Nothing lost, nothing stale, nothing wrong."
)


def run(plan: Plan, only: set[str] | None, keep: bool) -> list[Result]:
    results: list[Result] = []
    with Stack(keep=keep) as stack:
        setup_django(stack)
        server = stack.gunicorn(server_env(stack))
        watch = OutputWatch(stack)
        ctx = Context(plan, stack, server)
        for number, scenario in SCENARIOS:
            if only and number not in only:
                continue
            results.append(run_one(ctx, watch, number, scenario))
            restore_services(stack)
        if keep:
            print(f"kept {stack.base}", flush=True)
    return results


def run_one(
    ctx: Context, watch: OutputWatch, number: str, scenario: Callable[[Context], Result]
) -> Result:
    print(f"== scenario {number}", flush=True)
    started = time.monotonic()
    try:
        result = scenario(ctx)
    except Exception as exc:  # a crash of the suite is a failure of the scenario
        result = Result(number, scenario.__name__ if hasattr(scenario, "__name__") else "")
        result.fail(f"the scenario crashed: {exc!r}")
        result.notes.append(traceback.format_exc())
        db_reconnect()
    judge_output(result, watch)
    result.seconds = time.monotonic() - started
    if not result.passed:
        excerpt = log_excerpt(ctx.server.log)
        if excerpt:
            result.notes.append("server log, warnings and errors (tail):\n" + excerpt)
    print(
        f"   {'PASS' if result.passed else 'FAIL'} {result.title} ({result.seconds:.1f}s)",
        flush=True,
    )
    for problem in result.problems:
        print(f"   - {problem}", flush=True)
    return result


def restore_services(stack: Stack) -> None:
    """Each scenario starts with both servers up and a reachable cache."""
    if not stack.redis.ping():
        stack.redis.thaw()
        if not stack.redis.ping():
            stack.redis.start()
    if not stack.postgres.running():
        stack.postgres.start()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.faults", description=DESCRIPTION)
    parser.add_argument(
        "--quick", action="store_true", default=os.environ.get("FAULTS_QUICK") == "1"
    )
    parser.add_argument("--only", default="", help="comma-separated scenario numbers, e.g. 1,3b")
    parser.add_argument("--skip", default="", help="comma-separated scenario numbers to leave out")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument("--output", type=Path, default=None, help=f"default {REPORT}")
    args = parser.parse_args(argv)
    plan = Plan.quick_plan() if args.quick else Plan.full()
    # A quick run never overwrites the full run's report.
    output: Path = args.output or (QUICK_REPORT if args.quick else REPORT)
    output.parent.mkdir(parents=True, exist_ok=True)
    only = {s.strip() for s in args.only.split(",") if s.strip()} or None
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    if skip:
        only = (only or {number for number, _ in SCENARIOS}) - skip
    started = time.monotonic()
    results = run(plan, only, args.keep)
    seconds = time.monotonic() - started
    output.write_text(render(results, plan, seconds))
    failed = [r.number for r in results if not r.passed]
    print(f"report: {output} ({seconds:.0f} s)", flush=True)
    # The closing line CI reads, in the plain "N passed, N failed" form.
    print(f"faults: {len(results) - len(failed)} passed, {len(failed)} failed", flush=True)
    return 1 if failed else 0
