"""Tasks listing latency under row-level security: ``just bench-task-listing`` (after ``just seed-tasks``).

Measured like ``just bench-listing``, in-process, in the largest organization (``bench.seed_tasks``):

1. **Through the use case**, as a member of the organization: ``TaskUseCases.list`` checks the
   membership, then reads the page in a transaction scoped to the organization (the
   ``app_tenant`` role, so the policy applies). Each scenario runs ``--rounds`` times after
   a warm-up; the median and p95 elapsed time and the median CPU time of the process per
   page are printed. The goal is a median under 20 ms.
2. **The cost of row-level security itself**: the page's very statement, alternately with the
   policy on (the transaction scoped, as served) and off (the table owner with FORCE lifted,
   or a superuser, who bypass it), the median elapsed time of each and both plans
   (``EXPLAIN ANALYZE``). It all happens in one transaction that is rolled back, so the
   lifted FORCE is never seen by anyone else and never outlives the run.

The deep page is the cursor page a client holds after ``--depth`` pages of 50 in the same
filter and order, found with one offset page (a cursor ignores offset and limit).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict, dataclass, field
from functools import partial
from typing import Any
from uuid import UUID

from sqlalchemy import Executable, Select, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from app.application.listing import parse_list_query
from app.application.tasks.listing import TASK_LISTING
from app.bootstrap import Container, build_container
from app.infrastructure.config import Settings, load_settings
from app.infrastructure.db.organizations.models import MembershipModel, OrganizationModel
from app.infrastructure.db.tasks.listing import SqlTaskListing
from app.infrastructure.db.tenancy import scope_statement
from bench.report import Goal, goals_table
from bench.seed_tasks import LARGEST_SLUG

PAGE = 50
#: The first page of the issue: one status, latest due date first (no due date sorts as latest).
FIRST_PAGE = {"status": "todo", "order_by": "-due_at", "limit": str(PAGE), "with_total": "false"}
GOAL_MS = 20.0
#: Pages of 50 before the cursor page measured: 25,000 rows deep.
DEPTH = 500
WARM_UP = 3
#: As the listing runs its statements: planned for the values of each execution.
_CUSTOM_PLANS = text("SET LOCAL plan_cache_mode = force_custom_plan")


@dataclass(frozen=True, slots=True)
class Tenant:
    organization_id: UUID
    member_id: UUID


@dataclass(frozen=True, slots=True)
class Measured:
    scenario: str
    median_ms: float
    p95_ms: float
    cpu_median_ms: float
    rls_on_sql_ms: float
    rls_off_sql_ms: float
    #: The statement that scopes a transaction (the role and the organization): once per transaction served.
    scope_ms: float
    rows: int
    plan_rls_on: list[str]
    plan_rls_off: list[str]


async def run(rounds: int, depth: int) -> list[Measured]:
    container = build_container(load_settings())
    try:
        tenant = await largest_organization(container)
        scenarios = await pages(container, tenant, depth)
        return [await measure(container, tenant, name, params, rounds) for name, params in scenarios.items()]
    finally:
        await container.close()


async def pages(container: Container, tenant: Tenant, depth: int) -> dict[str, dict[str, str]]:
    """The two pages of the issue, by name: the first, and the cursor page after ``depth`` pages."""
    deep = {**FIRST_PAGE, "cursor": await cursor_at(container, tenant, FIRST_PAGE, depth)}
    return {"first page, status=todo, -due_at": FIRST_PAGE, f"cursor page at depth {depth}, status=todo, -due_at": deep}


def use_case_timings(settings: Settings, depth: int, rounds: int) -> dict[str, tuple[list[float], list[float]]]:
    """Elapsed and CPU milliseconds of each call of the use case, per page (``just bench``'s tasks rows)."""

    async def timings() -> dict[str, tuple[list[float], list[float]]]:
        container = build_container(settings)
        try:
            tenant = await largest_organization(container)
            listed = partial(container.tasks.list, tenant.member_id, tenant.organization_id)
            return {
                name: await _timed(partial(listed, _query(params)), rounds)
                for name, params in (await pages(container, tenant, depth)).items()
            }
        finally:
            await container.close()

    return asyncio.run(timings())


async def largest_organization(container: Container) -> Tenant:
    """The seed's largest organization and its first member (the owner)."""
    owner = (
        select(OrganizationModel.id, MembershipModel.user_id)
        .join(MembershipModel, MembershipModel.organization_id == OrganizationModel.id)
        .where(OrganizationModel.slug == LARGEST_SLUG, MembershipModel.role == "owner")
    )
    async with container.engine.connect() as connection:
        row = (await connection.execute(owner)).first()
    if row is None:
        raise SystemExit(f"No organization {LARGEST_SLUG!r}: run `just seed-tasks` first.")
    return Tenant(row[0], row[1])


async def cursor_at(container: Container, tenant: Tenant, params: Mapping[str, str], depth: int) -> str:
    """The ``next_cursor`` after ``depth`` pages of ``params``, read from the offset page that ends there."""
    offset = {"offset": str((depth - 1) * int(params["limit"]))}
    page = await container.tasks.list(tenant.member_id, tenant.organization_id, _query({**params, **offset}))
    if page.next_cursor is None:
        raise SystemExit(f"The largest organization has fewer than {depth} pages of {params}.")
    return page.next_cursor


async def measure(container: Container, tenant: Tenant, name: str, params: Mapping[str, str], rounds: int) -> Measured:
    elapsed, cpu = await _timed(
        lambda: container.tasks.list(tenant.member_id, tenant.organization_id, _query(params)), rounds
    )
    listing = container.tasks.listing
    if not isinstance(listing, SqlTaskListing):
        raise SystemExit("The tasks listing is not the SQL one: set DATABASE_URL to the seeded PostgreSQL database.")
    statement = listing.statement(
        tenant.organization_id, parse_list_query(_query(params), TASK_LISTING, container.tasks.cursors)
    )
    policy = await _with_and_without_policy(container, tenant, statement, rounds)
    return Measured(
        scenario=name,
        median_ms=round(statistics.median(elapsed), 2),
        p95_ms=round(statistics.quantiles(elapsed, n=20)[-1], 2),
        cpu_median_ms=round(statistics.median(cpu), 2),
        rls_on_sql_ms=round(statistics.median(policy.on_ms), 3),
        rls_off_sql_ms=round(statistics.median(policy.off_ms), 3),
        scope_ms=round(statistics.median(policy.scope_ms), 3),
        rows=policy.rows,
        plan_rls_on=policy.plan_on,
        plan_rls_off=policy.plan_off,
    )


async def _timed(call: Callable[[], Awaitable[object]], rounds: int) -> tuple[list[float], list[float]]:
    """Elapsed and CPU milliseconds of each call after the warm-up."""
    elapsed, cpu = [], []
    for attempt in range(WARM_UP + rounds):
        started, cpu_started = time.perf_counter(), time.process_time()
        await call()
        if attempt >= WARM_UP:
            elapsed.append((time.perf_counter() - started) * 1000)
            cpu.append((time.process_time() - cpu_started) * 1000)
    return elapsed, cpu


@dataclass(slots=True)
class _PolicyCost:
    on_ms: list[float] = field(default_factory=list)
    off_ms: list[float] = field(default_factory=list)
    scope_ms: list[float] = field(default_factory=list)
    rows: int = 0
    plan_on: list[str] = field(default_factory=list)
    plan_off: list[str] = field(default_factory=list)


async def _with_and_without_policy(
    container: Container, tenant: Tenant, statement: Select[Any], rounds: int
) -> _PolicyCost:
    """The statement alternately under the policy and past it, in one transaction rolled back at the end."""
    cost = _PolicyCost()
    scope = scope_statement(tenant.organization_id)
    async with container.engine.connect() as connection:
        transaction = await connection.begin()
        try:
            await connection.execute(text("ALTER TABLE tasks NO FORCE ROW LEVEL SECURITY"))
            await connection.execute(_CUSTOM_PLANS)
            for attempt in range(WARM_UP + rounds):
                scope_ms, _ = await _execute(connection, scope)
                on_ms, on_rows = await _execute(connection, statement)
                await connection.execute(text("RESET ROLE"))
                off_ms, off_rows = await _execute(connection, statement)
                if on_rows != off_rows:
                    raise SystemExit("The statement returned other rows with the policy than without it.")
                if attempt >= WARM_UP:
                    cost.scope_ms.append(scope_ms)
                    cost.on_ms.append(on_ms)
                    cost.off_ms.append(off_ms)
                    cost.rows = len(on_rows)
            literal = statement.compile(container.engine, compile_kwargs={"literal_binds": True})
            explain = text(f"EXPLAIN (ANALYZE, COSTS OFF) {literal}")
            await connection.execute(scope)
            cost.plan_on = [row[0] for row in await connection.execute(explain)]
            await connection.execute(text("RESET ROLE"))
            cost.plan_off = [row[0] for row in await connection.execute(explain)]
        finally:
            await transaction.rollback()
    return cost


async def _execute(connection: AsyncConnection, statement: Executable) -> tuple[float, list[Any]]:
    started = time.perf_counter()
    rows = list((await connection.execute(statement)).all())
    return (time.perf_counter() - started) * 1000, rows


def _query(params: Mapping[str, str]) -> dict[str, list[str]]:
    return {name: [value] for name, value in params.items()}


def goals(results: list[Measured]) -> list[Goal]:
    return [
        Goal(f"tasks {r.scenario}: median < {GOAL_MS:g} ms", r.median_ms, GOAL_MS, at_least=False, unit=" ms")
        for r in results
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--depth", type=int, default=DEPTH, help="pages of 50 before the cursor page")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()
    results = asyncio.run(run(args.rounds, args.depth))
    for result in results:
        print(
            f"{result.median_ms:>9.2f} ms median {result.p95_ms:>9.2f} ms p95 {result.cpu_median_ms:>7.2f} ms CPU  "
            f"{result.scenario}\n"
            f"          SQL alone, median: {result.rls_on_sql_ms:.3f} ms with the policy, "
            f"{result.rls_off_sql_ms:.3f} ms without ({result.rows} rows); "
            f"scoping the transaction: {result.scope_ms:.3f} ms"
        )
        for label, plan in (("policy on", result.plan_rls_on), ("policy off", result.plan_rls_off)):
            print(f"      {label}:")
            print("\n".join(f"        {line}" for line in plan))
    print(f"\n{goals_table(goals(results))}")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump([asdict(result) for result in results], handle, indent=2)


if __name__ == "__main__":
    main()
