"""Test settings: fast hashing, in-memory cache unless REDIS_URL says otherwise."""

from __future__ import annotations

from .base import *
from .base import CACHES, DATABASES, LICENSE_SERVICE, REDIS_URL

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
DEBUG = False

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["NAME"] = ":memory:"
    DATABASES["default"]["TEST"] = {"NAME": ":memory:"}
    DATABASES["default"]["OPTIONS"].pop("init_command", None)
DATABASES["default"]["CONN_MAX_AGE"] = 0

if REDIS_URL:
    CACHES["default"]["KEY_PREFIX"] = "ls-test"

LICENSE_SERVICE.update(
    {
        "THROTTLE_PRODUCT_IP": "100000/m",
        "THROTTLE_PRODUCT_KEY": "100000/m",
        "THROTTLE_UNKNOWN_KEY_IP": "100000/h",
        "THROTTLE_BRAND": "100000/m",
        "THROTTLE_AUTH_IP": "100000/m",
    }
)

# A second alias for the read-replica router tests (tests/ops/test_replica_router.py). It
# mirrors the default test database, so both aliases see the same rows over two separate
# connections. Requests are only routed there when DATABASE_REPLICA_URL installs
# ReplicaReadsMiddleware (or inside ``replica_reads()``), so other tests never touch it.
if "replica" not in DATABASES:
    DATABASES["replica"] = {**DATABASES["default"], "TEST": {"MIRROR": "default"}}
    DATABASE_ROUTERS = ["license_service.routers.PrimaryReplicaRouter"]

# Celery in tests: the in-memory transport (tests run task functions directly, or a worker
# thread from celery.contrib.testing on this transport); a test that wants a real broker
# sets its own.
CELERY_BROKER_URL = "memory://"
CELERY_BROKER_TRANSPORT_OPTIONS = {}

# Webhooks: tests deliver to a plain-http receiver on 127.0.0.1, allowed per test by
# WEBHOOK_ALLOWED_NETWORKS (the default, none, keeps the SSRF rules on).
WEBHOOK_ALLOW_HTTP = True
