""".ci/run, run with stand-ins for make, apt-get and the service probes: which database,
Redis database and fault-suite ports each step gets."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BASH = shutil.which("bash") or "/bin/bash"
RECORDED = (
    "DATABASE_URL",
    "REDIS_URL",
    "FAULTS_PG_PORT",
    "FAULTS_REDIS_PORT",
    "FAULTS_HTTP_PORT",
    "CI",
)


# What .ci/run needs from the machine besides the tools stubbed below.
SYSTEM_TOOLS = ("dirname", "env", "ls", "seq", "sleep", "sh", "bash", "grep", "cat")
BROWSER = ("chromium", "chromedriver")
NODE = ("node", "npm")
PACKAGED_TOOLS = ("nginx", "docker-compose", "php", *BROWSER, *NODE)
# The PHP extensions the stand-in php lists (php -m) unless told otherwise.
PHP_MODULES = ("curl", "mysqli")


def run_ci(
    tmp_path: Path,
    *,
    present: tuple[str, ...] = PACKAGED_TOOLS,
    php_modules: tuple[str, ...] = PHP_MODULES,
    wordpress: bool = True,
    **env: str,
) -> list[dict[str, str]]:
    """Run a copy of .ci/run whose tools only record how they were called (of the Debian
    packages it installs, only those in ``present`` are there, PHP with ``php_modules``,
    WordPress if ``wordpress``); the make calls, each as {"target": ..., VARIABLE: value
    or "-"}."""
    repo = tmp_path / "repo"
    (repo / ".ci").mkdir(parents=True)
    (repo / "scripts").mkdir()
    shutil.copy(ROOT / ".ci" / "run", repo / ".ci" / "run")
    shutil.copy(ROOT / "scripts" / "test_tools.sh", repo / "scripts" / "test_tools.sh")
    wordpress_dir = tmp_path / "wordpress"
    wordpress_dir.mkdir()
    if wordpress:
        (wordpress_dir / "wp-settings.php").write_text("<?php\n")
    env = {"WPE2E_WORDPRESS_DIR": str(wordpress_dir), **env}
    stubs = tmp_path / "bin"
    stubs.mkdir()
    calls = tmp_path / "calls"
    record = " ".join(f'{name}="${{{name}:--}}"' for name in RECORDED)
    for tool, body in {
        "make": f'echo "make target=$1 {record}" >> {calls}',
        "apt-get": f'echo "apt-get $*" >> {calls}',
        **{tool: "exit 0" for tool in present},
        **({"php": "printf '%s\\n' " + " ".join(php_modules)} if "php" in present else {}),
        "pg_isready": "exit 0",
        "redis-cli": "exit 0",
        "mysqladmin": "exit 0",
    }.items():
        script = stubs / tool
        script.write_text(f"#!/bin/sh\n{body}\n")
        script.chmod(0o755)
    for tool in SYSTEM_TOOLS:
        found = shutil.which(tool)
        assert found, tool
        (stubs / tool).symlink_to(found)
    clean = {k: v for k, v in os.environ.items() if k not in RECORDED and not k.startswith("CI_")}
    result = subprocess.run(
        [BASH, str(repo / ".ci" / "run")],
        env={**clean, "PATH": str(stubs), **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,  # the assertion below shows stderr
    )
    assert result.returncode == 0, result.stderr
    made = []
    for line in calls.read_text().splitlines():
        words = line.split()
        if words[0] == "make":
            made.append(dict(word.split("=", 1) for word in words[1:]))
    return made


def test_ci_runs_the_postgres_suite_on_todays_database_by_default(tmp_path):
    made = run_ci(tmp_path)
    assert [call["target"] for call in made] == ["lint", "schemathesis", "faults", "test", "test"]
    embedded, postgres = made[-2], made[-1]
    assert (embedded["DATABASE_URL"], embedded["REDIS_URL"]) == ("-", "-")
    assert postgres["DATABASE_URL"] == "postgres://postgres@127.0.0.1:5432/license_service"
    assert postgres["REDIS_URL"] == "redis://127.0.0.1:6379/1"


def test_ci_takes_its_database_redis_and_fault_ports_from_the_environment(tmp_path):
    made = run_ci(
        tmp_path,
        CI_DATABASE_URL="postgres://postgres@127.0.0.1:5432/ci_other",
        CI_REDIS_URL="redis://127.0.0.1:6379/9",
        FAULTS_PG_PORT="45432",
        FAULTS_REDIS_PORT="46379",
        FAULTS_HTTP_PORT="48000",
    )
    postgres = made[-1]
    assert postgres["DATABASE_URL"] == "postgres://postgres@127.0.0.1:5432/ci_other"
    assert postgres["REDIS_URL"] == "redis://127.0.0.1:6379/9"
    faults = next(call for call in made if call["target"] == "faults")
    assert (faults["FAULTS_PG_PORT"], faults["FAULTS_REDIS_PORT"], faults["FAULTS_HTTP_PORT"]) == (
        "45432",
        "46379",
        "48000",
    )
    # Neither the schemathesis run nor the embedded suite sees the CI database.
    for call in made[1:2] + made[-2:-1]:
        assert call["DATABASE_URL"] == "-"


@pytest.mark.parametrize(
    ("present", "installed"),
    [
        (PACKAGED_TOOLS, []),
        (("docker-compose", "php", *BROWSER, *NODE), ["nginx-light"]),
        (("nginx", "php", *BROWSER, *NODE), ["docker-compose"]),
        (("nginx", "docker-compose", "php", *NODE), ["chromium", "chromium-driver"]),
        (("nginx", "docker-compose", "php", "chromium", *NODE), ["chromium-driver"]),
        (("nginx", "docker-compose", "php", *BROWSER), ["nodejs", "npm"]),
        (
            ("php",),
            ["chromium", "chromium-driver", "nodejs", "npm", "nginx-light", "docker-compose"],
        ),
    ],
)
def test_ci_installs_nginx_compose_chromium_and_node_only_when_missing(
    tmp_path, present, installed
):
    run_ci(tmp_path, present=present)
    installs = [line for line in (tmp_path / "calls").read_text().splitlines() if "install" in line]
    if not installed:
        assert installs == []
    else:
        assert installs[0].split()[-len(installed) :] == installed


@pytest.mark.parametrize(
    ("present", "php_modules", "wordpress", "installed"),
    [
        (PACKAGED_TOOLS, PHP_MODULES, False, ["wordpress"]),
        (PACKAGED_TOOLS, ("curl",), True, ["php-mysql"]),
        (
            ("nginx", "docker-compose", *BROWSER, *NODE),
            (),
            False,
            ["php-cli", "php-curl", "php-mysql", "wordpress"],
        ),
        (
            ("php", "docker-compose", *BROWSER, *NODE),
            PHP_MODULES,
            False,
            ["wordpress", "nginx-light"],
        ),
    ],
)
def test_ci_installs_wordpress_and_php_for_the_e2e_test_only_when_missing(
    tmp_path, present, php_modules, wordpress, installed
):
    run_ci(tmp_path, present=present, php_modules=php_modules, wordpress=wordpress)
    installs = [line for line in (tmp_path / "calls").read_text().splitlines() if "install" in line]
    assert installs[0].split()[-len(installed) :] == installed


def test_ci_runs_every_step_as_ci_so_an_unexpected_skip_fails_it(tmp_path):
    # make test under CI: the embedded pass alone (the server pass is CI's last step), and
    # tests/skip_report.py fails the suite on an unexpected skip.
    made = run_ci(tmp_path)
    assert {call["CI"] for call in made} == {"true"}
    made = run_ci(tmp_path / "again", CI="github")
    assert {call["CI"] for call in made} == {"github"}
