"""Whole check requests in-process (issue 13): Django's WSGI handler called directly, as
gunicorn would (bench/inprocess.py), with the bench settings (production's middleware,
PostgreSQL, Redis), on this worktree's code or any other checkout's (run it from there).

Prints µs per request, median of 7 runs, for:
- near hit (the usual plain check, answered from the process),
- redis hit (near cache off: one round trip),
- miss (the entry invalidated before each request: minus the invalidation's own cost),
- miss without the health-check flip (``--no-flip``: the miss loader as plain Django
  connection use), when the code has the flip.

Usage (environment: DATABASE_URL, REDIS_URL of your own database and Redis db):
  PYTHONPATH=. .venv/bin/python scripts/measure_check_inprocess.py [requests]
It migrates that database and adds one brand, product and key.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from collections.abc import Callable

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "license_service.settings.bench")
os.environ.setdefault("SECRET_KEY", "measure-" + "x" * 50)
os.environ.setdefault("SIGNING_KEYS_SECRET", "measure-signing-" + "y" * 32)
os.environ.setdefault("ALLOWED_HOSTS", "127.0.0.1")
for name in ("THROTTLE_PRODUCT_IP", "THROTTLE_PRODUCT_KEY", "THROTTLE_UNKNOWN_KEY_IP"):
    os.environ.setdefault(name, "100000000/s")

import django  # noqa: E402 (after the environment it reads)

django.setup()

from django.conf import settings  # noqa: E402 (after django.setup())
from django.core.management import call_command  # noqa: E402 (after django.setup())
from django.db import connections, router  # noqa: E402 (after django.setup())

from bench.inprocess import application, call  # noqa: E402 (after django.setup())
from brands.models import Brand  # noqa: E402 (after django.setup())
from licensing.models import LicenseKey  # noqa: E402 (after django.setup())
from tests.factories import LicenseFactory, LicenseKeyFactory, ProductFactory  # noqa: E402 (after django.setup())

try:  # this worktree
    from activations.check import facts as loader
    from activations.check.keys import check_cache_forget
    from activations.check.near import near_cache_reset
except ImportError:  # the code before issue 13
    from licensing.cache import check_cache_forget  # type: ignore[no-redef]  # its old home
    from licensing.nearcache import near_cache_reset  # type: ignore[no-redef]  # its old home

    from activations import selectors as loader  # type: ignore[no-redef]  # its old home


def per_request(label: str, run: Callable[[], object], rounds: int) -> float:
    for _ in range(min(rounds, 300)):
        run()
    runs = []
    for _ in range(7):
        start = time.perf_counter_ns()
        for _ in range(rounds):
            run()
        runs.append((time.perf_counter_ns() - start) / rounds / 1000)
    median = statistics.median(runs)
    print(f"{label:<44} median {median:8.1f} µs   best {min(runs):8.1f} µs")
    return median


HTTP_OK = 200


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    call_command("migrate", verbosity=0)
    tag = f"m{time.time_ns() % 10**9}"
    prefix = "".join(chr(ord("A") + int(d)) for d in f"{time.time_ns() % 10**4:04d}")
    brand = Brand.objects.create(slug=tag, name=tag, key_prefix=prefix)
    product = ProductFactory.create(brand=brand, slug=tag)
    license_key = LicenseKeyFactory.create(brand=brand)
    LicenseFactory.create(product=product, license_key=license_key)
    key = license_key.key
    app = application()
    path = f"/api/v1/product/check/{key}"

    def get() -> None:
        status, body = call(app, "GET", path)
        if status != HTTP_OK:
            raise SystemExit(f"check answered {status}: {body!r}")

    get()

    def forget() -> None:
        check_cache_forget(key)

    def miss() -> None:
        check_cache_forget(key)
        get()

    figures = {"near": per_request("near hit", get, rounds)}
    knobs = settings.LICENSE_SERVICE
    settings.LICENSE_SERVICE = {**knobs, "CHECK_NEAR_CACHE": False}
    near_cache_reset()
    figures["hit"] = per_request("redis hit (near cache off)", get, rounds)
    forget_cost = per_request("  (an invalidation alone)", forget, rounds // 2)
    figures["miss"] = per_request("miss, invalidation included", miss, rounds // 2) - forget_cost
    print(f"{'miss (invalidation subtracted)':<44} median {figures['miss']:8.1f} µs")
    if hasattr(loader, "_check_data_query") and "--no-flip" in sys.argv:

        def plain_load(canonical: str) -> object:
            connection = connections[router.db_for_read(LicenseKey)]
            # The old code's own query, measured without its health-check flip.
            return loader._check_data_query(connection, canonical)  # noqa: SLF001 (the old query)

        loader.check_data_load = plain_load  # type: ignore[assignment]  # the old code's loader
        flipless = per_request("miss without the flip, invalidation incl.", miss, rounds // 2)
        label = "miss without the flip (invalidation subtr.)"
        print(f"{label:<44} median {flipless - forget_cost:8.1f} µs")
    settings.LICENSE_SERVICE = knobs


if __name__ == "__main__":
    main()
