"""``make bench``: the product API against the framework's ceiling, in one run.

Starts the service as production does (gunicorn with the repository's gunicorn.conf.py,
PostgreSQL and Redis), seeds a dedicated database in bulk, and drives it with wrk, server
and load generator pinned to different cores. Phases alternate, round after round:

  (a) bare   GET /bench/bare: a constant JSON view through the same middleware (ceiling)
  (b) hit    GET /api/v1/product/check/{key}, the answer already cached
  (b2) site_check  the same naming the key's product and a site (the read (e) makes)
  (c) miss   the same, every request a key whose answer is not cached
  (d) pairs  POST activate then POST deactivate, fresh instance each pair
  (e) edd_check    POST /edd/{brand}/ check_license, the key's answer and catalogue cached
  (f) get_version  POST /edd/{brand}/ get_version, the same

each first closed-loop (as fast as the server answers, fixed connections), then (a), (b)
and (c) again at a fixed offered rate. The dataset is then grown from the small size to
the large one and (a) and (c) are measured again. Figures are medians over the rounds; the
report (bench/results.md, bench/results.png, bench/results.json) is written from the
measurements only. See bench/README.md for the knobs; BENCH_QUICK=1 is a smoke run.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from bench import seed
from bench.config import REPO, TMP_DIR, WRK_DIR, Config, service_environment, setup_django

GUNICORN_CONF = REPO / "gunicorn.conf.py"
CACHE_METRIC = "license_check_cache_total"
WSGI_APP = "license_service.wsgi:application"


@dataclass(frozen=True)
class Phase:
    name: str
    letter: str
    title: str
    script: str
    # Served from the cache: warmed until answered in the process, PostgreSQL's counters
    # read after the warm-up, and the bare view measured again right after it.
    hot: bool = False
    action: str = ""  # the EDD action (bench/wrk/edd.lua's BENCH_EDD_ACTION)
    path: str = ""  # edd.lua's BENCH_EDD_PATH: where its forms are posted ("": /edd/<brand>/)
    site: str = ""  # check.lua's BENCH_CHECK_SITE: the check names its product and this site


BARE = Phase("bare", "a", "bare Django JSON view (ceiling)", "bare.lua")
# The ceiling of a form POST: EDD's requests, posted to a view that reads the form and answers
# a constant EDD-shaped body (reported beside the EDD phases; the targets use BARE).
BARE_FORM = Phase(
    "bare_form", "a2", "bare Django view of an EDD form POST", "edd.lua",
    action="check_license", path="/bench/bare-form/",
)  # fmt: skip
HIT = Phase("hit", "b", "check, cache hit", "check.lua", hot=True)
# The site of the EDD phases' requests, which holds no seat (bench/wrk/edd.lua).
BENCH_SITE = "bench-site.example.com"
# The product API's check of the same key, product and site as the EDD check (e): the same
# read (facts, site state, heartbeat lookup, tokens), answered in the product API's JSON,
# where (b), the plain check, is served pre-rendered. Not a target: (e)'s like-for-like.
SITE_CHECK = Phase(
    "site_check", "b2", "check naming its product and a site, cache hit", "check.lua",
    hot=True, site=BENCH_SITE,
)  # fmt: skip
MISS = Phase("miss", "c", "check, cache miss", "check.lua")
PAIRS = Phase("pairs", "d", "activate + deactivate pairs", "activate.lua")
EDD_CHECK = Phase(
    "edd_check", "e", "EDD check_license, cache hit", "edd.lua", hot=True, action="check_license"
)
GET_VERSION = Phase(
    "get_version", "f", "EDD get_version, cache hit", "edd.lua", hot=True, action="get_version"
)
PHASES = {
    p.name: p for p in (BARE, BARE_FORM, HIT, SITE_CHECK, MISS, PAIRS, EDD_CHECK, GET_VERSION)
}
# The package the download measurement fetches (issue 15: streamed with flat memory).
DOWNLOAD_BYTES = 20 * 1024 * 1024
DOWNLOAD_FETCHES = 3
# Times each hot key is asked for before a hit phase (fresh connections: with two workers
# a key misses one worker's near cache after n passes with probability 2**-n).
PRIME_PASSES = 4


def log(message: str) -> None:
    print(f"[bench {datetime.now().strftime('%H:%M:%S')}] {message}", flush=True)


# --- tools -----------------------------------------------------------------------------


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        log("wrk not found: installing Debian's package (apt-get install wrk)")
        subprocess.run(["apt-get", "update", "-qq"], check=True)
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "wrk"],
            check=True,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        )
        found = shutil.which("wrk")
    if not found:
        raise SystemExit(
            "bench: wrk is not installed. Install Debian's package as root: "
            "apt-get update && apt-get install -y wrk"
        )
    return found


def pinning_available(cfg: Config) -> bool:
    cpus = os.sched_getaffinity(0)
    wanted = {int(c) for c in (cfg.server_cpus + "," + cfg.client_cpus).split(",") if c}
    return shutil.which("taskset") is not None and wanted <= cpus and len(cpus) >= 2


def pinned(cpus: str, cmd: list[str], enabled: bool) -> list[str]:
    return ["taskset", "-c", cpus, *cmd] if enabled else cmd


@contextmanager
def affinity(cpus: set[int] | None):
    """Run this process (the harness) on these CPUs for a while."""
    before = os.sched_getaffinity(0)
    if cpus:
        os.sched_setaffinity(0, cpus)
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


# --- the server ------------------------------------------------------------------------


def gunicorn_command(cfg: Config, *extra: str) -> list[str]:
    cmd = [str(Path(sys.executable).with_name("gunicorn"))]
    if GUNICORN_CONF.exists():
        cmd += ["-c", str(GUNICORN_CONF)]
    else:
        # No production config yet: gunicorn's defaults, as plain as it gets.
        cmd += ["--workers", "2"]
    # A control socket of its own: the default path is shared by every gunicorn on the host.
    cmd += ["--control-socket", str(TMP_DIR / f"gunicorn-{cfg.port}.ctl")]
    cmd += ["--bind", f"127.0.0.1:{cfg.port}", *cfg.gunicorn_args, *extra, WSGI_APP]
    return cmd


def gunicorn_settings(cfg: Config, env: dict[str, str], pin: bool) -> dict[str, str]:
    """gunicorn's fully resolved configuration, as it would start (``--print-config``, on
    the server's CPUs: the worker count follows them)."""
    out = subprocess.run(
        pinned(cfg.server_cpus, gunicorn_command(cfg, "--print-config"), pin),
        cwd=REPO,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
    )
    wanted = (
        "workers", "threads", "worker_class", "worker_connections", "keepalive", "timeout",
        "backlog", "preload_app", "max_requests", "max_requests_jitter", "accesslog",
    )  # fmt: skip
    settings: dict[str, str] = {}
    for line in out.stdout.splitlines():
        name, sep, value = line.partition("=")
        if sep and name.strip() in wanted:
            settings[name.strip()] = value.strip()
    if out.returncode != 0:
        settings["error"] = (out.stderr or out.stdout).strip()[-500:]
    return settings


class Server:
    def __init__(self, cfg: Config, env: dict[str, str], pin: bool, name: str = "server"):
        self.cfg = cfg
        self.env = {**os.environ, **env}
        self.pin = pin
        self.url = f"http://127.0.0.1:{cfg.port}"
        self.log_path = TMP_DIR / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        TMP_DIR.mkdir(parents=True, exist_ok=True)
        cmd = pinned(self.cfg.server_cpus, gunicorn_command(self.cfg), self.pin)
        log(f"starting: {' '.join(cmd)}")
        logfile = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            cmd, cwd=REPO, env=self.env, stdout=logfile, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"bench: gunicorn exited; see {self.log_path}")
            try:
                status, _ = http(self.url + "/bench/bare")
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise SystemExit(f"bench: gunicorn did not answer within 60 s; see {self.log_path}")

    def worker_cpu(self) -> dict[int, float]:
        return worker_cpu_seconds(self.proc.pid) if self.proc is not None else {}

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)  # gunicorn's graceful shutdown
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


def http(url: str, body: object | None = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method="GET" if body is None else "POST")
    if body is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, raw = error.code, error.read()
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw


# --- measurement ------------------------------------------------------------------------


class DbCounters:
    """Per-database transaction counts and per-table scans, from PostgreSQL's statistics.
    They show, without touching the service, what a phase cost the database: on a cache
    hit no lookup at all, on a miss at least one index scan of the key table per request.

    A backend publishes its counts at most once a second while busy and up to ten seconds
    after it goes idle, but always when it exits. So a snapshot waits for the requests
    still running when wrk stopped to finish (ending a connection between two statements
    of a request answered it 503 in earlier runs, after wrk had gone), then ends the
    service's (now idle) connections to the benchmark database (pg_terminate_backend) and
    waits for them to go: the counts are then complete. Django reconnects on the next
    query, which falls in the next warm-up, or never on a cache hit.
    """

    def __init__(self, url: str):
        self.url = url
        self.own_xacts = 0  # our previous snapshot's statements, published when it closed

    def snapshot(self) -> dict[str, int]:
        import psycopg

        others = (
            "FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
        )
        with psycopg.connect(self.url, autocommit=True) as conn:
            # Killing a running request would fail it: wait for them first. A request
            # between two statements shows 'idle' too, so a connection counts as done
            # once idle for 300 ms (longer than any gap inside one request).
            statements = _wait_for_none(
                conn,
                f"SELECT count(*) {others} AND (state <> 'idle' "
                "OR state_change > clock_timestamp() - interval '300 milliseconds')",
            )
            statements += 1
            conn.execute(f"SELECT pg_terminate_backend(pid) {others}")
            statements += _wait_for_none(conn, f"SELECT count(*) {others}")
            statements += 1
            row = conn.execute(
                """
                SELECT
                  (SELECT xact_commit + xact_rollback FROM pg_stat_database
                    WHERE datname = current_database()),
                  k.idx_scan, k.seq_scan, l.idx_scan, l.seq_scan
                FROM pg_stat_user_tables k, pg_stat_user_tables l
                WHERE k.relname = 'licensing_licensekey' AND l.relname = 'licensing_license'
                """
            ).fetchone()
        assert row is not None
        names = ("xacts", "key_idx_scan", "key_seq_scan", "lic_idx_scan", "lic_seq_scan")
        counters = {name: int(value or 0) for name, value in zip(names, row, strict=True)}
        # Our own statements of the previous snapshot are in this count: not the service's.
        counters["xacts"] -= self.own_xacts
        self.own_xacts += statements
        return counters


def _wait_for_none(conn: Any, count_query: str, seconds: float = 5) -> int:
    """Run ``count_query`` every 20 ms until it counts 0 (or ``seconds`` pass); returns how
    many statements that took."""
    deadline = time.monotonic() + seconds
    statements = 0
    while time.monotonic() < deadline:
        statements += 1
        row = conn.execute(count_query).fetchone()
        if row and row[0] == 0:
            break
        time.sleep(0.02)
    return statements


def worker_cpu_seconds(master: int) -> dict[int, float]:
    """CPU time (user + system, seconds) of each child of ``master`` (gunicorn's workers),
    from /proc: what the served requests cost the pinned core, whatever else ran on it."""
    tick = os.sysconf("SC_CLK_TCK")
    seconds: dict[int, float] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:  # gone meanwhile
            continue
        fields = stat[stat.rindex(")") + 2 :].split()  # from field 3 (state) on
        if int(fields[1]) == master:
            seconds[int(entry.name)] = (int(fields[11]) + int(fields[12])) / tick
    return seconds


def server_cpu(
    before: dict[int, float], after: dict[int, float], requests: int, seconds: float
) -> dict[str, float] | None:
    """What the workers spent during a measurement: CPU per request (µs), how busy that kept
    the core (CPU seconds per second), and the busiest worker's share of it (0.5: even)."""
    spent = {pid: after[pid] - before.get(pid, 0.0) for pid in after}
    total = sum(spent.values())
    if not requests or not seconds or total <= 0:
        return None
    return {
        "us_per_request": round(total / requests * 1e6, 1),
        "busy": round(total / seconds, 3),
        "busiest_share": round(max(spent.values()) / total, 3),
    }


def metric_counts(url: str, name: str) -> dict[str, float] | None:
    """``name``'s samples from the service's /metrics, by their label values."""
    try:
        status, body = http(url + "/metrics")
    except OSError:
        return None
    if status != 200 or not isinstance(body, bytes | str):
        return None
    text = body.decode() if isinstance(body, bytes) else body
    counts: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith(name + "{"):
            labels, _, value = line[len(name) + 1 :].partition("} ")
            counts[labels] = float(value)
    return counts


class CacheFlusher:
    """During the miss phase, empties the benchmark's Redis database every ``interval``
    seconds, so a key the phase walks past again (after a whole slice of the key file)
    can never be served from the cache: every check is a real miss (GET, SQL, SET)."""

    def __init__(self, redis_url: str, interval: float):
        import redis

        self.client = redis.Redis.from_url(redis_url)
        self.interval = interval
        self.flushes = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def flush(self) -> None:
        self.client.flushdb()
        self.flushes += 1

    def __enter__(self) -> CacheFlusher:
        self.flush()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.flush()

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join()


class Bench:
    def __init__(self, cfg: Config, env: dict[str, str], wrk: str, pin: bool, server: Server):
        self.cfg = cfg
        self.env = env
        self.wrk = wrk
        self.server = server
        self.pin = pin
        self.url = server.url
        self.runs: list[dict[str, Any]] = []
        self.counters = DbCounters(cfg.database_url)
        self.flusher = CacheFlusher(cfg.redis_url, cfg.flush_interval)
        self.key_files: dict[str, Path] = {}
        self._wrk_calls = 0

    def wrk_run(self, phase: Phase, seconds: float, rate: float) -> dict[str, Any]:
        self._wrk_calls += 1
        cmd = pinned(
            self.cfg.client_cpus,
            [
                self.wrk, f"-t{self.cfg.threads}", f"-c{self.cfg.connections}",
                f"-d{max(1, round(seconds))}s", "--timeout", "10s", "-s", phase.script, self.url,
            ],
            self.pin,
        )  # fmt: skip
        env = {
            **os.environ,
            "BENCH_WRK_DIR": str(WRK_DIR),
            "BENCH_THREADS": str(self.cfg.threads),
            "BENCH_RATE": str(rate),
            "BENCH_RUN_ID": f"{os.getpid()}x{self._wrk_calls}",
            "BENCH_KEYS_FILE": str(self.key_files.get(phase.name, "")),
            "BENCH_EDD_ACTION": phase.action,
            "BENCH_EDD_PATH": phase.path,
            "BENCH_EDD_BRAND": seed.BRAND_SLUG,
            "BENCH_CHECK_SITE": phase.site,
        }
        out = subprocess.run(cmd, cwd=WRK_DIR, env=env, capture_output=True, text=True, check=False)
        for line in out.stdout.splitlines():
            if line.startswith("BENCH_JSON "):
                return json.loads(line[len("BENCH_JSON ") :])
        raise SystemExit(f"bench: wrk failed ({out.returncode}):\n{out.stdout}\n{out.stderr}")

    def prime_hot_keys(self) -> None:
        """Ask for every hot key, so that the hit phase finds them all cached (a warm-up
        alone may not reach the end of the list; a miss or pairs phase may have dropped
        them). Each key PRIME_PASSES times, each time on a fresh connection, which
        whichever worker is quicker accepts: the warm-ups that follow may all land on one
        worker (their 16 connections often do), and the other would then fill its near
        cache from Redis during the measurement (about 250 Redis hits in a phase, seen)."""
        keys = self.key_files["hit"].read_text().split() * PRIME_PASSES
        with ThreadPoolExecutor(max_workers=8) as pool:
            statuses = list(
                pool.map(lambda k: http(f"{self.url}/api/v1/product/check/{k}")[0], keys)
            )
        failed = len([s for s in statuses if s != 200])
        if failed:
            log(f"priming the hot keys: {failed} of {len(keys)} answers were not 200")

    def warm_until_served_in_process(self, rate: float, phase: Phase = HIT) -> None:
        """With the near cache on, each worker fills its own on the first checks of each
        key (and the miss phase's flushes empty it): warm up again, up to 5 times, until
        at least 99% of a warm-up's checks were answered in the process. Without a near
        cache (CHECK_NEAR_CACHE=false) nothing changes."""
        for _ in range(5):
            before = metric_counts(self.url, CACHE_METRIC) or {}
            self.wrk_run(phase, self.cfg.warmup, rate)  # not recorded
            after = metric_counts(self.url, CACHE_METRIC) or {}
            counted = {k: after[k] - before.get(k, 0) for k in after}
            total = sum(counted.values())
            near = counted.get('result="near_hit"', 0)
            if not total or not near or near >= 0.99 * total:
                return

    def measure(self, phase: Phase, *, size: int, round_: int, rate: float = 0.0) -> dict:
        """Warm up, then measure one phase. PostgreSQL's counters are read around it: for
        the hit phase after the warm-up (which fills the cache), for the others before it
        (warm-up and measurement are the same load, so the per-request figure holds). The
        service's own check-cache counters (/metrics) are read around the measurement."""
        with_db = phase is not BARE
        flushing = self.flusher if phase is MISS else None
        before: dict[str, int] | None = None
        if flushing:
            flushing.__enter__()
        try:
            if with_db and not phase.hot:
                before = self.counters.snapshot()
            if phase.hot:
                self.prime_hot_keys()
            warm = self.wrk_run(phase, self.cfg.warmup, rate)  # not recorded
            if phase.hot:
                self.warm_until_served_in_process(rate, phase)
            if with_db and phase.hot:
                before = self.counters.snapshot()
            cache_before = metric_counts(self.url, CACHE_METRIC) if with_db else None
            cpu_before = self.server.worker_cpu()
            result = self.wrk_run(phase, self.cfg.duration, rate)
            cpu_after = self.server.worker_cpu()
            cache_after = metric_counts(self.url, CACHE_METRIC) if with_db else None
        finally:
            if flushing:
                flushing.__exit__()
        db: dict[str, float] | None = None
        if before is not None:
            after = self.counters.snapshot()
            counted = max(1, result["requests"] + (0 if phase.hot else warm["requests"]))
            db = {k: round((after[k] - before[k]) / counted, 3) for k in after}
        cache_lookups = None
        if cache_before is not None and cache_after is not None:
            cache_lookups = {
                label.partition("=")[2].strip('"'): int(value - cache_before.get(label, 0))
                for label, value in cache_after.items()
                if value - cache_before.get(label, 0)
            }
        run = run_record(phase, size, round_, rate, result)
        run["db_per_request"] = db
        run["check_cache"] = cache_lookups
        seconds = run["seconds"]
        run["server_cpu"] = server_cpu(cpu_before, cpu_after, result["requests"], seconds)
        self.runs.append(run)
        log_run(phase, size, round_, rate, run)
        return run


def run_record(phase: Phase, size: int, round_: int, rate: float, result: dict) -> dict:
    """One measured run as results.json keeps it (its database, cache and CPU figures are
    added by the caller, in this order of keys)."""
    seconds = result["duration_us"] / 1e6
    pct = result["latency_us"]["percentiles"]
    return {
        "phase": phase.name,
        "size": size,
        "round": round_,
        "offered_rps": rate or None,
        "rps": result["requests"] / seconds if seconds else 0.0,
        "requests": result["requests"],
        "seconds": seconds,
        "latency_ms": {
            "p50": pct["50"] / 1000,
            "p90": pct["90"] / 1000,
            "p99": pct["99"] / 1000,
            "p99.9": pct["99.9"] / 1000,
            "mean": result["latency_us"]["mean"] / 1000,
            "max": result["latency_us"]["max"] / 1000,
        },
        "statuses": result["statuses"],
        "socket_errors": {k: v for k, v in result["errors"].items() if k != "status"},
        "extra": result.get("extra", {}),
    }


def log_run(phase: Phase, size: int, round_: int, rate: float, run: dict) -> None:
    db, cache_lookups = run["db_per_request"], run["check_cache"]
    bad = {s: n for s, n in run["statuses"].items() if not s.startswith("2")}
    log(
        f"{phase.letter} {phase.name:<5} size={size:<8} round={round_} "
        + (f"offered={rate:.0f}/s " if rate else "")
        + f"{run['rps']:8.0f} req/s  p50 {run['latency_ms']['p50']:.2f} ms"
        + f"  p99 {run['latency_ms']['p99']:.2f} ms"
        + (f"  db xacts/req {db['xacts']:.2f} key-idx/req {db['key_idx_scan']:.2f}" if db else "")
        + (f"  cache {cache_lookups}" if cache_lookups else "")
        + (
            f"  cpu {cpu['us_per_request']:.0f} µs/req busy {cpu['busy']:.2f}"
            f" busiest worker {cpu['busiest_share']:.2f}"
            if (cpu := run["server_cpu"])
            else ""
        )
        + (f"  NON-2xx {bad}" if bad else "")
    )


def grow(dataset: seed.Dataset, total: int) -> None:
    secs = seed.grow(dataset, total)
    settled = dataset.settled.get(total, 0.0)
    log(f"  {secs:.1f} s; VACUUM (FREEZE, ANALYZE), CHECKPOINT: {settled:.1f} s")


def close_django_connection() -> None:
    """Forget this process's own connection: DbCounters ends every idle connection to the
    benchmark database, this one included."""
    from django.db import connection

    connection.close()


def _short(body: object) -> object:
    return body if isinstance(body, dict) else str(body)[:200]


def probe_endpoints(url: str, dataset: seed.Dataset) -> dict[str, Any]:
    """Which product endpoints exist yet (the harness runs before they do, too)."""
    key = dataset.keys[0]
    status, body = http(f"{url}/api/v1/product/check/{key}")
    check = status == 200 and isinstance(body, dict) and body.get("success") is True
    activation_key = seed.activation_lines(dataset, 1)[0].split()
    pair = {
        "license_key": activation_key[0],
        "product_slug": activation_key[1],
        "instance_identifier": "bench-probe",
    }
    a_status, a_body = http(f"{url}/api/v1/product/activate", pair)
    d_status, d_body = http(f"{url}/api/v1/product/deactivate", pair)
    pairs = a_status == 200 and d_status == 200
    edd_body = {"edd_action": "get_version", "license": key, "item_name": dataset.product_of(0)}
    e_status, e_body = http(f"{url}/edd/{seed.BRAND_SLUG}/", edd_body)
    edd = e_status == 200 and isinstance(e_body, dict) and "sections" in e_body
    return {
        "edd": edd,
        "edd_probe": [e_status, "ok" if edd else _short(e_body)],
        "check": check,
        "check_probe": [status, "ok" if check else _short(body)],
        "pairs": pairs,
        "pairs_probe": [
            [a_status, "ok" if a_status == 200 else _short(a_body)],
            [d_status, "ok" if d_status == 200 else _short(d_body)],
        ],
    }


def explain_check_miss(dataset: seed.Dataset, redis_url: str, key: str) -> dict[str, Any]:
    """The SQL of one check miss, captured in-process, and PostgreSQL's plan for each."""
    import redis
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from bench.inprocess import application, call, stdout_to

    app = application()
    redis.Redis.from_url(redis_url).flushdb()
    with stdout_to(TMP_DIR / "explain-requests.log"):
        with CaptureQueriesContext(connection) as captured:
            status, _ = call(app, "GET", f"/api/v1/product/check/{key}")
        with CaptureQueriesContext(connection) as captured_hit:
            hit_status, _ = call(app, "GET", f"/api/v1/product/check/{key}")
    plans = []
    with connection.cursor() as cursor:
        for query in captured.captured_queries:
            text = query["sql"]
            if not text.lstrip().upper().startswith("SELECT"):
                plans.append({"sql": text, "plan": "(not a SELECT: not explained)"})
                continue
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS, TIMING OFF, SUMMARY OFF) " + text)
            plans.append({"sql": text, "plan": "\n".join(row[0] for row in cursor.fetchall())})
    connection.close()
    return {
        "licenses": len(dataset.keys),
        "miss_status": status,
        "miss_queries": len(captured.captured_queries),
        "hit_status": hit_status,
        "hit_queries": len(captured_hit.captured_queries),
        "plans": plans,
    }


def machine_description(wrk: str, cfg: Config, env: dict[str, str], pin: bool) -> dict:
    import django
    import psycopg
    import redis

    def first_line(cmd: list[str]) -> str:
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=10, check=False)
        except (OSError, subprocess.TimeoutExpired):
            return "?"
        return ((out.stdout or out.stderr).strip().splitlines() or ["?"])[0]

    cpu_model = "?"
    with open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    mem_gib = "?"
    with open("/proc/meminfo") as meminfo:
        for line in meminfo:
            if line.startswith("MemTotal"):
                mem_gib = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    with psycopg.connect(cfg.database_url) as conn:
        row = conn.execute("SHOW server_version").fetchone()
        pg_version = row[0] if row else "?"
        settings = {
            name: conn.execute(f"SHOW {name}").fetchone()[0]  # type: ignore[index]
            for name in ("shared_buffers", "work_mem", "synchronous_commit", "max_connections")
        }
    # redis-py types info() as "Awaitable | Any" (its sync and async clients share it).
    server_info = cast(dict[str, Any], redis.Redis.from_url(cfg.redis_url).info("server"))
    redis_version = server_info.get("redis_version", "?")
    git = first_line(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"])
    dirty = subprocess.run(
        ["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
        capture_output=True, text=True, check=False,
    ).stdout.strip()  # fmt: skip
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "host": platform.node(),
        "cpu": cpu_model,
        "cpus_online": os.cpu_count(),
        "memory": mem_gib,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "django": django.get_version(),
        "psycopg": psycopg.__version__,
        "postgresql": pg_version,
        "postgresql_settings": settings,
        "redis": redis_version,
        "wrk": first_line([wrk, "-v"]),
        "gunicorn_config_file": str(GUNICORN_CONF.relative_to(REPO))
        if GUNICORN_CONF.exists()
        else None,
        "gunicorn": gunicorn_settings(cfg, env, pin),
        "settings_module": env["DJANGO_SETTINGS_MODULE"],
        "pinning": (
            f"gunicorn on CPU {cfg.server_cpus}, wrk on CPU {cfg.client_cpus} (taskset); "
            "PostgreSQL and Redis unpinned"
        )
        if pin
        else "none (fewer than 2 CPUs available or taskset missing)",
        "git": git + (" (with uncommitted changes)" if dirty else ""),
    }


def twin_config(cfg: Config) -> Config:
    """The second server's: the small database's copy (``<name>_small``), the next Redis
    database, the next port."""
    db = urllib.parse.urlsplit(cfg.database_url)
    cache = urllib.parse.urlsplit(cfg.redis_url)
    redis_db = int(cache.path.strip("/") or 0) + 1
    return dataclasses.replace(
        cfg,
        database_url=db._replace(path=db.path.rstrip("/") + "_small").geturl(),
        redis_url=cache._replace(path=f"/{redis_db}").geturl(),
        port=cfg.port + 1,
    )


def bracketed(phases: list[Phase]) -> list[Phase]:
    """The phases of a round with the bare view measured again right after the hit: the
    hit is compared with the mean of the bare runs on either side of it (and the miss with
    the one just before it), so that the machine's drift over a round (on a shared VM,
    several percent within seconds) weighs on both sides alike. The EDD phases are
    bracketed by the bare form view (a2) the same way."""
    out: list[Phase] = []
    for phase in phases:
        out.append(phase)
        if phase.hot and BARE in phases:
            out.append(BARE)
        if phase.action and phase is not BARE_FORM and BARE_FORM in phases:
            out.append(BARE_FORM)  # an EDD phase: its like-for-like ceiling on either side
    return out


def choose_phases(available: dict[str, Any]) -> list[Phase]:
    """The phases this build can run: the bare view always, the rest if their endpoints
    answer."""
    phases = [BARE]
    if available["check"]:
        phases += [HIT, MISS]
    else:
        log(f"check endpoint not available yet: {available['check_probe']}; skipping b, c")
    if available["pairs"]:
        phases.append(PAIRS)
    else:
        log(f"activate/deactivate not available yet: {available['pairs_probe']}; skipping d")
    if available.get("edd"):
        if available["check"]:
            phases.append(SITE_CHECK)
        phases += [BARE_FORM, EDD_CHECK, GET_VERSION]
    else:
        log(f"EDD endpoint not available yet: {available.get('edd_probe')}; skipping e, f")
    return phases


def small_rounds(bench: Bench, cfg: Config, phases: list[Phase], pin: bool) -> dict[str, float]:
    """The rounds at the small size: closed loop, then paced. Returns the paced rates."""
    with affinity({int(cfg.client_cpus.split(",")[0])} if pin else None):
        rates: dict[str, float] = {}
        for round_ in range(1, cfg.rounds + 1):
            for phase in bracketed(phases):
                bench.measure(phase, size=cfg.small, round_=round_)
            if not rates:
                # The offered rate of the paced phases: a fraction of what the first
                # round's closed loop reached, the same for (a) and (b), so that both
                # can keep up with it.
                first = {r["phase"]: r["rps"] for r in bench.runs}
                both = min(first["bare"], first.get("hit", first["bare"]))
                rates["bare"] = rates["hit"] = round(cfg.paced_fraction * both)
                if "miss" in first:
                    rates["miss"] = round(cfg.paced_fraction * first["miss"])
            for phase in bracketed([p for p in (BARE, HIT, MISS) if p in phases]):
                bench.measure(phase, size=cfg.small, round_=round_, rate=rates[phase.name])
    return rates


def large_rounds(
    bench: Bench,
    twin_cfg: Config,
    dataset: seed.Dataset,
    rates: dict[str, float],
    small_misses: Path,
) -> list[dict]:
    """The rounds at the large size, with the twin server on the small copy. Returns the
    twin's runs."""
    cfg, wrk, pin = bench.cfg, bench.wrk, bench.pin
    bench.key_files["miss"] = seed.write_keys(
        TMP_DIR / "keys-miss-large.txt",
        seed.miss_keys(dataset, min(cfg.miss_pool, cfg.large), seed=2),
    )
    twin_env = service_environment(twin_cfg)
    twin_server = Server(twin_cfg, twin_env, pin, name="server-twin")
    twin = Bench(twin_cfg, twin_env, wrk, pin, twin_server)
    twin.key_files["miss"] = small_misses
    twin_server.start()
    try:
        with affinity({int(cfg.client_cpus.split(",")[0])} if pin else None):
            for round_ in range(1, cfg.large_rounds + 1):
                bench.measure(BARE, size=cfg.large, round_=round_)
                bench.measure(MISS, size=cfg.large, round_=round_)
                # The paced misses at both sizes, one after the other (which first
                # alternates), each server alone on the pinned core meanwhile.
                paced = [(bench, cfg.large), (twin, cfg.small)]
                for side, size in paced if round_ % 2 else paced[::-1]:
                    side.measure(MISS, size=size, round_=round_, rate=rates["miss"])
    finally:
        twin_server.stop()
    return twin.runs


def prepare_databases(cfg: Config) -> tuple[seed.Dataset, Config]:
    """The benchmark database, recreated and seeded to the small size, and the twin's copy
    of it (when there is a large stage). Returns the dataset and the twin's config."""
    log(f"database {cfg.database_url.rsplit('/', 1)[-1]}: recreate, migrate")
    seed.recreate_database(cfg.database_url)
    seed.migrate()
    dataset = seed.create_catalog()
    log(f"seeding {cfg.small:,} licenses (COPY)")
    grow(dataset, cfg.small)
    twin_cfg = twin_config(cfg)
    if cfg.large > cfg.small:
        # A copy of the small database, served by a second server during the large stage,
        # so that misses at both sizes are measured in the same rounds.
        close_django_connection()
        seed.copy_database(cfg.database_url, twin_cfg.database_url)
    return dataset, twin_cfg


def write_edd_keys(bench: Bench, dataset: seed.Dataset) -> None:
    """The EDD phases' key file (and the site check's): the hot keys, each with its
    product."""
    lines = seed.edd_lines(dataset, bench.cfg.hot_keys)
    edd_keys = seed.write_keys(TMP_DIR / "keys-edd.txt", lines)
    for name in ("site_check", "bare_form", "edd_check", "get_version"):
        bench.key_files[name] = edd_keys


def rss_kib(pids: list[int]) -> dict[int, int]:
    """Each process's resident set (VmRSS, KiB), from /proc."""
    sizes: dict[int, int] = {}
    for pid in pids:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                sizes[pid] = int(line.split()[1])
    return sizes


def download_summary(before: dict[int, int], after: dict[int, int]) -> dict[str, Any]:
    """The workers' RSS around the downloads: the largest growth of one worker (a package
    read whole into memory would grow the worker that served it by its size)."""
    growth = [after[pid] - before[pid] for pid in before if pid in after]
    return {
        "rss_before_kib": {str(k): v for k, v in before.items()},
        "rss_after_kib": {str(k): v for k, v in after.items()},
        "max_growth_mib": round(max(growth, default=0) / 1024, 2),
    }


def measure_download(server: Server, dataset: seed.Dataset) -> dict[str, Any]:
    """Fetch a 20 MiB package DOWNLOAD_FETCHES times through its signed URL (a license whose
    site holds a seat), reading the workers' RSS before and after: flat when streamed."""
    from activations.models import Activation
    from licensing.models import License
    from releases.downloads import download_token

    release = seed.publish_release(dataset, version="9.9.9", payload_bytes=DOWNLOAD_BYTES)
    lic = License.objects.filter(product_id=release.product_id).order_by("pk").first()
    assert lic is not None
    site = "bench-download.example.com"
    Activation.objects.get_or_create(license=lic, instance_identifier=site)
    token = download_token(license_id=lic.pk, release_id=release.pk, site=site)
    url = f"{server.url}/api/v1/product/downloads/{token}"
    close_django_connection()
    workers = sorted(server.worker_cpu())
    before = rss_kib(workers)
    started = time.monotonic()
    fetched = 0
    for _ in range(DOWNLOAD_FETCHES):
        with urllib.request.urlopen(url, timeout=60) as response:
            while chunk := response.read(1 << 16):
                fetched += len(chunk)
    seconds = time.monotonic() - started
    summary = download_summary(before, rss_kib(workers))
    summary.update(
        package_bytes=release.size, fetches=DOWNLOAD_FETCHES, bytes=fetched, seconds=seconds
    )
    log(f"download: {fetched:,} bytes in {seconds:.1f} s, RSS +{summary['max_growth_mib']} MiB")
    return summary


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """``--help`` describes the run (its knobs are environment variables: bench/README.md)."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.run",
        description=(__doc__ or "").split("\n\n", 1)[0],
        epilog="Knobs: environment variables (bench/config.py, bench/README.md); "
        "BENCH_QUICK=1 is a smoke run.",
    )
    return parser.parse_args(argv)


def main() -> None:
    parse_args()
    cfg = Config.from_env()
    wrk = ensure_wrk()
    pin = pinning_available(cfg)
    if not pin:
        log("WARNING: cannot pin server and load generator to different CPUs")
    env = setup_django(cfg)
    started = time.monotonic()

    dataset, twin_cfg = prepare_databases(cfg)

    TMP_DIR.mkdir(parents=True, exist_ok=True)
    server = Server(cfg, env, pin)
    bench = Bench(cfg, env, wrk, pin, server)
    bench.key_files["hit"] = seed.write_keys(
        TMP_DIR / "keys-hit.txt", seed.hot_keys(dataset, cfg.hot_keys)
    )
    small_misses = seed.write_keys(
        TMP_DIR / "keys-miss-small.txt", seed.miss_keys(dataset, cfg.small, seed=1)
    )
    bench.key_files["miss"] = small_misses
    write_edd_keys(bench, dataset)
    bench.key_files["pairs"] = seed.write_keys(
        TMP_DIR / "keys-activate.txt", seed.activation_lines(dataset, cfg.activation_licenses)
    )
    meta = machine_description(wrk, cfg, env, pin)
    server.start()
    results: dict[str, Any] = {"meta": meta, "config": cfg.as_report()}
    try:
        available = probe_endpoints(server.url, dataset)
        results["available"] = available
        phases = choose_phases(available)
        rates = small_rounds(bench, cfg, phases, pin)
        results["paced_rates"] = rates
        if available.get("edd"):
            results["download"] = measure_download(server, dataset)

        if MISS in phases and cfg.large > cfg.small:
            with affinity(None):
                close_django_connection()
                log(f"growing to {cfg.large:,} licenses (COPY)")
                grow(dataset, cfg.large)
            results["twin_runs"] = large_rounds(bench, twin_cfg, dataset, rates, small_misses)
        if MISS in phases:
            close_django_connection()
            probe_key = seed.miss_keys(dataset, 1, seed=3)[0]
            results["explain"] = explain_check_miss(dataset, cfg.redis_url, probe_key)
    finally:
        server.stop()
    results["seed_seconds"] = {str(k): round(v, 2) for k, v in dataset.seconds.items()}
    results["settle_seconds"] = {str(k): round(v, 2) for k, v in dataset.settled.items()}
    results["runs"] = bench.runs
    results["wall_seconds"] = round(time.monotonic() - started, 1)

    from bench import report

    paths = report.write(results, cfg.out_dir)
    print()
    print(report.summary_text(results))
    log("wrote " + ", ".join(os.path.relpath(p, REPO) for p in paths))


if __name__ == "__main__":
    main()
