"""Seed organizations, their members and their tasks with PostgreSQL COPY: ``just seed-tasks 1000000 1000``.

Sizes are skewed as tenants are: the organization of rank k holds a share of the tasks
proportional to 1/k (Zipf), so with the defaults the largest (slug ``seed-org-0001``,
:data:`LARGEST_SLUG`) holds about 134,000 tasks and the smallest about 130. Each
organization has :data:`MEMBER_ROLES` members (new accounts, all with the password
``SEED_PASSWORD`` of ``bench.seed``), who create the tasks and are assigned most of them.

**Row-level security.** ``tasks`` has FORCE ROW LEVEL SECURITY, and PostgreSQL refuses
``COPY FROM`` into a table whose policies apply to the copying role (it would have to
check each row against the policy). Scoping each organization's transaction to it, as the
service does, would therefore mean row-at-a-time INSERTs: minutes instead of seconds. So
the seed copies as the table's owner (the migrating role, as ``just seed`` connects) in
one transaction that lifts FORCE for its own duration and restores it before committing:
DDL is transactional and the ``ALTER TABLE`` holds its lock to the end, so no other
session ever sees the table unforced, and a failed seed leaves nothing behind. A
superuser bypasses the policies anyway; the ``ALTER`` then changes nothing.
Run it on a migrated database that has not been seeded with tasks before (slugs and
emails are fixed, so a second run fails on their unique indexes and leaves nothing).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import random
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg
import uuid_utils.compat as uuid_utils
from argon2 import PasswordHasher

from app.infrastructure.config import load_settings
from bench.seed import BATCH, SEED_PASSWORD, copy_connection
from bench.seed import COLUMNS as USER_COLUMNS

#: The members of every organization, by role; the first is who the benchmark lists as.
MEMBER_ROLES = ("owner", "admin", "member", "member", "member")
TASK_COLUMNS = (
    "id", "organization_id", "title", "description", "status", "priority", "assignee_id", "due_at", "tags", "meta",
    "created_by", "created_at", "updated_at", "completed_at", "deleted_at",
)  # fmt: skip
#: 40 % to do, 20 % in progress, 30 % done, 10 % canceled.
STATUS_MIX = ("todo",) * 4 + ("in_progress",) * 2 + ("done",) * 3 + ("canceled",)
PRIORITIES = ("low", "normal", "normal", "high", "urgent")
TAGS = ("billing", "backend", "frontend", "ops", "urgent", "customer", "q1", "q2", "docs", "bug")
SOURCES = ("crm", "email", "import", "api")
START = datetime(2025, 1, 1, tzinfo=UTC)
YEAR = timedelta(days=365)


def slug(rank: int) -> str:
    """The slug of the organization of this size rank (1 = the largest)."""
    return f"seed-org-{rank:04d}"


LARGEST_SLUG = slug(1)


@dataclass(frozen=True, slots=True)
class Organization:
    rank: int
    id: UUID
    members: tuple[UUID, ...]
    size: int


def organization_sizes(tasks: int, organizations: int) -> list[int]:
    """Zipf-like sizes (the k-th largest ∝ 1/k), largest first, summing to ``tasks`` exactly.

    Each share is rounded down and the tasks left over go to the largest remainders.
    """
    weights = [1 / rank for rank in range(1, organizations + 1)]
    exact = [tasks * weight / sum(weights) for weight in weights]
    sizes = [math.floor(share) for share in exact]
    by_remainder = sorted(range(organizations), key=lambda index: exact[index] - sizes[index], reverse=True)
    for index in by_remainder[: tasks - sum(sizes)]:
        sizes[index] += 1
    return sizes


def organizations_of(sizes: Sequence[int]) -> list[Organization]:
    return [
        Organization(rank, uuid_utils.uuid7(), tuple(uuid_utils.uuid7() for _ in MEMBER_ROLES), size)
        for rank, size in enumerate(sizes, start=1)
    ]


def user_rows(organizations: Sequence[Organization], password_hash: str) -> Iterator[tuple[Any, ...]]:
    """The members' accounts, in ``bench.seed``'s columns (emails apart from its ``user…@`` ones)."""
    for organization in organizations:
        for index, user_id in enumerate(organization.members):
            email = f"org{organization.rank:04d}-{index}@tasks.example.com"
            yield (user_id, email, password_hash, f"Member {index}", f"Org {organization.rank}", None, None, None,
                   None, "{}", "user", True, None, START, START)  # fmt: skip


def organization_rows(organizations: Sequence[Organization]) -> Iterator[tuple[Any, ...]]:
    for organization in organizations:
        yield organization.id, f"Seeded organization {organization.rank}", slug(organization.rank), START, START


def membership_rows(organizations: Sequence[Organization]) -> Iterator[tuple[Any, ...]]:
    for organization in organizations:
        for user_id, role in zip(organization.members, MEMBER_ROLES, strict=True):
            yield organization.id, user_id, role, START


def task_rows(organization: Organization, rng: random.Random) -> Iterator[tuple[Any, ...]]:
    """One organization's tasks over a year: 80 % with a due date, 70 % assigned, 1 % soft-deleted."""
    step = YEAR / max(organization.size, 1)
    for n in range(organization.size):
        created = START + step * n
        status = rng.choice(STATUS_MIX)
        due = created + timedelta(hours=rng.randrange(-720, 2880)) if rng.random() < 0.8 else None
        yield (
            uuid_utils.uuid7(),
            organization.id,
            f"Task {n} of organization {organization.rank}",
            "Seeded for the listing benchmark" if n % 4 == 0 else None,
            status,
            rng.choice(PRIORITIES),
            rng.choice(organization.members) if rng.random() < 0.7 else None,
            due,
            rng.sample(TAGS, rng.choice((0, 1, 1, 2, 3))),
            json.dumps({"source": rng.choice(SOURCES)}),
            rng.choice(organization.members),
            created,
            created,
            created + timedelta(days=1) if status == "done" else None,
            created + timedelta(days=2) if n % 100 == 99 else None,
        )


async def seed_tasks(database_url: str, tasks: int, organizations: int) -> float:
    """Seed and ANALYZE; the seconds it took."""
    seeded = organizations_of(organization_sizes(tasks, organizations))
    rng = random.Random(tasks)  # noqa: S311 - fixture data, not security
    connection = await copy_connection(database_url)
    began = time.perf_counter()
    try:
        async with connection.transaction():
            await connection.execute("ALTER TABLE tasks NO FORCE ROW LEVEL SECURITY")
            password_hash = PasswordHasher().hash(SEED_PASSWORD)
            await _copy(connection, "users", USER_COLUMNS, user_rows(seeded, password_hash))
            organization_columns = ("id", "name", "slug", "created_at", "updated_at")
            await _copy(connection, "organizations", organization_columns, organization_rows(seeded))
            membership_columns = ("organization_id", "user_id", "role", "joined_at")
            await _copy(connection, "memberships", membership_columns, membership_rows(seeded))
            every_task = (row for organization in seeded for row in task_rows(organization, rng))
            await _copy(connection, "tasks", TASK_COLUMNS, every_task)
            await connection.execute("ALTER TABLE tasks FORCE ROW LEVEL SECURITY")
        await connection.execute("ANALYZE users, organizations, memberships, tasks")
    finally:
        await connection.close()
    return time.perf_counter() - began


async def _copy(
    connection: asyncpg.Connection, table: str, columns: Sequence[str], rows: Iterator[tuple[Any, ...]]
) -> None:
    """COPY ``rows`` in batches of ``BATCH``: a million rows never sit in memory at once."""
    while batch := [row for _, row in zip(range(BATCH), rows, strict=False)]:
        await connection.copy_records_to_table(table, records=batch, columns=columns)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tasks", type=int, nargs="?", default=1_000_000)
    parser.add_argument("organizations", type=int, nargs="?", default=1_000)
    args = parser.parse_args()
    if not 1 <= args.organizations <= 9_999 or args.tasks < 0:
        raise SystemExit("Between 1 and 9,999 organizations, and a number of tasks that is not negative.")
    settings = load_settings()
    if not settings.database_url.startswith("postgresql"):
        raise SystemExit("Seeding uses COPY: set DATABASE_URL to a PostgreSQL database (migrated).")
    elapsed = asyncio.run(seed_tasks(settings.database_url, args.tasks, args.organizations))
    print(f"seeded {args.tasks} tasks in {args.organizations} organizations in {elapsed:.1f} s")


if __name__ == "__main__":
    main()
