"""``make test`` (scripts/run_tests.py): which passes it runs, what it says about the ones it
could not, and its exit status. pytest is faked: each test sees the passes the runner asked
for, never a second run of the suite."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import pytest

from scripts import run_tests

DB = "postgres://postgres@127.0.0.1:5432/license_service_test"
REDIS = "redis://127.0.0.1:6379/2"
BACKEND_SKIPS = [
    ["tests/a.py::test_lock", "needs PostgreSQL row locks"],
    ["tests/b.py::test_near", "needs Redis (REDIS_URL)"],
    ["tests/b.py::test_budget", "needs Redis (REDIS_URL)"],
]


class FakePytest:
    """Stands in for pytest: records each pass's environment, writes its skips."""

    def __init__(self, statuses: Sequence[int] = (0, 0), skips: list[list[str]] | None = None):
        self.statuses = list(statuses)
        self.skips = BACKEND_SKIPS if skips is None else skips
        self.calls: list[tuple[list[str], dict[str, str]]] = []

    def __call__(self, args: Sequence[str], env: Mapping[str, str]) -> int:
        self.calls.append((list(args), dict(env)))
        if not env.get("DATABASE_URL"):
            Path(env["SKIP_REPORT_FILE"]).write_text(json.dumps(self.skips))
        return self.statuses[len(self.calls) - 1]

    def servers(self) -> list[tuple[str | None, str | None]]:
        return [(env.get("DATABASE_URL"), env.get("REDIS_URL")) for _, env in self.calls]


def up(url: str) -> None:
    return None


def down(*dead: str):
    def prober(url: str) -> str | None:
        return f"{url} did not answer" if url in dead else None

    return prober


def run(
    environ: Mapping[str, str], fake: FakePytest, prober=up, args: Sequence[str] = ()
) -> tuple[int, str]:
    lines: list[str] = []
    status = run_tests.plan_and_run(args, environ, run=fake, prober=prober, out=lines.append)
    return status, "\n".join(lines)


def test_without_urls_the_suite_runs_embedded_then_on_the_servers_that_answer():
    fake = FakePytest()
    status, out = run({"PATH": "/bin"}, fake, args=["-x", "tests/ops"])
    assert status == 0
    assert fake.servers() == [(None, None), (DB, REDIS)]
    assert [args for args, _ in fake.calls] == [["-x", "tests/ops"]] * 2
    assert "embedded (SQLite, in-process cache): passed" in out
    assert f"PostgreSQL + Redis ({DB}, {REDIS}): passed" in out


def test_the_second_pass_uses_test_database_url_and_test_redis_url():
    fake = FakePytest()
    environ = {
        "TEST_DATABASE_URL": "postgres://postgres@127.0.0.1:5432/lic_mine",
        "TEST_REDIS_URL": "redis://127.0.0.1:6379/4",
    }
    run(environ, fake)
    assert fake.servers()[1] == (environ["TEST_DATABASE_URL"], environ["TEST_REDIS_URL"])


def test_a_server_that_does_not_answer_is_named_with_the_count_of_tests_not_run():
    fake = FakePytest()
    status, out = run({}, fake, prober=down(REDIS))
    assert status == 0  # the embedded pass passed; the banner says what it could not cover
    assert fake.servers() == [(None, None)]
    assert "3 PostgreSQL/Redis tests were NOT RUN" in out
    assert f"{REDIS} did not answer" in out
    assert DB + " did not answer" not in out
    assert f"PostgreSQL + Redis ({DB}, {REDIS}): NOT RUN ({REDIS} did not answer)" in out


def test_under_ci_without_urls_only_the_embedded_pass_runs():
    fake = FakePytest()
    status, out = run({"CI": "true"}, fake, prober=down(DB, REDIS))
    assert status == 0
    assert fake.servers() == [(None, None)]
    assert "NOT RUN (CI runs it as its own step)" in out
    assert "did not answer" not in out


@pytest.mark.parametrize("ci", [{"CI": "true"}, {}])
def test_with_urls_one_pass_runs_against_them(ci):
    fake = FakePytest()
    environ = {**ci, "DATABASE_URL": "postgres://u:pw@127.0.0.1/x", "REDIS_URL": REDIS}
    status, out = run(environ, fake)
    assert status == 0
    assert fake.servers() == [(environ["DATABASE_URL"], REDIS)]
    assert "pw" not in out  # a password is never printed
    assert "postgres://u:***@127.0.0.1/x" in out


@pytest.mark.parametrize("ci", [{"CI": "true"}, {}])
def test_a_server_pass_whose_server_does_not_answer_fails_and_never_skips(ci):
    fake = FakePytest()
    environ = {**ci, "DATABASE_URL": DB, "REDIS_URL": REDIS}
    status, out = run(environ, fake, prober=down(DB))
    assert status != 0
    assert fake.calls == []
    assert "SERVER PASS FAILED" in out
    assert f"{DB} did not answer" in out
    assert f"FAILED ({DB} did not answer)" in out  # not "pytest exit": pytest never ran


@pytest.mark.parametrize(("statuses", "expected"), [((1, 0), 1), ((0, 2), 2), ((1, 2), 1)])
def test_any_failed_pass_fails_the_run(statuses, expected):
    fake = FakePytest(statuses)
    status, out = run({}, fake)
    assert status == expected
    assert len(fake.calls) == 2  # a failed embedded pass does not hide the server pass
    assert "FAILED (pytest exit" in out


# --- the probe, for real ------------------------------------------------------------------


@pytest.fixture
def dead_port() -> int:
    """A port where nothing listens (bound, then closed)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def fake_redis() -> Iterator[int]:
    """A listener that answers one PING as Redis does."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()

    def serve() -> None:
        conn, _ = server.accept()
        with conn:
            conn.recv(64)
            conn.sendall(b"+PONG\r\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield int(server.getsockname()[1])
    thread.join(timeout=5)
    server.close()


def test_the_probe_names_a_server_that_does_not_answer(dead_port):
    why = run_tests.probe(f"postgres://postgres:secret@127.0.0.1:{dead_port}/x", timeout=0.5)
    assert why == (
        f"PostgreSQL at 127.0.0.1:{dead_port} did not answer "
        f"(postgres://postgres:***@127.0.0.1:{dead_port}/x)"
    )
    why = run_tests.probe(f"redis://127.0.0.1:{dead_port}/2", timeout=0.5)
    assert why is not None
    assert why.startswith(f"Redis at 127.0.0.1:{dead_port} did not answer")


def test_the_probe_accepts_a_redis_that_answers(fake_redis):
    assert run_tests.probe(f"redis://127.0.0.1:{fake_redis}/15", timeout=2) is None


@pytest.mark.parametrize("db", ["16", "99", "x"])
def test_the_probe_refuses_a_redis_database_that_cannot_exist(db):
    why = run_tests.probe(f"redis://127.0.0.1:6379/{db}")
    assert why is not None
    assert "does not exist (0-15)" in why


def test_the_makefile_test_target_runs_the_runner():
    makefile = (Path(run_tests.ROOT) / "Makefile").read_text()
    recipe = [line.strip() for line in makefile.split("\ntest: ", 1)[1].splitlines()[1:3]]
    # The Debian packages some tests need are installed first (test-tools), then the runner.
    prerequisites = makefile.split("\ntest: ", 1)[1].splitlines()[0].split()
    assert prerequisites[:2] == ["$(STAMP)", "test-tools"]
    assert recipe[0] == "$(BIN)/python scripts/run_tests.py $(ARGS)"
