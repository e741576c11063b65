"""Dockerfile, docker-compose.yml, deploy/nginx (the proxy's template) and gunicorn.conf.py.

No Docker engine runs here, so the compose file is checked for structure with PyYAML and,
when a compose client is installed (``docker compose`` v2 or ``docker-compose`` v1), with
its own ``config`` validation, which is client-side.
"""

from __future__ import annotations

import json
import os
import re
import runpy
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from django.conf import settings

from license_service.api.schema import STATUS_OF
from releases.apis import MULTIPART_OVERHEAD_BYTES

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_has_database_cache_migrations_web_and_proxy(compose):
    assert set(compose["services"]) == {
        "db",
        "redis",
        "broker",
        "migrate",
        "web",
        "worker",
        "beat",
        "proxy",
    }
    assert compose["services"]["db"]["image"].startswith("postgres:")
    assert compose["services"]["redis"]["image"].startswith("redis:")


# --- the reverse proxy in front of gunicorn (SPEC §7) ---------------------------------------

TEMPLATE = ROOT / "deploy" / "nginx" / "default.conf.template"


@pytest.fixture(scope="module")
def nginx_conf() -> str:
    return TEMPLATE.read_text()


def nginx_directives(conf: str, name: str) -> list[list[str]]:
    """The arguments of every ``name ...;`` directive (comments dropped)."""
    text = "\n".join(line.split("#", 1)[0] for line in conf.splitlines())
    return [m.group(1).split() for m in re.finditer(rf"(?m)^\s*{name}\s+([^;']*);", text)]


def test_only_the_proxy_is_published_and_on_loopback_by_default(compose):
    services = compose["services"]
    published = {name for name, service in services.items() if service.get("ports")}
    assert published == {"proxy"}
    (mapping,) = services["proxy"]["ports"]
    host, _, container_port = mapping.rpartition(":")
    assert host.startswith("${BIND_ADDRESS:-127.0.0.1}:")
    assert container_port == services["proxy"]["environment"]["LS_LISTEN"]
    assert services["web"]["expose"] == ["8000"]


def test_the_proxy_is_the_official_nginx_image_pinned_by_version(compose):
    assert re.fullmatch(r"nginx:\d+\.\d+\.\d+(-alpine)?", compose["services"]["proxy"]["image"])


def test_the_proxy_renders_the_committed_template_for_the_web_service(compose, nginx_conf):
    proxy = compose["services"]["proxy"]
    source, target, *_ = proxy["volumes"][0].split(":")
    assert (ROOT / source).resolve() == TEMPLATE
    assert target == "/etc/nginx/templates/default.conf.template"  # the image renders it
    env = proxy["environment"]
    assert env["NGINX_ENVSUBST_FILTER"] == "^LS_"
    assert set(re.findall(r"\$\{(\w+)\}", nginx_conf)) == {"LS_LISTEN", "LS_UPSTREAM"}
    assert env["LS_UPSTREAM"] == "web:8000"
    assert proxy["depends_on"]["web"]["condition"] == "service_healthy"
    assert "/healthz" in " ".join(proxy["healthcheck"]["test"])


def test_the_web_service_trusts_exactly_the_one_proxy(compose, nginx_conf):
    assert compose["services"]["web"]["environment"]["NUM_PROXIES"] == "1"
    assert compose["services"]["web"]["environment"]["GUNICORN_LIMIT_REQUEST_FIELDS"] == "32768"
    forwarded = [
        args
        for args in nginx_directives(nginx_conf, "proxy_set_header")
        if args[0] == "X-Forwarded-For"
    ]
    assert forwarded  # replaced by the address nginx saw, not appended to
    assert all(args == ["X-Forwarded-For", "$remote_addr"] for args in forwarded)


def nginx_size(value: str) -> int:
    units = {"k": 1024, "m": 1024 * 1024}
    return int(value[:-1]) * units[value[-1].lower()] if value[-1].isalpha() else int(value)


def test_the_proxy_buffers_and_times_out_slow_clients(nginx_conf):
    def one(name: str) -> list[str]:
        (args,) = nginx_directives(nginx_conf, name)
        return args

    for name in ("client_header_timeout", "client_body_timeout", "send_timeout"):
        assert 1 <= int(one(name)[0].rstrip("s")) <= 30, name
    assert int(one("keepalive_timeout")[0].rstrip("s")) <= 75
    assert one("proxy_buffering") == ["on"]
    assert one("proxy_request_buffering") == ["on"]


def test_the_proxy_limits_match_the_applications(nginx_conf, monkeypatch, tmp_path):
    # The server's limit, then the release upload location's (package + its form fields).
    body_limit, upload_limit = nginx_directives(nginx_conf, "client_max_body_size")
    assert nginx_size(body_limit[0]) == settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    assert (
        nginx_size(upload_limit[0]) == settings.RELEASE_MAX_UPLOAD_BYTES + MULTIPART_OVERHEAD_BYTES
    )
    (buffers,) = nginx_directives(nginx_conf, "large_client_header_buffers")
    # A request line nginx lets through fits gunicorn's limit (8192 bytes with its CRLF).
    gunicorn = load_gunicorn_config(monkeypatch, PROMETHEUS_MULTIPROC_DIR=str(tmp_path))
    assert nginx_size(buffers[1]) - 2 <= gunicorn["limit_request_line"]


def nginx_error_pages(conf: str) -> dict[int, tuple[int, dict[str, Any]]]:
    """nginx status -> (status answered, JSON body), following error_page to its location."""
    answers = {
        uri: (int(status), json.loads(body.encode().decode("unicode_escape")))
        for uri, status, body in re.findall(
            r"location = (\S+) \{[^}]*?return (\d+) '([^']*)';", conf, re.DOTALL
        )
    }
    pages = {}
    for args in nginx_directives(conf, "error_page"):
        *codes, equals, uri = args
        assert equals == "="
        for code in codes:
            # The server's pages (a location's own list, which follows, is tested apart).
            if uri in answers and int(code) not in pages:
                pages[int(code)] = answers[uri]
    return pages


def test_every_error_nginx_makes_itself_is_the_json_envelope(nginx_conf):
    status_of = {**STATUS_OF, "payload_too_large": 413}
    pages = nginx_error_pages(nginx_conf)
    for code in (400, 404, 408, 411, 413, 414, 494, 500, 501, 502, 503, 504, 505):
        assert code in pages, code
    # nginx's own 405 (TRACE) asks the application, which knows the URL's methods (Allow).
    (trace,) = re.findall(r"location = /\.errors/method_not_allowed \{[^}]*\}", nginx_conf)
    assert "proxy_method TRACE;" in trace
    assert "proxy_pass http://license_service$request_uri;" in trace
    for code, (status, body) in pages.items():
        assert set(body) == {"success", "error", "message", "details"}, code
        assert body["success"] is False
        assert status_of[body["error"]] == status, code
    assert pages[413][1]["details"] == {"max_bytes": 64 * 1024}
    assert pages[414][1]["error"] == "validation_error"
    assert pages[502][1]["error"] == "service_unavailable"


def test_the_release_upload_location_answers_413_with_its_own_limit(nginx_conf):
    (block,) = re.findall(r"location ~ \^/api/v1/brand/products/[^{]*\{[^}]*\}", nginx_conf)
    (uri,) = [args[-1] for args in nginx_directives(block, "error_page") if args[0] == "413"]
    (status, body) = re.findall(
        rf"location = {re.escape(uri)} \{{[^}}]*?return (\d+) '([^']*)';", nginx_conf
    )[0]
    assert int(status) == 413
    assert json.loads(body.encode().decode("unicode_escape"))["details"] == {
        "max_bytes": settings.RELEASE_MAX_UPLOAD_BYTES
    }
    # Every error the server's list answers as JSON is answered so in the location too.
    codes = {code for args in nginx_directives(block, "error_page") for code in args[:-2]}
    assert {"400", "408", "411", "413", "500", "502", "503", "504"} <= codes


def test_package_downloads_are_handed_to_an_internal_nginx_location(nginx_conf, compose):
    (block,) = re.findall(r"location /\.releases/ \{[^}]*\}", nginx_conf)
    assert "internal;" in block
    web = compose["services"]["web"]
    accel = web["environment"]["DOWNLOADS_ACCEL_REDIRECT"]
    assert block.startswith(f"location {accel} ")
    (alias,) = nginx_directives(block, "alias")
    assert "media:/app/media" in web["volumes"]
    assert "media:/app/media:ro" in compose["services"]["proxy"]["volumes"]
    assert alias == ["/app/media/releases/"]


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
    assert env["SIGNING_KEYS_SECRET"].startswith("${SIGNING_KEYS_SECRET:?")
    assert env["DATABASE_URL"].startswith("postgres://")
    assert env["REDIS_URL"].startswith("redis://")


def _compose_client() -> list[str] | None:
    docker = shutil.which("docker")
    if docker:
        probe = subprocess.run([docker, "compose", "version"], capture_output=True, check=False)
        if probe.returncode == 0:
            return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    return [legacy] if legacy else None


@pytest.mark.skipif(_compose_client() is None, reason="no docker compose client installed")
def test_compose_client_accepts_the_file():
    client = _compose_client()
    assert client is not None
    env = {**os.environ, "SECRET_KEY": "x" * 64, "SIGNING_KEYS_SECRET": "y" * 48}
    result = subprocess.run(
        [*client, "-f", str(ROOT / "docker-compose.yml"), "config", "--quiet"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
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


def test_workers_and_beat_use_a_broker_that_never_evicts(compose):
    services = compose["services"]
    for name in ("worker", "beat"):
        assert services[name]["environment"]["CELERY_BROKER_URL"] == "redis://broker:6379/0"
        assert services[name]["command"][:3] == ["celery", "--app", "license_service"]
        assert "ports" not in services[name]
    assert services["worker"]["command"][3] == "worker"
    assert services["beat"]["command"][3] == "beat"
    broker = services["broker"]["command"]
    assert broker[broker.index("--maxmemory-policy") + 1] == "noeviction"
    assert "allkeys-lru" in services["redis"]["command"]  # the cache: never the broker
