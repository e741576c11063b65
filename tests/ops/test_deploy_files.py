"""Dockerfile, docker-compose.yml and gunicorn.conf.py.

No Docker engine runs here, so the compose file is checked for structure with PyYAML and,
when a compose client is installed (``docker compose`` v2 or ``docker-compose`` v1), with
its own ``config`` validation, which is client-side.
"""

from __future__ import annotations

import os
import runpy
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_has_database_cache_migrations_and_web(compose):
    assert set(compose["services"]) == {"db", "redis", "migrate", "web"}
    assert compose["services"]["db"]["image"].startswith("postgres:")
    assert compose["services"]["redis"]["image"].startswith("redis:")


def test_long_running_services_have_health_checks(compose):
    for name in ("db", "redis", "web"):
        assert compose["services"][name]["healthcheck"]["test"], name
    assert "/readyz" in " ".join(compose["services"]["web"]["healthcheck"]["test"])


def test_web_starts_after_migrations_and_healthy_dependencies(compose):
    services = compose["services"]
    assert services["migrate"]["depends_on"]["db"]["condition"] == "service_healthy"
    assert "migrate" in services["migrate"]["command"]
    web_deps = services["web"]["depends_on"]
    assert web_deps["migrate"]["condition"] == "service_completed_successfully"
    assert web_deps["redis"]["condition"] == "service_healthy"
    assert services["web"]["command"][:1] == ["gunicorn"]


def test_compose_runs_production_settings_with_a_required_secret(compose):
    env = compose["services"]["web"]["environment"]
    assert env["DJANGO_SETTINGS_MODULE"] == "license_service.settings.production"
    assert env["SECRET_KEY"].startswith("${SECRET_KEY:?")
    assert env["DATABASE_URL"].startswith("postgres://")
    assert env["REDIS_URL"].startswith("redis://")


def _compose_client() -> list[str] | None:
    docker = shutil.which("docker")
    if docker:
        probe = subprocess.run([docker, "compose", "version"], capture_output=True)
        if probe.returncode == 0:
            return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    return [legacy] if legacy else None


@pytest.mark.skipif(_compose_client() is None, reason="no docker compose client installed")
def test_compose_client_accepts_the_file():
    client = _compose_client()
    assert client is not None
    env = {**os.environ, "SECRET_KEY": "x" * 64}
    result = subprocess.run(
        [*client, "-f", str(ROOT / "docker-compose.yml"), "config", "--quiet"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr


def test_dockerfile_runs_gunicorn_as_an_unprivileged_user_with_a_health_check():
    dockerfile = (ROOT / "Dockerfile").read_text()
    lines = [line.strip() for line in dockerfile.splitlines() if line.strip()]
    instructions = [line.split()[0] for line in lines if not line.startswith("#")]
    assert instructions.count("FROM") == 2  # build stage, slim runtime stage
    assert "USER app" in lines
    assert any(line.startswith("HEALTHCHECK") for line in lines)
    assert "/healthz" in dockerfile
    assert lines[-1] == 'CMD ["gunicorn", "--config", "gunicorn.conf.py"]'
    assert "collectstatic" in dockerfile


def test_dockerignore_keeps_secrets_and_local_state_out_of_the_image():
    ignored = (ROOT / ".dockerignore").read_text().split()
    for entry in (".git", ".venv", "db.sqlite3*", ".env"):
        assert entry in ignored


def load_gunicorn_config(monkeypatch, **env: str) -> dict[str, Any]:
    for key in list(os.environ):
        if key.startswith("GUNICORN_") or key in ("PORT", "PROMETHEUS_MULTIPROC_DIR"):
            monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return runpy.run_path(str(ROOT / "gunicorn.conf.py"))


def test_gunicorn_uses_threaded_workers_sized_from_the_environment(monkeypatch, tmp_path):
    config = load_gunicorn_config(
        monkeypatch,
        GUNICORN_WORKERS="3",
        GUNICORN_THREADS="8",
        GUNICORN_BIND="127.0.0.1:9000",
        PROMETHEUS_MULTIPROC_DIR=str(tmp_path),
    )
    assert config["worker_class"] == "gthread"
    assert (config["workers"], config["threads"]) == (3, 8)
    assert config["bind"] == ["127.0.0.1:9000"]
    assert config["accesslog"] is None  # the app logs requests, without URLs


def test_gunicorn_defaults_and_port(monkeypatch, tmp_path):
    config = load_gunicorn_config(monkeypatch, PORT="8123", PROMETHEUS_MULTIPROC_DIR=str(tmp_path))
    assert config["bind"] == ["0.0.0.0:8123"]
    assert config["workers"] == config["usable_cpus"]()
    assert config["threads"] == 4


def test_gunicorn_runs_one_worker_per_usable_cpu(monkeypatch, tmp_path):
    config = load_gunicorn_config(monkeypatch, PROMETHEUS_MULTIPROC_DIR=str(tmp_path))
    usable_cpus = config["usable_cpus"]
    no_quota = tmp_path / "absent"
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3})
    assert usable_cpus(no_quota) == 4  # the affinity mask (taskset, cpusets)
    cpu_max = tmp_path / "cpu.max"
    cpu_max.write_text("max 100000\n")
    assert usable_cpus(cpu_max) == 4  # no quota
    cpu_max.write_text("150000 100000\n")
    assert usable_cpus(cpu_max) == 2  # a container's --cpus=1.5, rounded up
    cpu_max.write_text("800000 100000\n")
    assert usable_cpus(cpu_max) == 4  # a quota above the mask: the mask
    cpu_max.write_text("garbage\n")
    assert usable_cpus(cpu_max) == 4
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {3})
    cpu_max.write_text("10000 100000\n")
    assert usable_cpus(cpu_max) == 1  # pinned to one core, a tenth of it: one worker


def test_gunicorn_refuses_a_malformed_number(monkeypatch, tmp_path):
    with pytest.raises(SystemExit, match="GUNICORN_WORKERS"):
        load_gunicorn_config(
            monkeypatch, GUNICORN_WORKERS="many", PROMETHEUS_MULTIPROC_DIR=str(tmp_path)
        )


def test_gunicorn_prepares_the_prometheus_directory(monkeypatch, tmp_path):
    stale = tmp_path / "counter_999.db"
    stale.write_bytes(b"old run")
    config = load_gunicorn_config(monkeypatch, PROMETHEUS_MULTIPROC_DIR=str(tmp_path))
    assert os.environ["PROMETHEUS_MULTIPROC_DIR"] == str(tmp_path)
    config["on_starting"](None)
    assert not stale.exists()
    assert tmp_path.is_dir()


def test_gunicorn_builds_no_access_log_lines(monkeypatch, tmp_path):
    """The application writes the access log; gunicorn's would cost every request its
    atoms even with no handler, so its logger class turns it off."""
    config = load_gunicorn_config(monkeypatch, PROMETHEUS_MULTIPROC_DIR=str(tmp_path))
    assert config["accesslog"] is None
    logger = config["logger_class"].__new__(config["logger_class"])
    assert logger.access_log_enabled is False
    assert logger.access(None, None, {}, None) is None  # touches none of its arguments
