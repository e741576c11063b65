"""The real server for the tests that need one: gunicorn with gunicorn.conf.py and the
production settings on a free loopback port, a SQLite database of the test's own, no
Redis (the embedded defaults), stopped when the test is done."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def production_env(tmp_path: Path, port: int, **extra: str) -> dict[str, str]:
    """The environment of a production server on ``port`` with its files in ``tmp_path``
    (database, prometheus multiprocess directory, made here); ``extra`` overrides."""
    multiproc = tmp_path / "prometheus"
    multiproc.mkdir(exist_ok=True)
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "license_service.settings.production",
        "SECRET_KEY": secrets.token_urlsafe(64),
        "SIGNING_KEYS_SECRET": secrets.token_urlsafe(48),
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "false",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "PROMETHEUS_MULTIPROC_DIR": str(multiproc),
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "GUNICORN_WORKERS": "1",
        "LOG_REQUESTS": "false",
        **extra,
    }
    env.pop("REDIS_URL", None)
    return env


@contextmanager
def gunicorn_serving(env: dict[str, str], tmp_path: Path) -> Iterator[str]:
    """gunicorn started with ``env`` (``production_env``), once its /healthz answers: its
    base URL. Its output goes to tmp_path/gunicorn.log, whose tail fails the test if it
    does not come up within 30 s."""
    log_path = tmp_path / "gunicorn.log"
    port = env["GUNICORN_BIND"].rpartition(":")[2]
    base = f"http://127.0.0.1:{port}"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 30
            while not _serving(base):
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(log_path.read_text()[-3000:])
                time.sleep(0.1)
            yield base
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()


def _serving(base: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base}/healthz", timeout=2) as response:  # noqa: S310 (loopback)
            return bool(response.status == 200)
    except OSError:
        return False
