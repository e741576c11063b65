"""Settings shared by every environment.

Everything configurable comes from the environment through one django-environ ``env``.
The embedded default (no variables set) is a SQLite file and the in-process cache, so a
newcomer runs the service with nothing installed.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import environ
from django.core.exceptions import ImproperlyConfigured

from license_service import __version__
from license_service.logging import configure_structlog, logging_config

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()

SECRET_KEY = env("SECRET_KEY", default="insecure-dev-only-secret-key-change-me-0123456789")
DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS: list[str] = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_simplejwt.token_blacklist",
    "axes",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "audit",
    "events",  # the outbox, the feed and the scheduled jobs' plumbing (SPEC §13-14)
    "webhooks",  # endpoints and signed deliveries of the events (SPEC §13)
    "brands",
    "licensing",
    "activations",
    "releases",
    "wordpress",  # the EDD-compatible endpoint (SPEC §11)
]

MIDDLEWARE = [
    "license_service.middleware.RequestIdMiddleware",
    # Right after the request id: one JSON access line + HTTP metrics per request.
    "license_service.logging.AccessLogMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Django's session, authentication and message middleware serve the admin alone: each
    # runs, in its usual place, only under the admin's URL prefix (license_service.middleware).
    "license_service.middleware.AdminSessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "license_service.middleware.AdminAuthenticationMiddleware",
    "license_service.middleware.AdminMessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes documents: turns a locked-out login into its lockout answer
    # (axes' AxesMiddleware, without its per-request cost).
    "brands.lockout.LockoutMiddleware",
]

ROOT_URLCONF = "license_service.urls"
WSGI_APPLICATION = "license_service.wsgi.application"
APPEND_SLASH = False

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
# On by default: a persistent connection that the server dropped (restart, failover,
# pgbouncer, an idle timeout on the way) is replaced before use instead of failing a
# customer's request. The price is one SELECT 1 round trip per request that touches the
# database (the check's miss path pays it; `make bench` shows how much). Off: that request
# answers 503 and the connection is replaced after it.
DATABASES["default"]["CONN_HEALTH_CHECKS"] = env.bool("DATABASE_HEALTH_CHECKS", default=True)
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # A dead database must fail fast (503), never hang a worker.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault(
        "connect_timeout", env.int("DATABASE_CONNECT_TIMEOUT", default=3)
    )
    DATABASES["default"]["OPTIONS"].setdefault(
        "server_side_binding", env.bool("DATABASE_SERVER_SIDE_BINDING", default=True)
    )
    DATABASES["default"]["OPTIONS"].setdefault("prepare_threshold", 5)
elif DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )

# Behind pgbouncer in transaction-pooling mode a server connection changes between
# transactions: no server-side cursors, no automatically prepared statements (psycopg 3
# prepares after 5 executions; pgbouncer < 1.21 cannot route them).
DATABASE_PGBOUNCER = env.bool("DATABASE_PGBOUNCER", default=False)


def _pgbouncer_safe(config: dict[str, Any]) -> None:
    if DATABASE_PGBOUNCER and config["ENGINE"] == "django.db.backends.postgresql":
        config["DISABLE_SERVER_SIDE_CURSORS"] = True
        config.setdefault("OPTIONS", {})["prepare_threshold"] = None


_pgbouncer_safe(DATABASES["default"])

# Optional read replica: product checks read there (license_service.routers); everything
# else, and every read after a write in the same request, stays on the primary.
DATABASE_REPLICA_URL = env("DATABASE_REPLICA_URL", default="")
REPLICA_READ_PATHS = ["/api/v1/product/check"]
if DATABASE_REPLICA_URL:
    DATABASES["replica"] = env.db_url_config(DATABASE_REPLICA_URL)
    for _key in ("ATOMIC_REQUESTS", "CONN_MAX_AGE", "CONN_HEALTH_CHECKS"):
        DATABASES["replica"].setdefault(_key, DATABASES["default"].get(_key))
    DATABASES["replica"].setdefault("OPTIONS", dict(DATABASES["default"].get("OPTIONS", {})))
    DATABASES["replica"]["TEST"] = {"MIRROR": "default"}
    _pgbouncer_safe(DATABASES["replica"])
    DATABASE_ROUTERS = ["license_service.routers.PrimaryReplicaRouter"]
    MIDDLEWARE.insert(2, "license_service.routers.ReplicaReadsMiddleware")

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env("REDIS_URL", default="")
CACHE_SOCKET_TIMEOUT = env.float("CACHE_SOCKET_TIMEOUT", default=0.25)
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "ls",
            "OPTIONS": {
                "CLIENT_CLASS": "django_redis.client.DefaultClient",
                # A dead Redis must cost milliseconds, not a hung request.
                "SOCKET_CONNECT_TIMEOUT": CACHE_SOCKET_TIMEOUT,
                "SOCKET_TIMEOUT": CACHE_SOCKET_TIMEOUT,
                "IGNORE_EXCEPTIONS": True,
                "LOG_IGNORED_EXCEPTIONS": True,
                "CONNECTION_POOL_KWARGS": {"max_connections": 50, "retry_on_timeout": False},
            },
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "license-service",
            "OPTIONS": {"MAX_ENTRIES": 100_000},
        }
    }
DJANGO_REDIS_LOG_IGNORED_EXCEPTIONS = True

# django-axes first: it refuses a locked-out login before any password is checked.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

# Password guessing (SPEC §4), on /admin/login/ and POST /api/v1/auth/token/ alike
# (brands.lockout): LOGIN_FAILURE_LIMIT failures for one username, or from one client IP,
# lock that username, or that IP, until LOGIN_COOLOFF_MINUTES have passed since the last
# attempt (an attempt during the lockout starts the cool-off again). Kept in the database
# (axes' tables): shared by every process, kept through a Redis outage, listed in the
# admin, cleared there or with `manage.py axes_reset`.
AXES_HANDLER = "brands.lockout.LockoutDatabaseHandler"
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
_cooloff_minutes = env.int("LOGIN_COOLOFF_MINUTES", default=15)
if AXES_FAILURE_LIMIT < 1 or _cooloff_minutes < 1:
    raise ImproperlyConfigured("LOGIN_FAILURE_LIMIT and LOGIN_COOLOFF_MINUTES must be 1 or more.")
AXES_COOLOFF_TIME = timedelta(minutes=_cooloff_minutes)
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
# The client IP as the rest of the service sees it (license_service.middleware.client_ip:
# NUM_PROXIES hops of X-Forwarded-For), None when that is no IP address.
AXES_CLIENT_IP_CALLABLE = "brands.lockout.login_client_ip"
AXES_LOCKOUT_CALLABLE = "brands.lockout.lockout_response"
# brands.lockout clears only the user's own failures on success (see why there).
AXES_RESET_ON_SUCCESS = False
AXES_VERBOSE = False
# axes.W002 asks for "axes.middleware.AxesMiddleware" by name; brands.lockout's
# LockoutMiddleware is that class, subclassed as axes documents (tests/brands/test_lockout.py).
# admin.E408/E409/E410 look in MIDDLEWARE for Django's authentication, message and session
# middleware (or subclasses); they are there, wrapped to run under /admin/ only
# (license_service.middleware.AdminOnly). tests/ops/test_admin_middleware.py logs in,
# opens a changelist and sees an action's message.
SILENCED_SYSTEM_CHECKS = ["axes.W002", "admin.E408", "admin.E409", "admin.E410"]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env("STATIC_ROOT", default=str(BASE_DIR / "static")))

# Request bodies of this service are small JSON objects.
DATA_UPLOAD_MAX_MEMORY_SIZE = 64 * 1024

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": ["license_service.api.parsers.StrictJSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "license_service.api.negotiation.JSONOnlyNegotiation",
    "EXCEPTION_HANDLER": "license_service.api.exceptions.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_THROTTLE_CLASSES": [],
}

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env.int("STAFF_JWT_MINUTES", default=15)),
    "REFRESH_TOKEN_LIFETIME": timedelta(hours=env.int("STAFF_REFRESH_HOURS", default=24)),
    "AUTH_HEADER_TYPES": ("Bearer",),
    "UPDATE_LAST_LOGIN": False,
    "AUTH_TOKEN_CLASSES": ("brands.authentication.StaffAccessToken",),
    # A refresh token works once: refreshing returns a new one and blacklists the old.
    # A password change or a deactivation blacklists every refresh token of the user
    # (brands.signals), and an access token stops working at once too: it carries a digest
    # of the password hash it was issued under (simplejwt's CHECK_REVOKE_TOKEN).
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "CHECK_REVOKE_TOKEN": True,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "License Service API",
    "DESCRIPTION": "Multi-brand license provisioning, activation and status checks.",
    "VERSION": __version__,
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # PATCH bodies are not partial serializers here (a lifecycle PATCH requires "action").
    "COMPONENT_SPLIT_PATCH": False,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "SWAGGER_UI_SETTINGS": {"persistAuthorization": True, "displayRequestDuration": True},
    # The same choice sets appear in several serializers: one named enum each.
    "ENUM_NAME_OVERRIDES": {
        "EffectiveStatusEnum": ["valid", "suspended", "cancelled", "expired"],
        "StoredStatusEnum": ["valid", "suspended", "cancelled"],
        "ProbeStatusEnum": ["ok"],
        "ProbeCheckEnum": ["ok", "error"],
        "EnvironmentEnum": ["production", "staging", "local"],
        "EnvironmentClaimEnum": ["production", "staging", "development", "local"],
        "ReleaseChannelEnum": ["stable", "beta"],
        # The event types: the feed's ``type`` and a webhook's ``events`` (import paths, so
        # the plumbing imports no app).
        "EventTypeEnum": "events.models.EVENT_TYPES",
        "DeliveryEventTypeEnum": "webhooks.models.DELIVERY_TYPES",
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "license_service.openapi.add_uniform_errors",
    ],
    "TAGS": [
        {"name": "staff", "description": "Staff API (staff JWT)."},
        {"name": "brand", "description": "Brand API (brand API key or brand JWT)."},
        {"name": "product", "description": "Product API (the license key is the credential)."},
        {"name": "ops", "description": "Probes."},
    ],
}

# --- License service knobs (all from the environment) -----------------------------------

_CHECK_CACHE_TTL = env.int("CHECK_CACHE_TTL", default=300)
# Unknown-key answers per client IP: a window of minutes, so a mistyped key behind a shared
# host costs minutes (and only new activations and checks without an active instance);
# 4,320 guesses a day per IP against 115 random bits stays hopeless (ARCHITECTURE.md).
DEFAULT_THROTTLE_UNKNOWN_KEY_IP = "30/10m"

LICENSE_SERVICE = {
    # Brand JWT minted from an API key.
    "BRAND_JWT_LIFETIME": timedelta(seconds=env.int("BRAND_JWT_SECONDS", default=15 * 60)),
    # How long a check answer may be served from the cache (it is invalidated on every
    # change anyway; the TTL bounds what a lost invalidation could cost).
    "CHECK_CACHE_TTL": _CHECK_CACHE_TTL,
    "CHECK_NEGATIVE_CACHE_TTL": env.int("CHECK_NEGATIVE_CACHE_TTL", default=30),
    # The near cache (activations.check.near): hot check answers kept in each process, kept
    # current by Redis's invalidation pushes (with Redis only). SYNC: it serves only while a
    # barrier sent on its channel at most this many seconds ago has been answered; it must
    # stay below CACHE_SOCKET_TIMEOUT. TTL: by default as long as the Redis entry (an entry
    # never outlives it anyway); shorter only re-reads hot answers more often.
    "CHECK_NEAR_CACHE": env.bool("CHECK_NEAR_CACHE", default=True),
    "CHECK_NEAR_CACHE_SYNC": env.float("CHECK_NEAR_CACHE_SYNC", default=0.05),
    "CHECK_NEAR_CACHE_TTL": env.int("CHECK_NEAR_CACHE_TTL", default=_CHECK_CACHE_TTL),
    # MAX_BYTES: what the kept answers of one worker process may take (32 MiB).
    "CHECK_NEAR_CACHE_MAX_BYTES": env.int("CHECK_NEAR_CACHE_MAX_BYTES", default=33_554_432),
    # last_seen_at is refreshed at most once per this many seconds per activation (and at
    # most once per a quarter of the product's heartbeat_seconds, so a live instance never
    # looks dead).
    "HEARTBEAT_INTERVAL": env.int("HEARTBEAT_INTERVAL", default=3600),
    # The shortest heartbeat_seconds a product may set (SPEC §10).
    "HEARTBEAT_MIN_SECONDS": env.int("HEARTBEAT_MIN_SECONDS", default=60),
    "IDEMPOTENCY_TTL": timedelta(hours=env.int("IDEMPOTENCY_TTL_HOURS", default=24)),
    # Rate limits: "<count>/<period>", period one of s, m, h, d, or a multiple ("30/10m").
    "THROTTLE_PRODUCT_IP": env("THROTTLE_PRODUCT_IP", default="600/m"),
    "THROTTLE_PRODUCT_KEY": env("THROTTLE_PRODUCT_KEY", default="120/m"),
    "THROTTLE_UNKNOWN_KEY_IP": env(
        "THROTTLE_UNKNOWN_KEY_IP", default=DEFAULT_THROTTLE_UNKNOWN_KEY_IP
    ),
    "THROTTLE_BRAND": env("THROTTLE_BRAND", default="6000/m"),
    "THROTTLE_AUTH_IP": env("THROTTLE_AUTH_IP", default="30/m"),
}
if not 0 < LICENSE_SERVICE["CHECK_NEAR_CACHE_SYNC"] < CACHE_SOCKET_TIMEOUT:
    raise ImproperlyConfigured(
        "CHECK_NEAR_CACHE_SYNC must be above 0 and below CACHE_SOCKET_TIMEOUT: a process must "
        "stop serving from its near cache before a write can give up on invalidating it."
    )
# Trust X-Forwarded-For only behind a proxy you run (number of proxies in front).
NUM_PROXIES = env.int("NUM_PROXIES", default=0)

# Logs: one JSON object per line on stdout (LOG_FORMAT=console for a terminal).
LOG_LEVEL = env("LOG_LEVEL", default="INFO")
LOG_FORMAT = env("LOG_FORMAT", default="json")
LOG_REQUESTS = env.bool("LOG_REQUESTS", default=True)
LOGGING = logging_config(level=LOG_LEVEL, json_output=LOG_FORMAT != "console")
configure_structlog()

# GET /metrics; when set, scrapers must send "Authorization: Bearer <METRICS_TOKEN>".
METRICS_TOKEN = env("METRICS_TOKEN", default="")

CSRF_FAILURE_VIEW = "license_service.views.csrf_failure"

# --- Releases and package downloads (SPEC §11; releases/) -------------------------------
# Packages go through the "releases" storage alias: MEDIA_ROOT/releases by default; any
# S3-compatible bucket when RELEASES_STORAGE_BUCKET is set (needs the "s3" extra:
# django-storages[s3]; credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or the
# instance role, as boto3 finds them).
MEDIA_ROOT = Path(env("MEDIA_ROOT", default=str(BASE_DIR / "media")))
MEDIA_URL = "/media/"
RELEASES_STORAGE_BUCKET = env("RELEASES_STORAGE_BUCKET", default="")
if RELEASES_STORAGE_BUCKET:
    RELEASES_STORAGE: dict[str, Any] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": RELEASES_STORAGE_BUCKET,
            "endpoint_url": env("RELEASES_STORAGE_ENDPOINT_URL", default="") or None,
            "region_name": env("RELEASES_STORAGE_REGION", default="") or None,
            "location": env("RELEASES_STORAGE_PREFIX", default="releases"),
            "default_acl": "private",
            "querystring_auth": True,
            "file_overwrite": False,
        },
    }
else:
    # FileSystemStorage under MEDIA_ROOT/releases (following MEDIA_ROOT when it changes).
    RELEASES_STORAGE = {"BACKEND": "releases.storage.LocalReleasesStorage"}
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    "releases": RELEASES_STORAGE,
}
# A release package larger than this is refused (413 payload_too_large); 100 MiB.
RELEASE_MAX_UPLOAD_BYTES = env.int("RELEASE_MAX_UPLOAD_BYTES", default=100 * 1024 * 1024)
# Lifetime of a signed package URL, in seconds.
DOWNLOAD_URL_TTL = env.int("DOWNLOAD_URL_TTL", default=3600)
# --- package downloads and update checks (issue 15, h/catalog) -----------------------------
# Package downloads per license key: "<count>/<period>" as the THROTTLE_* rates. A site
# fetches a package when it updates; a key hammering the download URL is refused (429).
THROTTLE_DOWNLOAD_KEY = env("THROTTLE_DOWNLOAD_KEY", default="30/h")
# --- end of package downloads and update checks ----------------------------------------------
# An nginx internal location serving the releases storage's directory (e.g. "/.releases/",
# deploy/nginx/default.conf.template): downloads are then handed to nginx with
# X-Accel-Redirect. Empty: the application streams the file itself.
DOWNLOADS_ACCEL_REDIRECT = env("DOWNLOADS_ACCEL_REDIRECT", default="")

# --- Signed license tokens (SPEC §12; brands.signing, activations.tokens) -----------------
# The secret the brands' Ed25519 private keys are encrypted with at rest (AES-256-GCM, key
# derived by HKDF-SHA256). Distinct from SECRET_KEY: rotating SECRET_KEY (sessions, signed
# download URLs) must not make every signing key unreadable, and a leak of one is not a
# leak of the other. Production refuses to start without a 32+ character value; this
# default is for development and tests only. Changing it makes the stored keys unreadable:
# tokens are then omitted (an error logged and counted) until staff rotate every brand's key.
SIGNING_KEYS_SECRET = env(
    "SIGNING_KEYS_SECRET", default="insecure-dev-only-signing-keys-secret-0123456789"
)
SIGNING_KEYS_SECRET_MIN_LENGTH = 32
# The tokens' `iss` claim: the service's public base URL (e.g. https://licenses.example.com).
# Empty: the request's own absolute base (scheme and host as the proxy hands them over).
PUBLIC_URL = env("PUBLIC_URL", default="").rstrip("/")
# JWKS answers: Cache-Control max-age in seconds. Short: a rotation publishes a new key at
# once, and a verifier that meets an unknown kid refetches anyway.
JWKS_MAX_AGE = env.int("JWKS_MAX_AGE", default=300)

# --- Background work: Celery, events and scheduled jobs (SPEC §13-14; events/) ---------
# The broker: CELERY_BROKER_URL (redis://, amqp://), else REDIS_URL, else kombu's filesystem
# transport in CELERY_FILESYSTEM_DIR (no server: what ``make run`` uses; one machine only).
CELERY_FILESYSTEM_DIR = Path(env("CELERY_FILESYSTEM_DIR", default=str(BASE_DIR / ".broker")))
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="") or REDIS_URL or "filesystem://"
CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, Any] = {}
if CELERY_BROKER_URL.startswith("filesystem://"):
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_FILESYSTEM_DIR / "queue"),
        "data_folder_out": str(CELERY_FILESYSTEM_DIR / "queue"),
        "control_folder": str(CELERY_FILESYSTEM_DIR / "control"),
        "store_processed": False,
    }
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
# At least once: a task is acknowledged after it ran, so a worker killed mid-task leaves it
# on the queue for another; tasks are written to be idempotent.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TIMEZONE = "UTC"
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# Every job is idempotent and safe on several hosts at once (a conditional UPDATE per row),
# so two beats by mistake cost only duplicate work, never a duplicate event.
EVENTS_JOB_INTERVAL = env.float("EVENTS_JOB_INTERVAL", default=30.0)
CELERY_BEAT_SCHEDULE: dict[str, dict[str, Any]] = {
    "licenses-announce-expired": {
        "task": "licensing.tasks.announce_expired",
        "schedule": EVENTS_JOB_INTERVAL,
    },
    "licenses-announce-expiring-soon": {
        "task": "licensing.tasks.announce_expiring_soon",
        "schedule": env.float("EXPIRING_SOON_JOB_INTERVAL", default=300.0),
    },
    "activations-reclaim-dead": {
        "task": "activations.tasks.reclaim_dead",
        "schedule": env.float("RECLAIM_JOB_INTERVAL", default=300.0),
    },
    "idempotency-keys-purge": {
        "task": "licensing.tasks.purge_idempotency_keys",
        "schedule": env.float("PURGE_JOB_INTERVAL", default=3600.0),
    },
    # Webhooks (webhooks/jobs.py): new events into deliveries; due deliveries to workers.
    "webhooks-dispatch": {
        "task": "webhooks.tasks.dispatch",
        "schedule": env.float("WEBHOOK_DISPATCH_INTERVAL", default=2.0),
    },
    "webhooks-sweep": {
        "task": "webhooks.tasks.sweep",
        "schedule": env.float("WEBHOOK_SWEEP_INTERVAL", default=5.0),
    },
    "webhooks-purge-deliveries": {
        "task": "webhooks.tasks.purge_deliveries",
        "schedule": env.float("PURGE_JOB_INTERVAL", default=3600.0),
    },
}
# --- Webhooks (SPEC §13; webhooks/) ------------------------------------------------------
# Plain http URLs are refused unless this is on (local and test settings turn it on).
WEBHOOK_ALLOW_HTTP = env.bool("WEBHOOK_ALLOW_HTTP", default=False)
# CIDRs a webhook may reach although private/loopback/…: e.g. "10.1.0.0/16,127.0.0.1/32".
WEBHOOK_ALLOWED_NETWORKS: list[str] = env.list("WEBHOOK_ALLOWED_NETWORKS", default=[])
# A 2xx within this many seconds is success.
WEBHOOK_TIMEOUT = env.float("WEBHOOK_TIMEOUT", default=15.0)
# Retries go on for at least this long (and at least 10 attempts).
WEBHOOK_RETRY_WINDOW = timedelta(days=env.float("WEBHOOK_RETRY_DAYS", default=3.0))
# An endpoint failing without one success for this long is disabled (webhook.disabled).
WEBHOOK_DISABLE_AFTER = timedelta(days=env.float("WEBHOOK_DISABLE_AFTER_DAYS", default=5.0))
# A worker's claim on a delivery lasts WEBHOOK_TIMEOUT * 2 + this many seconds: a worker
# killed mid-send leaves the delivery to another once it has passed.
WEBHOOK_LEASE_MARGIN = env.float("WEBHOOK_LEASE_MARGIN", default=30.0)
# A queued delivery still not taken by a worker after this long is queued again.
WEBHOOK_REQUEUE_AFTER = timedelta(seconds=env.float("WEBHOOK_REQUEUE_AFTER", default=300.0))
# Finished deliveries are purged after this many days.
WEBHOOK_DELIVERY_LOG_DAYS = env.int("WEBHOOK_DELIVERY_LOG_DAYS", default=30)
WEBHOOK_MAX_ENDPOINTS = env.int("WEBHOOK_MAX_ENDPOINTS", default=20)
