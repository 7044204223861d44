"""Seed the users table quickly with PostgreSQL COPY: ``just seed 1000000``.

Rows are generated in the client and streamed with ``COPY ... FROM STDIN`` (asyncpg's
``copy_records_to_table``) in batches, so a million users take seconds, not the hours a
row-at-a-time INSERT loop would. Every user shares one argon2id hash of ``SEED_PASSWORD``:
hashing a million passwords would measure argon2, not the listing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg
import uuid_utils.compat as uuid_utils
from argon2 import PasswordHasher
from sqlalchemy.engine import make_url

from app.infrastructure.config import load_settings

SEED_PASSWORD = "seeded password"  # noqa: S105 - a documented benchmark fixture, not a secret
BATCH = 50_000
COLUMNS = (
    "id", "email", "password_hash", "first_name", "last_name", "phone", "birthday", "photo_url", "address", "meta",
    "role", "is_active", "deleted_at", "created_at", "updated_at",
)  # fmt: skip
FIRST = ("Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Margaret", "Ken", "Frances", "John", None)
LAST = ("Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Hamilton", "Thompson", "Allen", None)
CITIES = (("London", "GB"), ("Paris", "FR"), ("Berlin", "DE"), ("Austin", "US"), ("Osaka", "JP"))
PLANS = ("free", "pro", "team")


def rows(count: int, password_hash: str, start: datetime, seed: int) -> Iterator[tuple[Any, ...]]:
    """Deterministic users spread over a year of sign-ups, ~5% inactive, ~1% soft-deleted."""
    rng = random.Random(seed)  # noqa: S311 - fixture data, not security
    step = timedelta(days=365) / max(count, 1)
    for n in range(count):
        created = start + step * n
        city, country = CITIES[n % len(CITIES)]
        deleted = created + timedelta(days=1) if n % 100 == 99 else None
        yield (
            uuid_utils.uuid7(),
            f"user{n:07d}@{'example' if n % 3 else 'corp'}.com",
            password_hash,
            rng.choice(FIRST),
            rng.choice(LAST),
            None,
            date(1950, 1, 1) + timedelta(days=rng.randrange(20_000)) if n % 4 else None,
            None,
            json.dumps({"street": None, "city": city, "state": None, "zip_code": None, "country": country}),
            json.dumps({"plan": PLANS[n % len(PLANS)], "theme": "dark" if n % 2 else "light"}),
            "admin" if n % 1000 == 0 else "user",
            n % 20 != 0,
            deleted,
            created,
            created,
        )


async def copy_connection(database_url: str) -> asyncpg.Connection:
    """An asyncpg connection to ``database_url`` that COPYs ``jsonb`` columns from JSON text."""
    url = make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
    connection = await asyncpg.connect(url)
    # COPY is binary: jsonb's binary form is a version byte (1) followed by the JSON text.
    await connection.set_type_codec(
        "jsonb",
        encoder=lambda text: b"\x01" + text.encode(),
        decoder=lambda data: json.loads(data[1:]),
        schema="pg_catalog",
        format="binary",
    )
    return connection


async def seed(database_url: str, count: int) -> float:
    password_hash = PasswordHasher().hash(SEED_PASSWORD)
    start = datetime(2025, 1, 1, tzinfo=UTC)
    connection = await copy_connection(database_url)
    began = time.perf_counter()
    try:
        generated = rows(count, password_hash, start, seed=count)
        for offset in range(0, count, BATCH):
            batch = [next(generated) for _ in range(min(BATCH, count - offset))]
            await connection.copy_records_to_table("users", records=batch, columns=COLUMNS)
        await connection.execute("ANALYZE users")
    finally:
        await connection.close()
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("count", type=int, nargs="?", default=1_000_000)
    args = parser.parse_args()
    settings = load_settings()
    if not settings.database_url.startswith("postgresql"):
        raise SystemExit("Seeding uses COPY: set DATABASE_URL to a PostgreSQL database (migrated).")
    elapsed = asyncio.run(seed(settings.database_url, args.count))
    print(f"seeded {args.count} users in {elapsed:.1f} s")


if __name__ == "__main__":
    main()
