"""Work that starves others: a bulk create's passwords are hashed beside sign-ins, never ahead of
them, and a bulk create may carry at most ``BULK_MAX_PASSWORDS`` passwords, so that it ends in
bounded time (a thousand would take minutes)."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.bootstrap import Container
from app.infrastructure.config import Settings
from tests.e2e.conftest import ADMIN_EMAIL
from tests.e2e.helpers import (
    PASSWORD,
    Client,
    assert_problem,
    bearer,
    deployed_hashing,
    sign_in,
    sign_up,
)
from tests.support.processes import running, server_env

BULK = "/api/v1/users/bulk"
#: Sign-ins timed with nothing else running; the first of them warms up and is not counted.
ALONE_ROUNDS = 6
#: A sign-in shares the cores with one batch hash at most: about twice as long as alone, plus noise.
FAIRNESS_BOUND = 3.0


def bulk_items(prefix: str, with_password: int, without_password: int = 0) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = [
        {"email": f"{prefix}{i}@example.com", "password": PASSWORD} for i in range(with_password)
    ]
    return items + [{"email": f"{prefix}-n{i}@example.com"} for i in range(without_password)]


def assert_too_many_passwords(response: httpx.Response, limit: int, carried: int) -> None:
    body = assert_problem(response, 422, "validation_failed")
    assert body["errors"] == [
        {"field": "items", "message": f"At most {limit} items of a bulk create may carry a password; {carried} do"}
    ]


@pytest.mark.parametrize(
    ("with_password", "without_password"),
    [(1, 0), (0, 1), ("limit+1", 0), ("limit+1", 500), ("limit+1", "rest"), (1000, 0)],
)
async def test_bulk_passwords_over_the_limit_are_refused_up_front_and_nothing_is_written(
    client: Client, admin: dict[str, str], settings: Settings, with_password: int | str, without_password: int | str
) -> None:
    """Every size over the limit, up to the contract's 1,000 items, gets the same 422 naming ``items``."""
    limit = settings.bulk_max_passwords
    carried = limit + 1 if with_password == "limit+1" else int(with_password)
    others = 1000 - carried if without_password == "rest" else int(without_password)
    items = bulk_items("over", carried, others)

    response = await client.post(BULK, json={"items": items}, headers=bearer(admin))

    if carried <= limit:
        assert response.status_code == 201, response.text
        return
    assert_too_many_passwords(response, limit, carried)
    listed = await client.get("/api/v1/users", params={"email__startswith": "over"}, headers=bearer(admin))
    assert listed.json()["total"] == 0


async def test_bulk_passwords_at_the_limit_in_a_thousand_items_are_created_and_each_can_sign_in(
    client: Client, admin: dict[str, str], settings: Settings
) -> None:
    limit = settings.bulk_max_passwords
    items = bulk_items("at", limit, 1000 - limit)

    response = await client.post(BULK, json={"items": items}, headers=bearer(admin))

    assert response.status_code == 201, response.text
    assert len(response.json()["items"]) == 1000
    for i in range(limit):
        await sign_in(client, f"at{i}@example.com")


async def timed_sign_in(client: httpx.AsyncClient, email: str) -> float:
    started = time.perf_counter()
    response = await client.post("/api/v1/auth/tokens", json={"email": email, "password": PASSWORD})
    elapsed = time.perf_counter() - started
    assert response.status_code == 200, response.text
    return elapsed


@pytest.mark.alone
async def test_a_sign_in_during_bulk_hashing_waits_about_one_hash(
    database_url: str, container: Container, tmp_path: Path, record_property: Callable[[str, object], None]
) -> None:
    """``just serve`` at the deployed argon2 cost; two bulk creates at the password limit run at
    once while sign-ins are timed: each takes about one hash longer than alone (it shares the
    cores with one batch hash), not the batches' dozens of hashes. Ratios, not absolute times:
    this machine is shared."""
    env = server_env(database_url, **deployed_hashing(), RATE_LIMIT_AUTH="1000/minute")
    limit = container.settings.bulk_max_passwords
    await container.users.create_admin(ADMIN_EMAIL, PASSWORD)
    async with running("serve", env, tmp_path) as server:
        server.timeout = httpx.Timeout(120)
        admin = await sign_in(server, ADMIN_EMAIL)
        await sign_up(server, "ada@example.com")  # hashed by the server: at the deployed cost
        alone = statistics.median([await timed_sign_in(server, "ada@example.com") for _ in range(ALONE_ROUNDS)][1:])

        started = time.perf_counter()
        bulks = [
            asyncio.create_task(server.post(BULK, json={"items": bulk_items(name, limit)}, headers=bearer(admin)))
            for name in ("first", "second")
        ]
        await asyncio.sleep(alone)  # the batches' hashes are under way
        during: list[float] = []
        while not all(bulk.done() for bulk in bulks):
            during.append(await timed_sign_in(server, "ada@example.com"))
        bulk_seconds = time.perf_counter() - started
        responses = await asyncio.gather(*bulks)

        refused_at = time.perf_counter()
        over = await server.post(BULK, json={"items": bulk_items("over", limit + 1)}, headers=bearer(admin))
        refused_in = time.perf_counter() - refused_at

    assert [r.status_code for r in responses] == [201, 201], [r.text for r in responses]
    record_property(
        "sign_in_ms",
        {"alone": round(alone * 1000), "during_bulk_median": round(statistics.median(during) * 1000)},
    )
    record_property("bulk_seconds", round(bulk_seconds, 1))
    assert len(during) >= 3, f"only {len(during)} sign-ins while {2 * limit} passwords were hashed"
    assert statistics.median(during) <= FAIRNESS_BOUND * alone, (alone, during)
    # The batches really were the work of many hashes, one at a time.
    assert bulk_seconds >= limit * alone, (bulk_seconds, alone)
    assert_too_many_passwords(over, limit, limit + 1)
    assert refused_in < alone, "refused only after hashing"
