"""Bulk seeding of the benchmark database: PostgreSQL ``COPY`` through psycopg.

One brand (``bench``, key prefix ``BNCH``) and two products: ``bench-pro`` (3 seats) and
``bench-unlimited`` (unlimited seats, used by the activate/deactivate phase). Each license
key carries one license; every tenth key is on ``bench-unlimited``. A third of the licenses
are lifetime, the rest expire in a year; all are valid. Keys come from
``licensing.keys.generate_license_key``, so they carry valid checksums.

Rows are streamed with ``COPY ... FROM STDIN`` in blocks, ids assigned here (so licenses
can reference their keys without a round trip), sequences moved past them. The schema is
the migrations' own: no index is dropped to load faster.

Each load then brings the tables to the state a long-running database is in (timed apart
from the load, ``Dataset.settled``): ``VACUUM (FREEZE, ANALYZE)`` and a ``CHECKPOINT``.
Without it autovacuum (which the inserts trigger) and the first reads (which set the new
rows' hint bits, dirtying every page once) would do that work during the measurements
that follow a load.

Needs ``django.setup()`` with the benchmark settings (bench/run.py and bench/profile.py
do that); ``python -m bench.seed`` is not an entry point.
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

BRAND_SLUG = "bench"
KEY_PREFIX = "BNCH"
PRODUCT_PRO = "bench-pro"
PRODUCT_UNLIMITED = "bench-unlimited"
UNLIMITED_EVERY = 10
COPY_BLOCK = 50_000


@dataclass
class Dataset:
    """What has been seeded so far. ``keys[i]`` is the key with id ``first_id + i``."""

    brand_id: int
    product_ids: dict[str, int]
    keys: list[str] = field(default_factory=list)
    first_id: int = 1
    seconds: dict[int, float] = field(default_factory=dict)  # size -> seconds to reach it
    settled: dict[int, float] = field(default_factory=dict)  # size -> seconds to settle it

    def product_of(self, index: int) -> str:
        return PRODUCT_UNLIMITED if index % UNLIMITED_EVERY == 0 else PRODUCT_PRO


def recreate_database(url: str, *, template: str | None = None) -> None:
    """Drop and create the database named in ``url`` (its name must contain 'bench'), as a
    copy of the database ``template`` when given (nobody may be connected to that one)."""
    info: dict[str, Any] = psycopg.conninfo.conninfo_to_dict(url)
    name = str(info.get("dbname") or "")
    if "bench" not in name:
        raise SystemExit(f"refusing to drop database {name!r}: its name must contain 'bench'")
    info["dbname"] = "postgres"
    with psycopg.connect(**info, autocommit=True) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            [name],
        )
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
        create = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template is not None:
            create += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
        conn.execute(create)


def copy_database(source_url: str, target_url: str) -> None:
    """Make the database of ``target_url`` (its name must contain 'bench') a copy of the one
    of ``source_url``, which nobody may be connected to (PostgreSQL's TEMPLATE copy)."""
    source = psycopg.conninfo.conninfo_to_dict(source_url).get("dbname")
    recreate_database(target_url, template=str(source))


def migrate() -> None:
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


def create_catalog() -> Dataset:
    from brands.models import Brand, Product

    brand = Brand.objects.create(name="Bench", slug=BRAND_SLUG, key_prefix=KEY_PREFIX)
    pro = Product.objects.create(brand=brand, name="Pro", slug=PRODUCT_PRO, default_max_seats=3)
    unlimited = Product.objects.create(
        brand=brand, name="Unlimited", slug=PRODUCT_UNLIMITED, default_max_seats=None
    )
    return Dataset(
        brand_id=brand.pk, product_ids={PRODUCT_PRO: pro.pk, PRODUCT_UNLIMITED: unlimited.pk}
    )


def generate_keys(count: int) -> list[str]:
    """``count`` fresh keys (about 3 s per 100k: the RNG and the CRC are the cost; a
    process pool did not pay on two cores already busy with the database)."""
    from licensing.keys import generate_license_key

    return [generate_license_key(KEY_PREFIX) for _ in range(count)]


def _blocks(rows: Iterator[str], size: int) -> Iterator[str]:
    block: list[str] = []
    for row in rows:
        block.append(row)
        if len(block) >= size:
            yield "".join(block)
            block = []
    if block:
        yield "".join(block)


def grow(dataset: Dataset, total: int) -> float:
    """Add license keys (one license each) until ``total`` exist, then settle the tables.
    Returns the seconds the load took (the settling's are in ``dataset.settled``)."""
    from django.db import connection

    start = time.perf_counter()
    have = len(dataset.keys)
    if total <= have:
        return 0.0
    new_keys = generate_keys(total - have)
    now = datetime.now(UTC)
    created = now.isoformat()
    next_year = (now + timedelta(days=365)).isoformat()
    brand_id = dataset.brand_id
    pro_id = dataset.product_ids[PRODUCT_PRO]
    unlimited_id = dataset.product_ids[PRODUCT_UNLIMITED]

    def key_rows() -> Iterator[str]:
        for offset, key in enumerate(new_keys):
            index = have + offset
            ident = dataset.first_id + index
            yield f"{ident}\t{brand_id}\t{key}\tcustomer{index}@example.com\t{created}\n"

    def license_rows() -> Iterator[str]:
        for offset in range(len(new_keys)):
            index = have + offset
            ident = dataset.first_id + index
            unlimited = index % UNLIMITED_EVERY == 0
            product_id = unlimited_id if unlimited else pro_id
            max_seats = "\\N" if unlimited else "3"
            expires = "\\N" if index % 3 == 0 else next_year
            yield (
                f"{ident}\t{ident}\t{product_id}\tvalid\t{expires}\t{max_seats}"
                f"\t{created}\t{created}\n"
            )

    connection.ensure_connection()
    assert connection.get_autocommit(), "seed outside any transaction: each COPY commits"
    raw = connection.connection
    assert raw is not None
    with raw.cursor() as cursor:
        for table, columns, rows in (
            (
                "licensing_licensekey",
                "id, brand_id, key, customer_email, created_at",
                key_rows(),
            ),
            (
                "licensing_license",
                "id, license_key_id, product_id, status, expires_at, max_seats, created_at, "
                "updated_at",
                license_rows(),
            ),
        ):
            for block in _blocks(rows, COPY_BLOCK):
                with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                    copy.write(block)
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT max(id) FROM {table}))"
            )
    dataset.keys.extend(new_keys)
    seconds = time.perf_counter() - start
    dataset.seconds[total] = seconds
    dataset.settled[total] = _settle(raw)
    return seconds


def _settle(raw: psycopg.Connection) -> float:
    """Vacuum, freeze and analyze the seeded tables, then checkpoint (see the module's
    docstring). Returns seconds taken. A role that may not ``CHECKPOINT`` skips it."""
    start = time.perf_counter()
    with raw.cursor() as cursor:
        cursor.execute("VACUUM (FREEZE, ANALYZE) licensing_licensekey, licensing_license")
        with contextlib.suppress(psycopg.errors.InsufficientPrivilege):
            cursor.execute("CHECKPOINT")
    return time.perf_counter() - start


def write_keys(path: Path, lines: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{line}\n" for line in lines))
    return path


def hot_keys(dataset: Dataset, count: int) -> list[str]:
    """Keys for the cache-hit phase: the first ``count`` keys."""
    return dataset.keys[:count]


def miss_keys(dataset: Dataset, count: int, seed: int) -> list[str]:
    """A random sample of ``count`` distinct keys spread over the whole table, shuffled."""
    rng = random.Random(seed)
    if count >= len(dataset.keys):
        keys = list(dataset.keys)
        rng.shuffle(keys)
        return keys
    return rng.sample(dataset.keys, count)


def activation_lines(dataset: Dataset, count: int) -> list[str]:
    """``KEY product_slug`` lines for licenses with unlimited seats."""
    lines = []
    for index in range(0, len(dataset.keys), UNLIMITED_EVERY):
        lines.append(f"{dataset.keys[index]} {PRODUCT_UNLIMITED}")
        if len(lines) >= count:
            break
    return lines


def edd_lines(dataset: Dataset, count: int) -> list[str]:
    """``KEY product_slug`` lines for the EDD phases: the hot keys with each one's product
    (``item_name`` then names the product the key holds; a mismatch would count against
    the unknown-key budget)."""
    return [f"{key} {dataset.product_of(i)}" for i, key in enumerate(dataset.keys[:count])]


def publish_release(dataset: Dataset, *, version: str, payload_bytes: int) -> Any:
    """A published release of the Pro product holding a zip of about ``payload_bytes``
    (stored, not compressed: its size on disk is what a download streams)."""
    import io
    import os
    import zipfile

    from audit.services import Actor
    from brands.models import Product
    from releases.services import release_create, release_publish

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr("bench-pro/bench-pro.php", b"<?php\n" + os.urandom(payload_bytes))
    buffer.seek(0)
    product = Product.objects.get(pk=dataset.product_ids[PRODUCT_PRO])
    actor = Actor.staff("bench")
    release, _ = release_create(
        product=product, actor=actor, version=version, package=buffer, changelog="* Bench."
    )
    return release_publish(release=release, actor=actor)
