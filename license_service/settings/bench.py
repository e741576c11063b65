"""Benchmark settings: production, plus a bare JSON view that measures the ceiling.

``make bench`` (bench/run.py) starts gunicorn with these settings. Everything else is
production's: the same middleware, DRF configuration, database and cache settings, and
the same environment variables (the harness sets SECRET_KEY, ALLOWED_HOSTS, DATABASE_URL,
REDIS_URL and very high throttle rates). The bare view lives only in ``bench_urls``,
never in the production URL map.
"""

from __future__ import annotations

from .production import *

ROOT_URLCONF = "license_service.bench_urls"

# Plain HTTP on loopback: production's redirect to HTTPS would answer every request 301.
SECURE_SSL_REDIRECT = False
