"""``just seed-tasks`` and ``just bench-task-listing`` at a tiny size: the rows they make and the pages they time."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import datetime
from uuid import UUID

import pytest
from sqlalchemy import text

from app.application.listing import parse_list_query
from app.application.tasks.listing import TASK_LISTING
from app.bootstrap import Container
from app.infrastructure.config import Settings
from app.infrastructure.db.tasks.listing import SqlTaskListing
from app.infrastructure.db.tenancy import scope_statement
from bench.scenarios import TASKS_IN_PROCESS, Targets, TaskListingScenario
from bench.seed_tasks import LARGEST_SLUG, MEMBER_ROLES, organization_sizes, seed_tasks
from bench.task_listing import FIRST_PAGE, Tenant, cursor_at, largest_organization, measure

TASKS, ORGANIZATIONS = 200, 3
#: The benchmark's first page, in pages small enough for the tiny seed to hold several.
SMALL_PAGES = {**FIRST_PAGE, "limit": "5"}


@pytest.fixture
async def tenant(container: Container, database_url: str) -> Tenant:
    await seed_tasks(database_url, TASKS, ORGANIZATIONS)
    return await largest_organization(container)


@pytest.mark.parametrize(("tasks", "organizations"), [(200, 3), (1_000_000, 1_000), (7, 7), (0, 2)])
def test_sizes_are_zipf_like_and_add_up(tasks: int, organizations: int) -> None:
    sizes = organization_sizes(tasks, organizations)

    assert sum(sizes) == tasks
    assert sizes == sorted(sizes, reverse=True)
    assert all(abs(size * rank - sizes[0]) <= rank + 1 for rank, size in enumerate(sizes, start=1))


async def test_the_seed_makes_every_organization_its_members_and_its_tasks(
    container: Container, tenant: Tenant
) -> None:
    sizes = organization_sizes(TASKS, ORGANIZATIONS)
    async with container.engine.connect() as connection:
        organizations = (await connection.execute(text("SELECT id, slug FROM organizations ORDER BY slug"))).all()
        members = await connection.scalar(text("SELECT count(*) FROM memberships"))
        forced = await connection.scalar(text("SELECT relforcerowsecurity FROM pg_class WHERE relname = 'tasks'"))
    counts = []
    for organization_id, _ in organizations:
        async with container.engine.begin() as connection:
            await connection.execute(scope_statement(organization_id))
            counts.append(await connection.scalar(text("SELECT count(*) FROM tasks")))

    assert (organizations[0].slug, organizations[0].id) == (LARGEST_SLUG, tenant.organization_id)
    assert (len(organizations), members) == (ORGANIZATIONS, ORGANIZATIONS * len(MEMBER_ROLES))
    assert counts == sizes == [109, 55, 36]
    assert forced is True


async def test_the_benchmark_pages_are_the_listing_a_member_gets(container: Container, tenant: Tenant) -> None:
    expected = await _todo_by_due_at_descending(container, tenant.organization_id)
    first = await container.tasks.list(tenant.member_id, tenant.organization_id, _query(SMALL_PAGES))
    deep_cursor = await cursor_at(container, tenant, SMALL_PAGES, depth=3)
    deep = await container.tasks.list(
        tenant.member_id, tenant.organization_id, _query({**SMALL_PAGES, "cursor": deep_cursor})
    )

    assert [task.id for task in first.items] == expected[:5]
    assert [task.id for task in deep.items] == expected[15:20]
    assert len(expected) > 20


async def test_the_benchmark_times_both_pages_with_and_without_the_policy(container: Container, tenant: Tenant) -> None:
    deep = {**SMALL_PAGES, "cursor": await cursor_at(container, tenant, SMALL_PAGES, depth=2)}

    for params in (SMALL_PAGES, deep):
        measured = await measure(container, tenant, "page", params, rounds=3)

        assert measured.rows == 6  # a page and the row that tells a next page exists
        assert 0 < measured.median_ms <= measured.p95_ms
        assert measured.rls_on_sql_ms > 0
        assert measured.rls_off_sql_ms > 0
        assert measured.scope_ms > 0
        # The policy shows in the plan only where it applies.
        assert "current_setting" in "\n".join(measured.plan_rls_on)
        assert "current_setting" not in "\n".join(measured.plan_rls_off)
    async with container.engine.connect() as connection:
        forced = await connection.scalar(text("SELECT relforcerowsecurity FROM pg_class WHERE relname = 'tasks'"))
    assert forced is True


async def test_just_bench_times_the_pages_through_the_use_case(settings: Settings, database_url: str) -> None:
    await seed_tasks(database_url, 1_000, 2)  # the largest organization holds over 5 pages of to-do tasks
    targets = Targets("", settings, "", "", "", "", "", "", "")

    measured = await asyncio.to_thread(TaskListingScenario(depth=2).run, targets, 0.2)

    assert [name for name, _ in measured] == [
        f"{TASKS_IN_PROCESS} first page, status=todo, -due_at",
        f"{TASKS_IN_PROCESS} cursor page at depth 2, status=todo, -due_at",
    ]
    for _, result in measured:
        assert (result.operations, result.errors) == (10, 0)
        assert result.p50_ms is not None
        assert result.p99_ms is not None
        assert 0 < result.p50_ms <= result.p99_ms
        assert result.cpu_ms is not None


async def test_the_deep_page_seeks_the_due_at_index(container: Container, tenant: Tenant) -> None:
    """Descending over a nullable key, the cursor is one row comparison: an index condition, not a filter."""
    params = {**SMALL_PAGES, "cursor": await cursor_at(container, tenant, SMALL_PAGES, depth=2)}
    listing = container.tasks.listing
    assert isinstance(listing, SqlTaskListing)
    query = parse_list_query(_query(params), TASK_LISTING, container.tasks.cursors)
    statement = listing.statement(tenant.organization_id, query)
    literal = statement.compile(container.engine, compile_kwargs={"literal_binds": True})

    async with container.engine.connect() as connection, connection.begin():
        # The table is tiny: forbid what a planner would rightly prefer for it, and see whether
        # the page can be read from the index, in order, without a sort.
        await connection.execute(text("SET LOCAL enable_seqscan = off"))
        await connection.execute(text("SET LOCAL enable_bitmapscan = off"))
        await connection.execute(scope_statement(tenant.organization_id))
        plan = "\n".join(row[0] for row in await connection.execute(text(f"EXPLAIN {literal}")))

    assert "Index Scan Backward using ix_tasks_organization_id_due_at" in plan, plan
    assert "ROW(due_at, id) < ROW(" in plan.partition("Index Cond:")[2].partition("\n")[0], plan
    assert "Sort" not in plan, plan


async def _todo_by_due_at_descending(container: Container, organization_id: UUID) -> list[UUID]:
    """The live to-do tasks in the contract's order, computed apart from the listing: NULL first, then
    the latest due date, ties by id descending."""
    async with container.engine.connect() as connection, connection.begin():
        await connection.execute(scope_statement(organization_id))
        rows = (
            await connection.execute(text("SELECT id, due_at FROM tasks WHERE status = 'todo' AND deleted_at IS NULL"))
        ).all()

    ordered = sorted(rows, key=lambda row: (row.due_at is None, row.due_at or datetime.min, row.id), reverse=True)
    return [row.id for row in ordered]


def _query(params: Mapping[str, str]) -> dict[str, list[str]]:
    return {name: [value] for name, value in params.items()}
