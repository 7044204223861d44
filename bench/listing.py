"""Listing latency on a large table: ``just bench-listing`` (after ``just seed``).

Requests go through the whole application in-process (authentication, parsing, SQL,
serialization) with no network in between, so the figures are the server's own time.
Each scenario runs ``--rounds`` times after a warm-up; medians and p95 are printed with
the PostgreSQL plan of the statement behind the scenario, and the median CPU time of the
process per request (what a page costs the server, whatever the machine's load makes of
the elapsed time).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from dataclasses import dataclass
from typing import Any

from httpx import ASGITransport, AsyncClient
from sqlalchemy import select, text

from app.application.auth.dto import ClientInfo
from app.application.listing import CursorCodec, parse_list_query
from app.application.users.listing import USER_LISTING
from app.bootstrap import build_container
from app.infrastructure.config import load_settings
from app.infrastructure.db.models import UserModel
from app.infrastructure.db.user_listing import SqlUserListing
from app.interfaces.http.app import create_app

ADMIN = ("bench-admin@example.com", "bench admin password")


@dataclass(frozen=True)
class Scenario:
    name: str
    params: dict[str, str]


async def run(rounds: int, depth: int) -> list[dict[str, Any]]:
    settings = load_settings()
    container = build_container(settings)
    app = create_app(settings, container)
    await container.users.create_admin(*ADMIN)
    tokens = await container.auth.issue_tokens(*ADMIN, ClientInfo())
    headers = {"Authorization": f"Bearer {tokens.access_token}"}
    cursors: CursorCodec = container.administration.cursors
    deep_cursor = await _cursor_at(container.engine, cursors, depth)
    scenarios = [
        Scenario("first page, email__ilike (common) + is_active, -created_at", {
            "email__ilike": "corp", "is_active": "true", "order_by": "-created_at", "with_total": "false"}),
        Scenario("first page, email__ilike (rare) + is_active, -created_at", {
            "email__ilike": "user00012", "is_active": "true", "order_by": "-created_at", "with_total": "false"}),
        Scenario(f"cursor page at depth {depth:,}, -created_at", {
            "order_by": "-created_at", "cursor": deep_cursor, "with_total": "false"}),
        Scenario(f"offset page at offset {depth:,}, -created_at (contrast)", {
            "order_by": "-created_at", "offset": str(depth), "with_total": "false"}),
        Scenario("first page, -created_at, with_total=true", {"order_by": "-created_at", "with_total": "true"}),
        Scenario("first page, meta.plan=pro, -created_at", {"meta.plan": "pro", "with_total": "false"}),
    ]  # fmt: skip
    results = []
    transport = ASGITransport(app=app)  # type: ignore[arg-type]
    async with AsyncClient(transport=transport, base_url="http://bench") as client:
        for scenario in scenarios:
            timings, cpu = [], []
            for attempt in range(rounds + 3):
                started, cpu_started = time.perf_counter(), time.process_time()
                response = await client.get("/api/v1/users", params={"limit": "50", **scenario.params}, headers=headers)
                elapsed = (time.perf_counter() - started) * 1000
                cpu_elapsed = (time.process_time() - cpu_started) * 1000
                if response.status_code != 200:
                    raise SystemExit(f"{scenario.name}: {response.status_code} {response.text}")
                if attempt >= 3:
                    timings.append(elapsed)
                    cpu.append(cpu_elapsed)
            plan = await _plan(container, cursors, scenario.params)
            results.append(
                {
                    "scenario": scenario.name,
                    "median_ms": round(statistics.median(timings), 2),
                    "p95_ms": round(statistics.quantiles(timings, n=20)[-1], 2),
                    "cpu_median_ms": round(statistics.median(cpu), 2),
                    "rounds": rounds,
                    "plan": plan,
                }
            )
    await container.close()
    return results


async def _cursor_at(engine: Any, cursors: CursorCodec, depth: int) -> str:
    """A genuine cursor for the row at ``depth`` in -created_at order, without walking 10,000 pages."""
    query = parse_list_query({"order_by": ["-created_at"]}, USER_LISTING, cursors)
    async with engine.connect() as connection:
        row = (
            await connection.execute(
                select(UserModel.created_at, UserModel.id)
                .where(UserModel.deleted_at.is_(None))
                .order_by(UserModel.created_at.desc(), UserModel.id.desc())
                .offset(depth - 1)
                .limit(1)
            )
        ).one()
    return cursors.encode(query, (row.created_at, row.id))


async def _plan(container: Any, cursors: CursorCodec, params: dict[str, str]) -> list[str]:
    """EXPLAIN ANALYZE of the page statement, with the values bound (a custom plan, as served)."""
    query = parse_list_query({k: [v] for k, v in {"limit": "50", **params}.items()}, USER_LISTING, cursors)
    base = select(UserModel.__table__.c.id).where(UserModel.deleted_at.is_(None))
    listing: SqlUserListing = container.administration.listing
    statement = listing.rows.statement(base, query)
    compiled = statement.compile(container.engine, compile_kwargs={"literal_binds": True})
    async with container.engine.connect() as connection:
        rows = await connection.execute(text(f"EXPLAIN (ANALYZE, COSTS OFF) {compiled}"))
        return [row[0] for row in rows]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--depth", type=int, default=500_000)
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()
    results = asyncio.run(run(args.rounds, args.depth))
    for result in results:
        print(
            f"{result['median_ms']:>9.2f} ms median {result['p95_ms']:>9.2f} ms p95 "
            f"{result['cpu_median_ms']:>7.2f} ms CPU  {result['scenario']}"
        )
        for line in result["plan"]:
            print(f"      {line}")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(results, handle, indent=2)


if __name__ == "__main__":
    main()
