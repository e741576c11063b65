"""Benchmark configuration, from the environment only (see bench/README.md)."""

from __future__ import annotations

import os
import re
import secrets
import shlex
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BENCH_DIR = REPO / "bench"
TMP_DIR = BENCH_DIR / "tmp"
WRK_DIR = BENCH_DIR / "wrk"

# Rates so high that no throttle ever answers 429 during a run (the throttles still run:
# their Redis counters are part of the measured path, as in production).
UNLIMITED_RATE = "1000000000/m"


def _env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def _env_float(name: str, default: float) -> float:
    return float(os.environ.get(name, default))


@dataclass(frozen=True)
class Config:
    quick: bool
    database_url: str
    redis_url: str
    small: int  # licenses in the first dataset
    large: int  # licenses in the second dataset (miss-path comparison)
    rounds: int  # rounds of the alternating phases at the small size
    large_rounds: int  # rounds at the large size
    duration: float  # seconds measured per phase (wrk counts whole seconds)
    warmup: float  # seconds of unmeasured load before each phase (whole seconds)
    connections: int
    threads: int
    paced_fraction: float  # offered rate of the paced phases, as a fraction of saturation
    hot_keys: int  # distinct keys of the cache-hit phase
    miss_pool: int  # distinct keys the miss phase walks at the large size
    activation_licenses: int
    flush_interval: float  # seconds between Redis flushes during the miss phase
    server_cpus: str
    client_cpus: str
    workers: int  # gunicorn workers; 0: the production config's own number
    port: int
    gunicorn_args: list[str] = field(default_factory=list)
    out_dir: Path = BENCH_DIR

    @classmethod
    def from_env(cls) -> Config:
        quick = os.environ.get("BENCH_QUICK", "") not in ("", "0", "false", "no")
        return cls(
            quick=quick,
            database_url=os.environ.get(
                "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/license_bench"
            ),
            redis_url=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/9"),
            small=_env_int("BENCH_SMALL", 2_000 if quick else 10_000),
            large=_env_int("BENCH_LARGE", 20_000 if quick else 1_000_000),
            rounds=_env_int("BENCH_ROUNDS", 1 if quick else 5),
            large_rounds=_env_int("BENCH_LARGE_ROUNDS", 1 if quick else 5),
            duration=_env_float("BENCH_DURATION", 1 if quick else 8),
            warmup=_env_float("BENCH_WARMUP", 1 if quick else 2),
            connections=_env_int("BENCH_CONNECTIONS", 16),
            threads=_env_int("BENCH_THREADS", 1),
            paced_fraction=_env_float("BENCH_PACED_FRACTION", 0.5),
            hot_keys=_env_int("BENCH_HOT_KEYS", 100 if quick else 500),
            miss_pool=_env_int("BENCH_MISS_POOL", 200_000),
            activation_licenses=_env_int("BENCH_ACTIVATION_LICENSES", 500),
            flush_interval=_env_float("BENCH_FLUSH_INTERVAL", 0.25),
            server_cpus=os.environ.get("BENCH_SERVER_CPUS", "0"),
            client_cpus=os.environ.get("BENCH_CLIENT_CPUS", "1"),
            workers=_env_int("BENCH_WORKERS", 0),
            port=_env_int("BENCH_PORT", 8765),
            gunicorn_args=shlex.split(os.environ.get("BENCH_GUNICORN_ARGS", "")),
            out_dir=Path(
                os.environ.get("BENCH_OUT", TMP_DIR / "quick" if quick else BENCH_DIR)
            ).resolve(),
        )

    def as_report(self) -> dict[str, object]:
        return {
            "quick": self.quick,
            "database": _without_password(self.database_url),
            "redis": self.redis_url,
            "licenses_small": self.small,
            "licenses_large": self.large,
            "rounds_small": self.rounds,
            "rounds_large": self.large_rounds,
            "duration_s": self.duration,
            "warmup_s": self.warmup,
            "wrk_connections": self.connections,
            "wrk_threads": self.threads,
            "paced_fraction": self.paced_fraction,
            "hot_keys": self.hot_keys,
            "miss_pool_large": self.miss_pool,
            "activation_licenses": self.activation_licenses,
            "miss_flush_interval_s": self.flush_interval,
            "server_cpus": self.server_cpus,
            "client_cpus": self.client_cpus,
            "workers": self.workers,
            "extra_gunicorn_args": self.gunicorn_args,
        }


def _without_password(url: str) -> str:
    return re.sub(r"://([^:/@]+):[^@]*@", r"://\1:***@", url)


def service_environment(cfg: Config) -> dict[str, str]:
    """What the service (gunicorn, and the harness's own in-process Django) runs with."""
    workers = {"GUNICORN_WORKERS": str(cfg.workers)} if cfg.workers else {}
    return {
        **workers,
        "DJANGO_SETTINGS_MODULE": "license_service.settings.bench",
        "DATABASE_URL": cfg.database_url,
        "REDIS_URL": cfg.redis_url,
        "SECRET_KEY": os.environ.get("BENCH_SECRET_KEY", secrets.token_urlsafe(48)),
        "SIGNING_KEYS_SECRET": os.environ.get(
            "BENCH_SIGNING_KEYS_SECRET", "bench-signing-keys-" + "0123456789abcdef" * 2
        ),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "THROTTLE_PRODUCT_IP": UNLIMITED_RATE,
        "THROTTLE_PRODUCT_KEY": UNLIMITED_RATE,
        "THROTTLE_UNKNOWN_KEY_IP": UNLIMITED_RATE,
        "THROTTLE_BRAND": UNLIMITED_RATE,
        "THROTTLE_AUTH_IP": UNLIMITED_RATE,
    }


def setup_django(cfg: Config) -> dict[str, str]:
    """Point this process at the benchmark database and cache, then ``django.setup()``."""
    env = service_environment(cfg)
    os.environ.update(env)
    import django

    django.setup()
    return env
