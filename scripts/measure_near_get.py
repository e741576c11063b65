"""The near cache's ``get`` alone, and a whole near-hit request, in-process (issue 13).

Run from a checkout's root with DATABASE_URL and REDIS_URL of your own (it migrates that
database and adds one brand, product and key, as scripts/measure_check_inprocess.py does,
whose setup it reuses). Works on the code before issue 13 too (licensing.nearcache).

  PYTHONPATH=. .venv/bin/python scripts/measure_near_get.py
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import measure_check_inprocess as measure  # sets up Django first

from brands.models import Brand
from license_service.ratelimit import rate_window
from tests.factories import LicenseFactory, LicenseKeyFactory, ProductFactory

try:
    from activations.check.near import near_cache
except ImportError:  # the code before issue 13
    from licensing.nearcache import near_cache  # type: ignore[no-redef]  # its old home


def per_call(rounds: int, run: Callable[[], object]) -> float:
    start = time.perf_counter_ns()
    for _ in range(rounds):
        run()
    return (time.perf_counter_ns() - start) / rounds / 1000


def main() -> None:
    measure.call_command("migrate", verbosity=0)
    tag = f"p{time.time_ns() % 10**9}"
    prefix = "".join(chr(ord("A") + int(d)) for d in f"{time.time_ns() % 10**4:04d}")
    brand = Brand.objects.create(slug=tag, name=tag, key_prefix=prefix)
    product = ProductFactory.create(brand=brand, slug=tag)
    license_key = LicenseKeyFactory.create(brand=brand)
    LicenseFactory.create(product=product, license_key=license_key)
    app = measure.application()
    path = f"/api/v1/product/check/{license_key.key}"
    for _ in range(500):
        measure.call(app, "GET", path)
    near = near_cache()
    if near is None:
        raise SystemExit("no near cache: set REDIS_URL")
    windows = [rate_window("a", "b", "100000000/s"), rate_window("c", "d", "100000000/s")]
    peek = rate_window("e", "f", "100000000/s")
    figures: dict[str, list[float]] = {"near.get": [], "near-hit request": []}
    for _ in range(7):
        figures["near.get"].append(
            per_call(20000, lambda: near.get(license_key.key, windows, peek))
        )
        figures["near-hit request"].append(per_call(2000, lambda: measure.call(app, "GET", path)))
    for label, runs in figures.items():
        print(f"{label:<20} best {min(runs):8.2f} µs   median {statistics.median(runs):8.2f} µs")


if __name__ == "__main__":
    main()
