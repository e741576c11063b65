"""``make test``: the suite on every backend that answers, and loudly what did not run.

- ``DATABASE_URL`` or ``REDIS_URL`` set: one pass against them. Those servers must answer:
  if one does not, the run fails before pytest starts (a pass asked for is never skipped).
- Neither set: a pass on the embedded defaults (SQLite, the in-process cache). Then, unless
  ``CI`` is set (CI runs its server pass itself, ``.ci/run``), PostgreSQL and Redis are
  probed at ``TEST_DATABASE_URL`` / ``TEST_REDIS_URL`` (defaults below); if both answer the
  suite runs a second time against them, and if not a banner names the server that did not
  answer and how many tests were therefore not run.

The summary at the end says which passes ran and how each ended; the exit status is
non-zero when any pass failed. Arguments are handed to pytest (``make test ARGS="-x"``).
Redis: only databases 0-15 exist, and the suite clears the one it is given (FLUSHDB, never
FLUSHALL): give it one nobody else uses.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/license_service_test"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/2"
PROBE_TIMEOUT = 1.0
REDIS_DATABASES = range(16)
BACKEND_SKIP_PREFIXES = ("needs PostgreSQL", "needs Redis")
SERVER_VARIABLES = ("DATABASE_URL", "REDIS_URL")
ROOT = Path(__file__).resolve().parents[1]

Runner = Callable[[Sequence[str], Mapping[str, str]], int]
Prober = Callable[[str], str | None]


@dataclass
class Pass:
    name: str
    env: dict[str, str]
    status: int | None = None  # None: not run
    note: str = ""
    skips: list[tuple[str, str]] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        if self.status is None:
            return f"NOT RUN ({self.note})" if self.note else "NOT RUN"
        if self.status == 0:
            return "passed"
        return f"FAILED ({self.note})" if self.note else f"FAILED (pytest exit {self.status})"


def shown(url: str) -> str:
    """A server URL as it may be printed: without its password."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return urlunsplit(parts._replace(netloc=netloc))


def _answers(host: str, port: int, hello: bytes, timeout: float) -> bool:
    """Whether a server accepts a connection on ``host:port`` (and replies to ``hello``)."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            if not hello:
                return True
            sock.sendall(hello)
            return bool(sock.recv(64))
    except OSError:
        return False


def probe(url: str, timeout: float = PROBE_TIMEOUT) -> str | None:
    """None when the server at ``url`` answers, else why not (one line)."""
    parts = urlsplit(url)
    host = parts.hostname or "127.0.0.1"
    try:
        port = parts.port
    except ValueError:
        return f"{shown(url)}: not a valid port"
    if parts.scheme in ("redis", "rediss"):
        db = (parts.path or "/0").lstrip("/") or "0"
        if not db.isdigit() or int(db) not in REDIS_DATABASES:
            return f"{shown(url)}: Redis database {db!r} does not exist (0-15)"
        # Any reply will do: an AUTH-protected Redis answers PING with -NOAUTH.
        ok = _answers(host, port or 6379, b"PING\r\n", timeout)
        server = "Redis"
    elif parts.scheme in ("postgres", "postgresql", "pgsql"):
        ok = _answers(host, port or 5432, b"", timeout)
        server = "PostgreSQL"
    else:
        return f"{shown(url)}: not a PostgreSQL or Redis URL"
    return None if ok else f"{server} at {host}:{port} did not answer ({shown(url)})"


def _pytest(args: Sequence[str], env: Mapping[str, str]) -> int:
    return subprocess.run(
        [sys.executable, "-m", "pytest", *args], env=dict(env), cwd=ROOT, check=False
    ).returncode


def _run(pass_: Pass, args: Sequence[str], run: Runner) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "skips.json"
        pass_.status = run(args, {**pass_.env, "SKIP_REPORT_FILE": str(report)})
        if report.exists():
            pass_.skips = [tuple(skip) for skip in json.loads(report.read_text())]


def backend_skips(skips: list[tuple[str, str]]) -> int:
    return sum(reason.startswith(BACKEND_SKIP_PREFIXES) for _, reason in skips)


def banner(lines: list[str]) -> str:
    width = max(len(line) for line in lines) + 4
    bar = "!" * width
    return "\n".join([bar, *(f"! {line.ljust(width - 4)} !" for line in lines), bar])


def plan_and_run(
    args: Sequence[str],
    environ: Mapping[str, str],
    *,
    run: Runner = _pytest,
    prober: Prober = probe,
    out: Callable[[str], None] = print,
) -> int:
    """Run the passes ``environ`` calls for; the exit status of the whole."""
    passes: list[Pass] = []
    given = {name: environ[name] for name in SERVER_VARIABLES if environ.get(name)}
    if given:
        servers = Pass(
            f"servers ({', '.join(shown(url) for url in given.values())})", dict(environ)
        )
        passes.append(servers)
        down = [why for why in map(prober, given.values()) if why]
        if down:
            servers.status = 1
            servers.note = "; ".join(down)
            out(banner(["SERVER PASS FAILED: a server it was given did not answer", *down]))
        else:
            _run(servers, args, run)
    else:
        embedded_env = {k: v for k, v in environ.items() if k not in SERVER_VARIABLES}
        embedded = Pass("embedded (SQLite, in-process cache)", embedded_env)
        passes.append(embedded)
        _run(embedded, args, run)
        database_url = environ.get("TEST_DATABASE_URL") or DEFAULT_DATABASE_URL
        redis_url = environ.get("TEST_REDIS_URL") or DEFAULT_REDIS_URL
        servers = Pass(
            f"PostgreSQL + Redis ({shown(database_url)}, {shown(redis_url)})",
            {**embedded_env, "DATABASE_URL": database_url, "REDIS_URL": redis_url},
        )
        passes.append(servers)
        if environ.get("CI"):
            servers.note = "CI runs it as its own step"
        else:
            down = [why for why in (prober(database_url), prober(redis_url)) if why]
            if down:
                not_run = backend_skips(embedded.skips)
                servers.note = "; ".join(down)
                out(
                    banner(
                        [
                            f"{not_run} PostgreSQL/Redis tests were NOT RUN (skipped above):",
                            *down,
                            "Start them, or point TEST_DATABASE_URL / TEST_REDIS_URL at yours.",
                        ]
                    )
                )
            else:
                _run(servers, args, run)
    out("== make test: passes")
    for pass_ in passes:
        out(f"   {pass_.name}: {pass_.verdict}")
    failed = [p.status for p in passes if p.status]
    return failed[0] if failed else 0


def main() -> int:
    return plan_and_run(sys.argv[1:], os.environ)


if __name__ == "__main__":
    sys.exit(main())
