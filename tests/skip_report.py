"""A skipped test is not a passed test: say loudly what was skipped, and fail CI on a surprise.

Some tests need a real backend: PostgreSQL row locks, or Redis. On the embedded defaults
(SQLite, the in-process cache) they skip, and that is expected: CI runs the suite a second
time against PostgreSQL and Redis, where they run. Every other skip, and a backend skip on the
run that has that backend, is unexpected: the summary names it, and under CI (``CI`` set) the
run fails.

With ``SKIP_REPORT_FILE`` set, the skips are also written there as JSON (``[[test id,
reason], ...]``): ``scripts/run_tests.py`` (``make test``) counts from it the backend tests a
missing server kept from running.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from typing import Any

import pytest
from django.db import connection

# Reason prefix -> is that backend absent on this run?
BACKEND_REASONS = {
    "needs PostgreSQL": lambda: _database_vendor() != "postgresql",
    "needs Redis": lambda: not os.environ.get("REDIS_URL"),
}

_skipped: list[tuple[str, str]] = []  # (test id, reason)


def _database_vendor() -> str:
    return connection.vendor


def _reason(report: pytest.TestReport) -> str:
    longrepr: Any = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)


def is_expected(reason: str) -> bool:
    return any(
        reason.startswith(prefix) and backend_absent()
        for prefix, backend_absent in BACKEND_REASONS.items()
    )


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped:
        _skipped.append((report.nodeid, _reason(report)))


def unexpected_skips() -> list[tuple[str, str]]:
    return [(nodeid, reason) for nodeid, reason in _skipped if not is_expected(reason)]


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    report_file = os.environ.get("SKIP_REPORT_FILE")
    if report_file and not hasattr(session.config, "workerinput"):  # xdist: the controller
        with open(report_file, "w", encoding="utf-8") as f:
            json.dump(_skipped, f)
    if os.environ.get("CI") and unexpected_skips() and exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not _skipped:
        return
    counts = Counter(reason for _, reason in _skipped)
    terminalreporter.section(f"{len(_skipped)} tests SKIPPED (not run, not passed)", sep="!")
    for reason, n in counts.most_common():
        label = "expected on this backend" if is_expected(reason) else "UNEXPECTED"
        terminalreporter.write_line(f"{n:5d}  {reason}  [{label}]")
    surprises = unexpected_skips()
    if surprises:
        verdict = "CI fails the run" if os.environ.get("CI") else "CI would fail this run"
        terminalreporter.write_line(f"{len(surprises)} unexpected skip(s): {verdict}:", red=True)
        for nodeid, reason in surprises:
            terminalreporter.write_line(f"       {nodeid}: {reason}", red=True)
