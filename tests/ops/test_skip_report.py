"""The skip policy: a backend skip is expected where that backend is absent; others fail CI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytest_plugins = ["pytester"]

INNER = """
import pytest

@pytest.mark.skip(reason="needs Redis (REDIS_URL)")
def test_redis_only():
    pass

@pytest.mark.skip(reason=REASON)
def test_other():
    pass

def test_runs():
    pass
"""


def run_inner(pytester: pytest.Pytester, reason: str) -> pytest.RunResult:
    pytester.makepyfile(INNER.replace("REASON", repr(reason)))
    return pytester.runpytest_subprocess("-p", "tests.skip_report", "-p", "no:django")


@pytest.fixture
def ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    monkeypatch.setenv("CI", "true")
    monkeypatch.delenv("REDIS_URL", raising=False)


@pytest.mark.usefixtures("ci")
def test_a_backend_skip_without_that_backend_is_expected(pytester: pytest.Pytester) -> None:
    result = run_inner(pytester, "needs Redis (REDIS_URL) too")
    result.stdout.fnmatch_lines(["*2 tests SKIPPED*", "*expected on this backend*"])
    assert result.ret == pytest.ExitCode.OK


@pytest.mark.usefixtures("ci")
def test_any_other_skip_fails_ci_and_is_named(pytester: pytest.Pytester) -> None:
    result = run_inner(pytester, "no browser installed")
    result.stdout.fnmatch_lines(["*no browser installed*UNEXPECTED*", "*test_other*"])
    assert result.ret == pytest.ExitCode.TESTS_FAILED


@pytest.mark.usefixtures("ci")
def test_a_redis_skip_when_redis_is_configured_fails_ci(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/1")
    result = run_inner(pytester, "needs Redis (REDIS_URL) too")
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def test_outside_ci_an_unexpected_skip_is_reported_but_passes(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    monkeypatch.delenv("CI", raising=False)
    result = run_inner(pytester, "no browser installed")
    result.stdout.fnmatch_lines(["*CI would fail this run*"])
    assert result.ret == pytest.ExitCode.OK


def test_the_skips_are_written_where_skip_report_file_says(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    # scripts/run_tests.py (make test) counts from it the tests a missing server kept from running.
    report = pytester.path / "skips.json"
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    monkeypatch.setenv("SKIP_REPORT_FILE", str(report))
    monkeypatch.delenv("REDIS_URL", raising=False)
    run_inner(pytester, "no browser installed")
    assert sorted(map(tuple, json.loads(report.read_text()))) == [
        (
            "test_the_skips_are_written_where_skip_report_file_says.py::test_other",
            "no browser installed",
        ),
        (
            "test_the_skips_are_written_where_skip_report_file_says.py::test_redis_only",
            "needs Redis (REDIS_URL)",
        ),
    ]
