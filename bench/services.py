"""Throwaway PostgreSQL, Redis, gunicorn and Celery processes for the fault suite (and any harness).

Each server runs on its own spare loopback port out of a temporary directory, so a harness
may stop, kill, freeze and restart it at will without touching the machine's shared
servers (``127.0.0.1:5432`` and ``:6379`` stay as they are). ``Stack`` owns all three
and tears everything down on exit, on an exception and on SIGINT/SIGTERM.

- ``PostgresServer``: ``initdb`` into a fresh directory (as the ``postgres`` user when run
  as root: the server refuses to run as root), trust authentication, listening on
  127.0.0.1 only. ``fsync=off`` speeds it up; ``synchronous_commit`` stays on, so a
  commit the service acknowledged survives a crash of the server process (the kernel
  keeps the WAL it was handed).
- ``RedisServer``: no persistence, so a killed and restarted Redis comes back empty.
  ``freeze``/``thaw`` (SIGSTOP/SIGCONT) make it unreachable while keeping its data: the
  hard case, where entries written before the outage are still there after it.
- ``Gunicorn``: the real service with ``gunicorn.conf.py`` and the given environment; its
  output goes to a log file the harness can quote when something fails.
- ``CeleryWorker``, ``CeleryBeat``: the service's Celery worker (prefork, as in
  production; SIGKILL goes to its process group, so every delivery it is making is cut
  off) and beat, with the gunicorn server's environment (Redis as the broker).

Only processes started here are ever signalled, by the pid (or the process group of a
Celery worker) they were started with.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
LOOPBACK = "127.0.0.1"


class ServiceError(RuntimeError):
    """A throwaway server could not be started or did not become ready in time."""


# --- small helpers -------------------------------------------------------------------------

# The first port each throwaway server tries (the next free one within 100 is taken when it
# is busy); FAULTS_PG_PORT, FAULTS_REDIS_PORT and FAULTS_HTTP_PORT override them, so two
# runs on one machine (CI and a developer, two worktrees) can keep apart.
DEFAULT_PG_PORT = 55432
DEFAULT_REDIS_PORT = 56379
DEFAULT_HTTP_PORT = 58000
HIGHEST_PORT = 65535  # a TCP port number is 16 bits


def env_port(name: str, default: int) -> int:
    """A TCP port from the environment variable ``name``; ``default`` when unset or empty."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        port = int(raw)
    except ValueError:
        port = 0
    if not 1 <= port <= HIGHEST_PORT:
        raise ServiceError(f"{name} must be a TCP port (1-65535), got {raw!r}")
    return port


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((LOOPBACK, port))
        except OSError:
            return False
    return True


def free_port(preferred: int) -> int:
    """``preferred`` if nothing listens there, else the next free one within 100 ports."""
    for port in range(preferred, preferred + 100):
        if port_is_free(port):
            return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def port_accepts(port: int, timeout: float = 0.2) -> bool:
    try:
        with socket.create_connection((LOOPBACK, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_until(predicate: Any, *, timeout: float, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _find_pg_bin() -> Path:
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), reverse=True)
    if candidates:
        return candidates[0].parent
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).resolve().parent
    raise ServiceError("PostgreSQL server binaries (pg_ctl, initdb) not found")


# --- PostgreSQL ----------------------------------------------------------------------------


class PostgresServer:
    """A private PostgreSQL cluster on ``port`` in ``base / "pg"``."""

    def __init__(self, base: Path, port: int) -> None:
        self.port = port
        self.bin = _find_pg_bin()
        self.root = base / "pg"
        self.data = self.root / "data"
        self.sockets = self.root / "sock"
        self.log = self.root / "server.log"
        self._as_postgres = os.geteuid() == 0

    def _run(self, *args: str, timeout: float = 60, check: bool = True) -> str:
        cmd = [str(self.bin / args[0]), *args[1:]]
        if self._as_postgres:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout, check=False, cwd="/"
        )
        if check and proc.returncode != 0:
            raise ServiceError(f"{args[0]} failed ({proc.returncode}): {proc.stderr.strip()}")
        return proc.stdout

    def init(self) -> None:
        self.root.mkdir(parents=True)
        self.sockets.mkdir()
        if self._as_postgres:
            pw = pwd.getpwnam("postgres")
            for path in (self.root, self.sockets):
                os.chown(path, pw.pw_uid, pw.pw_gid)
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
            timeout=120,
        )

    def start(self, timeout: float = 30) -> None:
        options = (
            f"-p {self.port} -k {self.sockets} -c listen_addresses={LOOPBACK} "
            "-c fsync=off -c full_page_writes=off -c max_connections=200 "
            "-c shared_buffers=64MB"
        )
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-l",
            str(self.log),
            "-o",
            options,
            "-w",
            "-t",
            str(int(timeout)),
            "start",
            timeout=timeout + 10,
        )
        if not wait_until(self.ready, timeout=timeout):
            raise ServiceError(f"PostgreSQL not ready on {self.port}:\n{tail(self.log)}")

    def stop(self, mode: str = "fast", timeout: float = 30) -> None:
        """``mode``: smart, fast (disconnect clients) or immediate (crash, recovery on start)."""
        if not self.running():
            return
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-m",
            mode,
            "-w",
            "-t",
            str(int(timeout)),
            "stop",
            timeout=timeout + 10,
            check=False,
        )
        if self.running():
            self._kill_postmaster()

    def restart(self, mode: str = "fast") -> None:
        self.stop(mode)
        self.start()

    def postmaster_pid(self) -> int | None:
        try:
            return int((self.data / "postmaster.pid").read_text().splitlines()[0])
        except (OSError, ValueError, IndexError):
            return None

    def running(self) -> bool:
        pid = self.postmaster_pid()
        return pid is not None and pid_alive(pid)

    def _kill_postmaster(self) -> None:
        pid = self.postmaster_pid()
        if pid is not None and pid_alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            wait_until(lambda: not pid_alive(pid), timeout=10)

    def ready(self) -> bool:
        proc = subprocess.run(
            [str(self.bin / "pg_isready"), "-q", "-h", LOOPBACK, "-p", str(self.port)],
            check=False,
            timeout=10,
        )
        return proc.returncode == 0

    def url(self, dbname: str) -> str:
        return f"postgres://postgres@{LOOPBACK}:{self.port}/{dbname}"

    def create_database(self, dbname: str) -> None:
        self._run("createdb", "-h", LOOPBACK, "-p", str(self.port), "-U", "postgres", dbname)

    def destroy(self) -> None:
        with contextlib.suppress(Exception):
            self.stop("immediate", timeout=10)
        self._kill_postmaster()


# --- Redis ---------------------------------------------------------------------------------


class RedisServer:
    """A private Redis without persistence on ``port``."""

    def __init__(self, base: Path, port: int) -> None:
        self.port = port
        self.root = base / "redis"
        self.pidfile = self.root / "redis.pid"
        self.log = self.root / "redis.log"
        self._pid: int | None = None
        self.frozen = False

    def start(self, timeout: float = 10) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            self.pidfile.unlink()
        binary = shutil.which("redis-server")
        if binary is None:
            raise ServiceError("redis-server not found")
        subprocess.run(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                LOOPBACK,
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "yes",
                "--pidfile",
                str(self.pidfile),
                "--logfile",
                str(self.log),
                "--dir",
                str(self.root),
            ],
            check=True,
            timeout=timeout,
            capture_output=True,
        )
        if not wait_until(lambda: self.pidfile.exists() and self.ping(), timeout=timeout):
            raise ServiceError(f"Redis not ready on {self.port}:\n{tail(self.log)}")
        self._pid = int(self.pidfile.read_text().strip())
        self.frozen = False

    def ping(self) -> bool:
        try:
            with socket.create_connection((LOOPBACK, self.port), timeout=0.5) as sock:
                sock.settimeout(0.5)
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def command(self, *args: str) -> Any:
        import redis

        client = redis.Redis(host=LOOPBACK, port=self.port, socket_timeout=5)
        try:
            return client.execute_command(*args)
        finally:
            client.close()

    def kill(self) -> None:
        """The process dies at once (SIGKILL): everything in memory is gone."""
        pid = self._pid
        if pid is None:
            return
        if self.frozen:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        wait_until(lambda: not pid_alive(pid) and not port_accepts(self.port), timeout=10)
        self._pid = None
        self.frozen = False

    def freeze(self) -> None:
        """Unreachable but alive (SIGSTOP): connections hang, data is kept."""
        if self._pid is not None:
            os.kill(self._pid, signal.SIGSTOP)
            self.frozen = True

    def thaw(self) -> None:
        if self._pid is not None and self.frozen:
            os.kill(self._pid, signal.SIGCONT)
            self.frozen = False

    def url(self, db: int = 0) -> str:
        return f"redis://{LOOPBACK}:{self.port}/{db}"

    def destroy(self) -> None:
        self.kill()


# --- the service's own processes ----------------------------------------------------------


class ServiceProcess:
    """A process of the service (gunicorn, a Celery worker or beat) started from the
    repository with ``env`` over this one's, in a session of its own (``stop`` and ``kill``
    end its process group: gunicorn's or a prefork pool's children go with it), its output
    appended to ``<base>/<name>/server.log`` (the fault suite searches those logs)."""

    stop_timeout = 15.0  # seconds between SIGTERM and SIGKILL

    def __init__(self, base: Path, env: dict[str, str], name: str) -> None:
        self.env = env
        self.name = name
        self.root = base / name
        self.log = self.root / "server.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self._log_handle: Any = None

    def spawn(self, command: list[str], env: dict[str, str]) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self._log_handle = self.log.open("ab")
        self.proc = subprocess.Popen(
            command,
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log_handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def kill(self) -> None:
        """SIGKILL, at once: whatever it was doing is cut off mid-way."""
        self.stop(timeout=0)

    def stop(self, timeout: float | None = None) -> None:
        end_process_group(self.proc, self.stop_timeout if timeout is None else timeout)
        if self._log_handle is not None:
            self._log_handle.close()
            self._log_handle = None

    def destroy(self) -> None:
        self.stop()


# --- gunicorn ------------------------------------------------------------------------------


class Gunicorn(ServiceProcess):
    """The service under gunicorn (``gunicorn.conf.py`` when present) on ``port``."""

    def __init__(self, base: Path, port: int, env: dict[str, str], name: str = "gunicorn"):
        super().__init__(base, env, name)
        self.port = port

    @property
    def base_url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def command(self) -> list[str]:
        gunicorn = Path(sys.executable).parent / "gunicorn"
        cmd = [str(gunicorn) if gunicorn.exists() else "gunicorn"]
        conf = REPO_ROOT / "gunicorn.conf.py"
        if conf.exists():
            cmd += ["-c", str(conf)]
        else:
            cmd += ["--worker-class", "gthread", "--workers", "2", "--threads", "4"]
        # A control socket of its own: the default path is shared by every gunicorn on the host.
        cmd += ["--control-socket", str(self.root / "gunicorn.ctl")]
        cmd += ["--bind", f"{LOOPBACK}:{self.port}", "license_service.wsgi:application"]
        return cmd

    def start(self, timeout: float = 60) -> None:
        metrics_dir = self.root / "prometheus"
        metrics_dir.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            **self.env,
            "GUNICORN_BIND": f"{LOOPBACK}:{self.port}",
            "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
        }
        self.spawn(self.command(), env)
        if not wait_until(self._healthy, timeout=timeout, interval=0.1):
            log = tail(self.log, 40)
            self.stop()
            raise ServiceError(f"gunicorn did not answer /healthz on {self.port}:\n{log}")

    def _healthy(self) -> bool:
        if self.proc is None or self.proc.poll() is not None:
            raise ServiceError(f"gunicorn exited at start:\n{tail(self.log, 40)}")
        try:
            with socket.create_connection((LOOPBACK, self.port), timeout=1) as sock:
                sock.settimeout(2)
                sock.sendall(
                    b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
                )
                return sock.recv(64).startswith(b"HTTP/1.1 200")
        except OSError:
            return False

    def stop(self, timeout: float | None = None) -> None:
        super().stop(timeout)
        self.proc = None


def end_process_group(proc: subprocess.Popen[bytes] | None, timeout: float) -> None:
    """End a process started in a session of its own, with everything it started: SIGTERM
    to its group, then SIGKILL if it is still there after ``timeout`` seconds (0: SIGKILL
    at once)."""
    if proc is None or proc.poll() is not None:
        return
    if timeout > 0:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
            return
        except subprocess.TimeoutExpired:
            pass
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)


# --- Celery -------------------------------------------------------------------------------


class CeleryProcess(ServiceProcess):
    """A Celery worker or beat of the service (``celery -A license_service …``)."""

    kind = ""  # "worker" or "beat"
    stop_timeout = 20.0

    def __init__(self, base: Path, env: dict[str, str], name: str) -> None:
        super().__init__(base, env, name)
        self._offset = 0  # where this start's lines begin in the log

    def arguments(self) -> list[str]:
        raise NotImplementedError

    def ready_marker(self) -> str:
        raise NotImplementedError

    def start(self, timeout: float = 60) -> None:
        self.launch()
        self.wait_ready(timeout)

    def launch(self) -> None:
        """Start the process without waiting (``wait_ready``): several start at once."""
        self._offset = self.log.stat().st_size if self.log.exists() else 0
        self.spawn(
            [sys.executable, "-m", "celery", "--app", "license_service", *self.arguments()],
            {**os.environ, **self.env},
        )

    def wait_ready(self, timeout: float = 60) -> None:
        def ready() -> bool:
            if self.proc is None or self.proc.poll() is not None:
                raise ServiceError(f"celery {self.kind} exited at start:\n{tail(self.log, 40)}")
            with self.log.open("rb") as handle:
                handle.seek(self._offset)
                return self.ready_marker().encode() in handle.read()

        if not wait_until(ready, timeout=timeout, interval=0.1):
            log = tail(self.log, 40)
            self.stop()
            raise ServiceError(f"celery {self.kind} {self.name} not ready:\n{log}")

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None and self.proc.poll() is None else None

    def running(self) -> bool:
        return self.pid is not None


class CeleryWorker(CeleryProcess):
    """``celery worker`` with the given pool (prefork by default, as in production) and
    ``concurrency``. ``kill`` signals its process group: the main process and its pool."""

    kind = "worker"

    def __init__(
        self,
        base: Path,
        env: dict[str, str],
        name: str,
        concurrency: int = 4,
        pool: str = "prefork",
    ):
        super().__init__(base, env, name)
        self.concurrency = concurrency
        self.pool = pool

    def arguments(self) -> list[str]:
        return [
            "worker",
            "--pool",
            self.pool,
            "--concurrency",
            str(self.concurrency),
            "--hostname",
            f"{self.name}@%h",
            "--without-gossip",
            "--without-mingle",
            "--loglevel",
            "INFO",
        ]

    def ready_marker(self) -> str:
        return " ready."


class CeleryBeat(CeleryProcess):
    """``celery beat``: the schedule (CELERY_BEAT_SCHEDULE), its state file in its folder."""

    kind = "beat"

    def arguments(self) -> list[str]:
        return [
            "beat",
            "--schedule",
            str(self.root / "celerybeat-schedule"),
            "--loglevel",
            "INFO",
        ]

    def ready_marker(self) -> str:
        return "beat: Starting"


# --- the stack -----------------------------------------------------------------------------


class Stack:
    """PostgreSQL + Redis in a temporary directory, and the gunicorn servers started on them.

    Use as a context manager: everything is torn down on the way out, including on
    KeyboardInterrupt and SIGTERM (turned into SystemExit while the stack is up).
    """

    def __init__(
        self,
        *,
        pg_port: int | None = None,
        redis_port: int | None = None,
        http_port: int | None = None,
        dbname: str = "faults",
        keep: bool = False,
    ) -> None:
        pg_port = pg_port or env_port("FAULTS_PG_PORT", DEFAULT_PG_PORT)
        redis_port = redis_port or env_port("FAULTS_REDIS_PORT", DEFAULT_REDIS_PORT)
        http_port = http_port or env_port("FAULTS_HTTP_PORT", DEFAULT_HTTP_PORT)
        self.base = Path(tempfile.mkdtemp(prefix="license-faults-"))
        # The postgres user must be able to reach its directory below this one.
        self.base.chmod(0o755)
        self.keep = keep
        self.dbname = dbname
        self.postgres = PostgresServer(self.base, free_port(pg_port))
        self.redis = RedisServer(self.base, free_port(redis_port))
        self.http_port = http_port  # where servers start looking for a free port
        self.servers: list[Gunicorn] = []
        self.celery: list[CeleryProcess] = []
        self._previous_sigterm: Any = None

    @property
    def database_url(self) -> str:
        return self.postgres.url(self.dbname)

    @property
    def redis_url(self) -> str:
        return self.redis.url(0)

    def start(self) -> None:
        self.postgres.init()
        self.postgres.start()
        self.postgres.create_database(self.dbname)
        self.redis.start()

    def gunicorn(self, env: dict[str, str], name: str = "gunicorn") -> Gunicorn:
        """Start a server (not yet started ones are not tracked) and return it."""
        server = Gunicorn(self.base, free_port(self.http_port), env, name=name)
        self.servers.append(server)
        server.start()
        return server

    def stop_server(self, server: Gunicorn) -> None:
        server.stop()
        if server in self.servers:
            self.servers.remove(server)

    def celery_worker(
        self, env: dict[str, str], name: str, concurrency: int = 4, *, wait: bool = True
    ) -> CeleryWorker:
        """Start a Celery worker (tracked: stopped with the stack) and return it; with
        ``wait=False`` the caller calls its ``wait_ready``."""
        worker = CeleryWorker(self.base, env, name, concurrency)
        self.celery.append(worker)
        worker.launch()
        if wait:
            worker.wait_ready()
        return worker

    def celery_beat(
        self, env: dict[str, str], name: str = "beat", *, wait: bool = True
    ) -> CeleryBeat:
        beat = CeleryBeat(self.base, env, name)
        self.celery.append(beat)
        beat.launch()
        if wait:
            beat.wait_ready()
        return beat

    def stop_celery(self) -> None:
        """Stop every Celery process started here (beat first: no new work)."""
        for process in sorted(self.celery, key=lambda p: p.kind != "beat"):
            with contextlib.suppress(Exception):
                process.stop()
        self.celery.clear()

    def destroy(self) -> None:
        self.stop_celery()
        for server in reversed(self.servers):
            with contextlib.suppress(Exception):
                server.destroy()
        self.servers.clear()
        with contextlib.suppress(Exception):
            self.redis.destroy()
        with contextlib.suppress(Exception):
            self.postgres.destroy()
        if not self.keep:
            shutil.rmtree(self.base, ignore_errors=True)

    def __enter__(self) -> Stack:
        def _terminate(signum: int, frame: Any) -> None:
            raise SystemExit(128 + signum)

        self._previous_sigterm = signal.signal(signal.SIGTERM, _terminate)
        try:
            self.start()
        except BaseException:
            self.destroy()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        # A second Ctrl-C must not interrupt the teardown half-way.
        previous_int = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            self.destroy()
        finally:
            signal.signal(signal.SIGINT, previous_int)
            if self._previous_sigterm is not None:
                signal.signal(signal.SIGTERM, self._previous_sigterm)


@contextlib.contextmanager
def stack(**kwargs: Any) -> Iterator[Stack]:
    with Stack(**kwargs) as running:
        yield running
