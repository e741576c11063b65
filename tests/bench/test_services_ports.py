"""The fault suite's throwaway servers take their first-choice ports from the environment
(FAULTS_PG_PORT, FAULTS_REDIS_PORT, FAULTS_HTTP_PORT), so two runs on one machine keep apart."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bench import services
from bench.services import ServiceError, Stack, env_port, free_port


@pytest.fixture
def stack_factory(monkeypatch):
    # The PostgreSQL binaries are only needed to start a cluster, not to plan one.
    monkeypatch.setattr(services, "_find_pg_bin", lambda: Path("/nonexistent"))
    made: list[Stack] = []

    def make() -> Stack:
        stack = Stack()
        made.append(stack)
        return stack

    yield make
    for stack in made:
        shutil.rmtree(stack.base, ignore_errors=True)


def test_the_stack_tries_the_ports_the_environment_names(monkeypatch, stack_factory):
    wanted = {
        name: free_port(port)
        for name, port in [
            ("FAULTS_PG_PORT", 45432),
            ("FAULTS_REDIS_PORT", 46379),
            ("FAULTS_HTTP_PORT", 48000),
        ]
    }
    for name, port in wanted.items():
        monkeypatch.setenv(name, str(port))
    stack = stack_factory()
    assert stack.postgres.port == wanted["FAULTS_PG_PORT"]
    assert stack.redis.port == wanted["FAULTS_REDIS_PORT"]
    assert stack.http_port == wanted["FAULTS_HTTP_PORT"]


def test_the_stack_keeps_todays_ports_by_default(monkeypatch, stack_factory):
    for name in ("FAULTS_PG_PORT", "FAULTS_REDIS_PORT", "FAULTS_HTTP_PORT"):
        monkeypatch.delenv(name, raising=False)
    stack = stack_factory()
    assert stack.postgres.port == free_port(55432)
    assert stack.redis.port == free_port(56379)
    assert stack.http_port == 58000


@pytest.mark.parametrize("raw", ["abc", "0", "70000", "-1"])
def test_a_port_variable_that_is_not_a_port_is_refused_by_name(monkeypatch, raw):
    monkeypatch.setenv("FAULTS_PG_PORT", raw)
    with pytest.raises(ServiceError, match="FAULTS_PG_PORT"):
        env_port("FAULTS_PG_PORT", 55432)


def test_an_empty_port_variable_means_the_default(monkeypatch):
    monkeypatch.setenv("FAULTS_HTTP_PORT", "")
    assert env_port("FAULTS_HTTP_PORT", 58000) == 58000
