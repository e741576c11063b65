"""gunicorn configuration: ``gunicorn -c gunicorn.conf.py license_service.wsgi``.

Threaded workers (gthread): a request spends most of its time waiting on PostgreSQL or
Redis, so a few threads per process overlap those waits while the processes use the cores.
Every number comes from the environment:

- ``GUNICORN_BIND`` (default ``0.0.0.0:8000``; ``PORT`` alone also works)
- ``GUNICORN_WORKERS`` (default: one per CPU this process may use, see ``usable_cpus``)
- ``GUNICORN_THREADS`` (default 4)
- ``GUNICORN_TIMEOUT`` (default 30 s), ``GUNICORN_GRACEFUL_TIMEOUT`` (default 30 s),
  ``GUNICORN_KEEPALIVE`` (default 5 s)
- ``GUNICORN_MAX_REQUESTS`` (default 0 = never recycle a worker)
- ``GUNICORN_LIMIT_REQUEST_LINE`` (default 8190 bytes), ``GUNICORN_LIMIT_REQUEST_FIELDS``
  (default 100 header lines)
- ``PROMETHEUS_MULTIPROC_DIR`` (default: a fresh temporary directory)

Size the database pool accordingly: each thread may hold one connection
(workers x threads per instance, plus the same again per replica alias).

Metrics: each worker is a process, so prometheus_client runs in multiprocess mode. The
directory is emptied when the master starts (stale files of a previous run would be
summed in) and every dead worker is marked so its live gauges disappear; its counters
stay, as Prometheus expects of counters.
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from gunicorn.glogging import Logger

from license_service.logging import formatter_config


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name, "")
    try:
        return int(raw) if raw else default
    except ValueError as exc:
        raise SystemExit(f"{name} must be an integer, got {raw!r}") from exc


def usable_cpus(cgroup_cpu_max: Path = Path("/sys/fs/cgroup/cpu.max")) -> int:
    """The CPUs this process may run on: its affinity mask (taskset, cpusets), capped by a
    cgroup v2 CPU quota (a container's ``--cpus``), rounded up; at least 1.

    One worker per such CPU, not more: two worker processes time-sharing one core cost
    ~25-40% more CPU per request than one (``make bench``, worker CPU times from /proc: a
    near-cache check 580-770 µs split over two workers on one core, 480 µs in one), as
    their interpreters evict each other from the core's caches. Threads overlap the waits.
    """
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cpus = os.cpu_count() or 1
    try:
        quota, period = cgroup_cpu_max.read_text().split()
        if quota != "max":
            cpus = min(cpus, math.ceil(int(quota) / int(period)))
    except (OSError, ValueError):  # no cgroup v2 quota here
        pass
    return max(1, cpus)


_port = os.environ.get("PORT", "8000")
bind = os.environ.get("GUNICORN_BIND", f"0.0.0.0:{_port}").split(",")
worker_class = "gthread"
workers = _int("GUNICORN_WORKERS", usable_cpus())
threads = _int("GUNICORN_THREADS", 4)
timeout = _int("GUNICORN_TIMEOUT", 30)
graceful_timeout = _int("GUNICORN_GRACEFUL_TIMEOUT", 30)
keepalive = _int("GUNICORN_KEEPALIVE", 5)
max_requests = _int("GUNICORN_MAX_REQUESTS", 0)
max_requests_jitter = max_requests // 10
backlog = _int("GUNICORN_BACKLOG", 2048)
# gunicorn's largest request line (its default is 4094 bytes). Every query parameter of the
# API is bounded in the OpenAPI document so that even fully percent-encoded a URL fits;
# past this gunicorn answers 414 itself, before Django (and its JSON errors) run.
limit_request_line = _int("GUNICORN_LIMIT_REQUEST_LINE", 8190)
# How many header lines gunicorn takes (its default, 100; at most 32768). Behind the nginx of
# docker-compose.yml, which bounds headers by size (4 x 8 KiB), the compose file raises it to
# 32768, so nginx's JSON 400 is the limit a client meets, never gunicorn's HTML 431.
limit_request_fields = _int("GUNICORN_LIMIT_REQUEST_FIELDS", 100)
wsgi_app = "license_service.wsgi:application"

# The application logs every request as JSON (without the URL, which may carry a license
# key); gunicorn's own access log would print the raw URL, so it stays off.
accesslog = None


class NoAccessLogLogger(Logger):  # type: ignore[misc]  # gunicorn ships no types
    """gunicorn's logger with its access log off for good. gunicorn treats any logging
    config (``logconfig_dict`` below) as a request for its access log and builds every
    request's log atoms (headers, times, a strftime) before the logger drops them: about 2%
    of a worker's time on the check path, measured with py-spy. ``access`` returns at once
    when this says no (gunicorn's own switch, read on every request)."""

    @property
    def access_log_enabled(self) -> bool:
        return False


logger_class = NoAccessLogLogger
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
# gunicorn's own lines (boot, worker exits) as the same JSON lines as the application's.
# license_service.logging imports no settings, so the master stays free of Django.
logconfig_dict: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": formatter_config()},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stdout",
            "formatter": "json",
        }
    },
    "root": {"handlers": ["console"], "level": "INFO"},
    "loggers": {
        "gunicorn.error": {"handlers": ["console"], "level": loglevel.upper(), "propagate": False},
        "gunicorn.access": {"handlers": [], "propagate": False},
    },
}
if os.path.isdir("/dev/shm"):  # noqa: S108 (worker heartbeat files: keep them off disk)
    worker_tmp_dir = "/dev/shm"  # noqa: S108 (the same: heartbeat files in memory)

# --- Prometheus multiprocess directory -----------------------------------------------------

_own_multiproc_dir = not os.environ.get("PROMETHEUS_MULTIPROC_DIR")
_multiproc_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or tempfile.mkdtemp(
    prefix="prometheus-multiproc-"
)
# Set in the master's environment, so every worker has it before importing prometheus_client.
os.environ["PROMETHEUS_MULTIPROC_DIR"] = _multiproc_dir


def on_starting(server: Any) -> None:
    path = Path(_multiproc_dir)
    if path.exists():
        for entry in path.iterdir():
            if entry.is_dir():
                shutil.rmtree(entry)
            else:
                entry.unlink()
    path.mkdir(parents=True, exist_ok=True)


def child_exit(server: Any, worker: Any) -> None:
    # prometheus_client picks its multiprocess mode when first imported, so not at the top
    # of this file, before PROMETHEUS_MULTIPROC_DIR is set above.
    from prometheus_client import multiprocess  # noqa: PLC0415 (only once the directory is set)

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]  # unannotated upstream


def on_exit(server: Any) -> None:
    if _own_multiproc_dir:
        shutil.rmtree(_multiproc_dir, ignore_errors=True)
