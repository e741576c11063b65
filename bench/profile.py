"""``python -m bench.profile``: where a product check spends its time (pyinstrument).

Runs N checks in-process, straight into Django's WSGI handler with the benchmark settings
(production + the bare view), PostgreSQL and Redis as ``make bench`` uses them: first N
cache hits on one key, then N cache misses over N distinct keys (the cache emptied first).
Writes bench/profile-check.txt: the mean time per request without the profiler, the SQL
statements of one hit and one miss, and pyinstrument's call tree for each; the same trees
as HTML in bench/tmp/ for browsing.

Reuses the benchmark database if it holds enough keys, else creates and seeds it. Don't
run it while ``make bench`` runs: both use the same database and Redis database.

Environment: BENCH_PROFILE_REQUESTS (default 1000), BENCH_PROFILE_INTERVAL (sampling
interval in seconds, default 0.0001), and bench/config.py's BENCH_DATABASE_URL,
BENCH_REDIS_URL.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from datetime import UTC, datetime

from bench import seed
from bench.config import BENCH_DIR, TMP_DIR, Config, setup_django
from bench.inprocess import WSGIApp, application, call, stdout_to


def bench_keys(cfg: Config, needed: int) -> list[str]:
    """At least ``needed`` keys of the benchmark brand, seeding the database if it has
    fewer (or does not exist)."""
    from django.db import connection
    from django.db.utils import OperationalError, ProgrammingError

    from licensing.models import LicenseKey

    try:
        keys = list(
            LicenseKey.objects.filter(brand__slug=seed.BRAND_SLUG)
            .order_by("id")
            .values_list("key", flat=True)[:needed]
        )
    except (OperationalError, ProgrammingError):
        keys = []
    if len(keys) >= needed:
        return keys
    print(f"seeding {cfg.database_url.rsplit('/', 1)[-1]} with {max(needed, cfg.small):,} licenses")
    connection.close()
    seed.recreate_database(cfg.database_url)
    seed.migrate()
    dataset = seed.create_catalog()
    seed.grow(dataset, max(needed, cfg.small))
    return dataset.keys[:needed]


def timed(app: WSGIApp, paths: list[str]) -> float:
    """Mean seconds per request over ``paths``; every answer must be 200."""
    start = time.perf_counter()
    for path in paths:
        status, body = call(app, "GET", path)
        if status != 200:
            raise SystemExit(f"bench.profile: {path} answered {status}: {body[:300]!r}")
    return (time.perf_counter() - start) / len(paths)


def sql_of(app: WSGIApp, path: str) -> list[str]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        call(app, "GET", path)
    return [q["sql"] for q in captured.captured_queries]


def main() -> None:
    cfg = Config.from_env()
    setup_django(cfg)
    import redis
    from pyinstrument import Profiler

    n = int(os.environ.get("BENCH_PROFILE_REQUESTS", "1000"))
    interval = float(os.environ.get("BENCH_PROFILE_INTERVAL", "0.0001"))
    keys = bench_keys(cfg, 2 * n + 2)
    flush: Callable[[], object] = redis.Redis.from_url(cfg.redis_url).flushdb
    app = application()
    TMP_DIR.mkdir(parents=True, exist_ok=True)
    log = TMP_DIR / "profile-requests.log"

    def check(key: str) -> str:
        return f"/api/v1/product/check/{key}"

    hot = [check(keys[0])] * n
    misses_timed = [check(k) for k in keys[2 : n + 2]]
    misses_profiled = [check(k) for k in keys[n + 2 : 2 * n + 2]]

    sections = []
    with stdout_to(log):
        flush()
        sql_miss = sql_of(app, check(keys[1]))
        sql_hit = sql_of(app, check(keys[1]))
        timed(app, [check(keys[0])] * 50)  # imports, connections, the cache entry
        hit_mean = timed(app, hot)
        flush()
        miss_mean = timed(app, misses_timed)

        hit_profiler = Profiler(interval=interval)
        with hit_profiler:
            timed(app, hot)
        flush()
        miss_profiler = Profiler(interval=interval)
        with miss_profiler:
            timed(app, misses_profiled)

    for name, profiler in (("hit", hit_profiler), ("miss", miss_profiler)):
        (TMP_DIR / f"profile-check-{name}.html").write_text(
            profiler.output_html(resample_interval=0.001)
        )
        sections.append(
            f"== check, cache {name}: {n} requests, pyinstrument every {interval * 1e6:g} µs ==\n\n"
            + profiler.output_text(unicode=True, color=False, show_all=False)
        )

    header = [
        f"bench/profile.py, {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}: in-process WSGI "
        f"calls, settings {os.environ['DJANGO_SETTINGS_MODULE']}, "
        f"{cfg.database_url.rsplit('/', 1)[-1]} on PostgreSQL, Redis {cfg.redis_url}.",
        "",
        f"mean per request without the profiler: hit {hit_mean * 1e6:.0f} µs, "
        f"miss {miss_mean * 1e6:.0f} µs ({n} requests each)",
        f"SQL of one miss ({len(sql_miss)}): " + (" | ".join(sql_miss) or "none"),
        f"SQL of one hit ({len(sql_hit)}): " + (" | ".join(sql_hit) or "none"),
        "(Django's connection health check, a SELECT 1 before a request's first query, "
        "bypasses this log.)",
        "",
    ]
    out = BENCH_DIR / "profile-check.txt"
    out.write_text("\n".join(header) + "\n" + "\n\n".join(sections))
    print("\n".join(header[2:4]))
    print(f"wrote {out.relative_to(BENCH_DIR.parent)} and bench/tmp/profile-check-*.html")


if __name__ == "__main__":
    main()
