"""Listing SQL on real PostgreSQL and on a migrated SQLite file: filters, NULLs, keyset and offset pages.

Both databases run every shared test and must give the same answers; a test that needs
concurrent writers runs on PostgreSQL only.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest
from alembic import command
from sqlalchemy import Row as ResultRow
from sqlalchemy import delete, event, func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.application.listing import CursorCodec, FieldKind, FieldSpec, Ordering, ResourceSpec, parse_list_query
from app.application.users.listing import USER_LISTING
from app.bootstrap import Container
from app.infrastructure.db.engine import create_engine
from app.infrastructure.db.listing import SqlListing
from app.infrastructure.db.models import UserModel
from tests.conftest import alembic_config, make_settings

CURSORS = CursorCodec(b"listing-test-key" * 2)
T0 = datetime(2026, 1, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)

Params = Mapping[str, str | Sequence[str]]
Row = dict[str, Any]


# --------------------------------------------------------------------------- databases


@pytest.fixture(scope="module")
async def sqlite_engine(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[AsyncEngine]:
    """A SQLite file migrated like a deployment's, shared by this module's tests."""
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('listing') / 'listing.db'}"
    await asyncio.to_thread(command.upgrade, alembic_config(url), "head")
    engine = create_engine(make_settings(url))
    yield engine
    await engine.dispose()


@pytest.fixture(params=["postgresql", "sqlite"])
async def engine(request: pytest.FixtureRequest, container: Container, sqlite_engine: AsyncEngine) -> AsyncEngine:
    """Each database, empty (PostgreSQL is emptied by the integration suite's autouse fixture)."""
    if request.param == "postgresql":
        return container.engine
    async with sqlite_engine.begin() as connection:
        await connection.execute(delete(UserModel))
    return sqlite_engine


def user(email: str, **fields: Any) -> Row:
    """Every column explicitly, so that executemany rows agree and order is under the test's control."""
    row: Row = {
        "id": uuid4(),
        "email": email,
        "password_hash": None,
        "first_name": None,
        "last_name": None,
        "phone": None,
        "birthday": None,
        "photo_url": None,
        "address": None,
        "meta": {},
        "role": "user",
        "is_active": True,
        "deleted_at": None,
        "created_at": T0,
        "updated_at": T0,
    }
    unknown = set(fields) - set(row)
    assert not unknown, unknown
    return {**row, **fields}


async def insert_users(engine: AsyncEngine, rows: Sequence[Row]) -> None:
    async with engine.begin() as connection:
        await connection.execute(insert(UserModel), list(rows))


async def page(engine: AsyncEngine, params: Params) -> tuple[list[ResultRow[Any]], int | None, str | None]:
    """One listing call as the users listing makes it: parse, then a page of live rows."""
    query = parse_list_query(params, USER_LISTING, CURSORS)
    base = select(UserModel.__table__).where(UserModel.deleted_at.is_(None))
    result = await listing(engine).page(base, query)
    return result.items, result.total, result.next_cursor


def listing(engine: AsyncEngine) -> SqlListing:
    return SqlListing(USER_LISTING, UserModel, engine, CURSORS)


async def emails(engine: AsyncEngine, params: Params) -> set[str]:
    items, total, _ = await page(engine, {**params, "limit": "500"})
    assert total == len(items)
    return {item.email for item in items}


def test_every_declared_field_has_a_column_of_the_users_table(container: Container) -> None:
    users = listing(container.engine)
    for name in USER_LISTING.fields:
        assert {str(table) for table in select(users.column(name)).get_final_froms()} == {"users"}, name
    for document in USER_LISTING.json_fields:
        assert {str(table) for table in select(users.column(f"{document}.key")).get_final_froms()} == {"users"}


# --------------------------------------------------------------------------- filters

ADA, ALAN, GRACE, EDSGER, NOBODY = (
    "ada@example.com",
    "alan@example.com",
    "grace@example.org",
    "e@example.net",
    "n@x.net",
)
EVERYONE = {ADA, ALAN, GRACE, EDSGER, NOBODY}
IDS = {email: UUID(f"0192f6f1-8a4c-7d3e-9b1a-00000000000{i}") for i, email in enumerate(sorted(EVERYONE))}
PEOPLE = [
    user(
        ADA,
        id=IDS[ADA],
        first_name="Ada",
        last_name="Lovelace",
        phone="+44 20 7946 0000",
        role="admin",
        birthday=date(1815, 12, 10),
        created_at=T0,
        updated_at=T0 + 24 * HOUR,
        address={"city": "London", "country": "GB"},
        meta={"plan": "pro", "theme": "Dark", "seats": 3, "beta": True},
    ),
    user(
        ALAN,
        id=IDS[ALAN],
        first_name="Alan",
        last_name="Turing",
        birthday=date(1912, 6, 23),
        created_at=T0 + HOUR,
        updated_at=T0 + HOUR,
        address={"city": "Wilmslow", "country": "GB"},
        meta={"plan": "free", "seats": 12, "beta": False},
    ),
    user(
        GRACE,
        id=IDS[GRACE],
        first_name="Grace",
        last_name="Hopper",
        phone="+1 555 0100",
        is_active=False,
        birthday=date(1906, 12, 9),
        created_at=T0 + 2 * HOUR,
        updated_at=T0 + 2 * HOUR,
        address={"city": "New York", "country": "US"},
        meta={"plan": "pro", "theme": "light"},
    ),
    user(EDSGER, id=IDS[EDSGER], last_name="Dijkstra", created_at=T0 + 3 * HOUR, meta={"plan": None}),
    user(NOBODY, id=IDS[NOBODY], created_at=T0 + 4 * HOUR, address={"city": None}),
]


def others(*excluded: str) -> set[str]:
    return EVERYONE - set(excluded)


FILTER_CASES: list[tuple[Params, set[str]]] = [
    # uuid
    ({"id": str(IDS[ADA])}, {ADA}),
    ({"id__ne": str(IDS[ADA])}, others(ADA)),
    ({"id__in": f"{IDS[ADA]},{IDS[GRACE]}"}, {ADA, GRACE}),
    ({"id__not_in": f"{IDS[ADA]},{IDS[GRACE]}"}, others(ADA, GRACE)),
    ({"id__isnull": "true"}, set()),
    ({"id__isnull": "false"}, EVERYONE),
    # string, never null
    ({"email": ADA}, {ADA}),
    ({"email__ne": ADA}, others(ADA)),
    ({"email__gt": EDSGER}, {GRACE, NOBODY}),
    ({"email__gte": EDSGER}, {EDSGER, GRACE, NOBODY}),
    ({"email__lt": "b"}, {ADA, ALAN}),
    ({"email__lte": ALAN}, {ADA, ALAN}),
    ({"email__in": f"{ADA},{NOBODY},missing@x.io"}, {ADA, NOBODY}),
    ({"email__not_in": f"{ADA},{NOBODY}"}, {ALAN, GRACE, EDSGER}),
    ({"email__like": "example.com"}, {ADA, ALAN}),
    ({"email__like": "EXAMPLE"}, set()),
    ({"email__ilike": "EXAMPLE.NET"}, {EDSGER}),
    ({"email__startswith": "a"}, {ADA, ALAN}),
    ({"email__startswith": "A"}, set()),
    ({"email__istartswith": "A"}, {ADA, ALAN}),
    ({"email__isnull": "true"}, set()),
    # string, nullable: ne / not_in include NULL, ranges never do
    ({"first_name": "Ada"}, {ADA}),
    ({"first_name__ne": "Ada"}, others(ADA)),
    ({"first_name__in": "Ada,Alan"}, {ADA, ALAN}),
    ({"first_name__not_in": "Ada,Alan"}, {GRACE, EDSGER, NOBODY}),
    ({"first_name__gt": "B"}, {GRACE}),
    ({"first_name__lte": "Alan"}, {ADA, ALAN}),
    ({"first_name__isnull": "true"}, {EDSGER, NOBODY}),
    ({"first_name__isnull": "false"}, {ADA, ALAN, GRACE}),
    ({"last_name__ilike": "O"}, {ADA, GRACE}),
    ({"last_name__like": "o"}, {ADA, GRACE}),
    ({"phone__startswith": "+44"}, {ADA}),
    ({"phone__isnull": "true"}, {ALAN, EDSGER, NOBODY}),
    # enum
    ({"role": "admin"}, {ADA}),
    ({"role__ne": "admin"}, others(ADA)),
    ({"role__in": "user"}, others(ADA)),
    ({"role__not_in": "user"}, {ADA}),
    ({"role__isnull": "false"}, EVERYONE),
    # bool
    ({"is_active": "false"}, {GRACE}),
    ({"is_active__ne": "true"}, {GRACE}),
    ({"is_active__in": "true,false"}, EVERYONE),
    ({"is_active__not_in": "true"}, {GRACE}),
    ({"is_active__isnull": "true"}, set()),
    # date, nullable
    ({"birthday": "1815-12-10"}, {ADA}),
    ({"birthday__ne": "1815-12-10"}, others(ADA)),
    ({"birthday__gt": "1900-01-01"}, {ALAN, GRACE}),
    ({"birthday__gte": "1912-06-23"}, {ALAN}),
    ({"birthday__lt": "1906-12-09"}, {ADA}),
    ({"birthday__lte": "1906-12-09"}, {ADA, GRACE}),
    ({"birthday__in": "1815-12-10,1912-06-23"}, {ADA, ALAN}),
    ({"birthday__not_in": "1815-12-10"}, others(ADA)),
    ({"birthday__isnull": "true"}, {EDSGER, NOBODY}),
    # datetime: offsets and naive (UTC) values mean the same instant
    ({"created_at": "2026-01-01T00:00:00Z"}, {ADA}),
    ({"created_at": "2026-01-01T02:00:00+01:00"}, {ALAN}),
    ({"created_at": "2026-01-01T01:00:00"}, {ALAN}),
    ({"created_at__ne": "2026-01-01T00:00:00Z"}, others(ADA)),
    ({"created_at__gt": "2026-01-01T02:00:00Z"}, {EDSGER, NOBODY}),
    ({"created_at__gte": "2026-01-01T02:00:00Z"}, {GRACE, EDSGER, NOBODY}),
    ({"created_at__lt": "2026-01-01T01:00:00Z"}, {ADA}),
    ({"created_at__lte": "2025-12-31T20:00:00-05:00"}, {ADA, ALAN}),
    ({"created_at__in": "2026-01-01T00:00:00Z,2026-01-01T04:00:00Z"}, {ADA, NOBODY}),
    ({"created_at__not_in": "2026-01-01T00:00:00Z"}, others(ADA)),
    ({"created_at__isnull": "false"}, EVERYONE),
    ({"updated_at__gt": "2026-01-01T12:00:00Z"}, {ADA}),
    # fixed JSON members
    ({"address.city": "London"}, {ADA}),
    ({"address.city__ne": "London"}, others(ADA)),
    ({"address.city__ilike": "LO"}, {ADA, ALAN}),
    ({"address.city__like": "Lo"}, {ADA}),
    ({"address.city__startswith": "New "}, {GRACE}),
    ({"address.city__isnull": "true"}, {EDSGER, NOBODY}),
    ({"address.country__in": "GB"}, {ADA, ALAN}),
    ({"address.country__not_in": "GB"}, {GRACE, EDSGER, NOBODY}),
    ({"address.country__gt": "H"}, {GRACE}),
    # meta members, compared as text
    ({"meta.plan": "pro"}, {ADA, GRACE}),
    ({"meta.plan__ne": "pro"}, {ALAN, EDSGER, NOBODY}),
    ({"meta.plan__in": "pro,free"}, {ADA, ALAN, GRACE}),
    ({"meta.plan__not_in": "pro"}, {ALAN, EDSGER, NOBODY}),
    ({"meta.plan__isnull": "true"}, {EDSGER, NOBODY}),
    ({"meta.theme__ilike": "dark"}, {ADA}),
    ({"meta.theme__like": "dark"}, set()),
    ({"meta.theme__istartswith": "L"}, {GRACE}),
    ({"meta.seats": "3"}, {ADA}),
    ({"meta.seats": "12"}, {ALAN}),
    ({"meta.seats__gt": "2"}, {ADA}),  # text: "12" < "2"
    ({"meta.beta": "true"}, {ADA}),
    ({"meta.beta": "false"}, {ALAN}),
    ({"meta.beta__isnull": "true"}, {GRACE, EDSGER, NOBODY}),
    ({"meta.missing__isnull": "true"}, EVERYONE),
    # several filters, and a repeated one, are ANDed
    ({"first_name__isnull": "false", "is_active": "true"}, {ADA, ALAN}),
    ({"email__ne": [ADA, ALAN]}, {GRACE, EDSGER, NOBODY}),
    ({"created_at__gte": "2026-01-01T01:00:00Z", "created_at__lt": "2026-01-01T03:00:00Z"}, {ALAN, GRACE}),
]


@pytest.mark.parametrize(("params", "expected"), FILTER_CASES, ids=[str(dict(p)) for p, _ in FILTER_CASES])
async def test_filters(engine: AsyncEngine, params: Params, expected: set[str]) -> None:
    await insert_users(engine, PEOPLE)
    assert await emails(engine, params) == expected


async def test_the_longest_in_lists_are_accepted_by_the_database(engine: AsyncEngine) -> None:
    await insert_users(engine, PEOPLE)
    ids = ",".join([str(IDS[ADA]), *(str(uuid4()) for _ in range(999))])
    names = ",".join(["Grace", *(f"n{i}" for i in range(999))])
    assert await emails(engine, {"id__in": ids, "first_name__not_in": names}) == {ADA}


async def test_soft_deleted_rows_stay_out_of_the_callers_base(engine: AsyncEngine) -> None:
    await insert_users(engine, [*PEOPLE, user("gone@x.io", deleted_at=T0)])
    assert await emails(engine, {}) == EVERYONE


#: One base for every page, as the listings pass their module's constant: statements are cached by it.
LIVE_USERS = select(UserModel.__table__).where(UserModel.deleted_at.is_(None))
SAME_SHAPES: list[tuple[Params, set[str]]] = [
    ({"email__ilike": "ada"}, {ADA}),
    ({"email__ilike": ".org"}, {GRACE}),
    ({"first_name__in": "Ada,Alan"}, {ADA, ALAN}),
    ({"first_name__in": "Grace"}, {GRACE}),
    ({"email__like": "example.com"}, {ADA, ALAN}),
    ({"email__like": "x.net"}, {NOBODY}),
    ({"last_name__isnull": "true"}, {NOBODY}),
    ({"last_name__isnull": "false"}, {ADA, ALAN, GRACE, EDSGER}),
]


async def test_pages_of_one_shape_share_a_statement_and_bind_their_own_values(engine: AsyncEngine) -> None:
    """One listing serves pages whose filters differ only in their values from one statement,
    each with its own values; the answers are those of a fresh listing."""
    await insert_users(engine, PEOPLE)
    shared = listing(engine)
    for params, expected in SAME_SHAPES:
        query = parse_list_query({**params, "limit": "500"}, USER_LISTING, CURSORS)
        assert {row.email for row in (await shared.page(LIVE_USERS, query)).items} == expected, params
        assert await emails(engine, params) == expected, params
    # isnull's value is part of the SQL (IS NULL or IS NOT NULL): two shapes among the eight.
    assert (
        len(
            {
                shared.statement(LIVE_USERS, parse_list_query(p, USER_LISTING, CURSORS)).compile(engine).string
                for p, _ in SAME_SHAPES
            }
        )
        == 5
    )


LIKE_NAMES = ["100%", "100x", "a_c", "abc", "a\\c", "a\\%c", "a/c", "AbC", 'O\'Brien "x"']
LIKE_CASES: list[tuple[str, str, set[str]]] = [
    ("like", "0%", {"100%"}),
    ("like", "%", {"100%", "a\\%c"}),
    ("like", "_", {"a_c"}),
    ("like", "\\", {"a\\c", "a\\%c"}),
    ("like", "\\%", {"a\\%c"}),
    ("like", "/", {"a/c"}),
    ("like", "bC", {"AbC"}),
    ("like", "'", {'O\'Brien "x"'}),
    ("like", "", set(LIKE_NAMES)),
    ("ilike", "bc", {"abc", "AbC"}),
    ("ilike", "_", {"a_c"}),
    ("ilike", "%C", {"a\\%c"}),
    ("ilike", "\\", {"a\\c", "a\\%c"}),
    ("ilike", '"X"', {'O\'Brien "x"'}),
    ("startswith", "a", {"a_c", "abc", "a\\c", "a\\%c", "a/c"}),
    ("startswith", "a_", {"a_c"}),
    ("startswith", "a\\", {"a\\c", "a\\%c"}),
    ("startswith", "a/", {"a/c"}),
    ("startswith", "%", set()),
    ("startswith", "c", set()),
    ("istartswith", "ab", {"abc", "AbC"}),
    ("istartswith", "a_", {"a_c"}),
    ("istartswith", "100%", {"100%"}),
    ("eq", 'O\'Brien "x"', {'O\'Brien "x"'}),
    ("eq", "a\\%c", {"a\\%c"}),
    ("like", "'; DROP TABLE users; --", set()),
    ("eq", "'; DROP TABLE users; --", set()),
]


@pytest.mark.parametrize(("op", "value", "expected"), LIKE_CASES)
async def test_wildcards_and_quotes_are_literal(engine: AsyncEngine, op: str, value: str, expected: set[str]) -> None:
    await insert_users(engine, [user(f"like{i}@x.io", first_name=name) for i, name in enumerate(LIKE_NAMES)])
    items, _, _ = await page(engine, {f"first_name__{op}": value, "limit": "500"})
    assert {item.first_name for item in items} == expected
    async with engine.connect() as connection:  # and the table is still there
        assert await connection.scalar(select(func.count()).select_from(UserModel)) == len(LIKE_NAMES)


# --------------------------------------------------------------------------- ordering and pages


def walk_rows() -> list[Row]:
    """Many ties: created_at in groups of 7, first/last names repeating with NULLs, NULL birthdays."""
    return [
        user(
            f"walk{(i * 13) % 30:02d}@example.com",
            first_name=[None, "Bea", "Al", "Bea", None, "Cy"][i % 6],
            last_name=["Xu", None, "Yi"][i % 3],
            birthday=None if i % 4 == 0 else date(1990, 1, 1 + i % 3),
            created_at=T0 + timedelta(seconds=i // 7),
            updated_at=T0 + timedelta(seconds=(i * 7) % 5),
            is_active=i % 5 != 0,
        )
        for i in range(30)
    ]


def expected_order(rows: Sequence[Row], ordering: Sequence[Ordering]) -> list[UUID]:
    """The contract's order in Python: NULL greatest, ties broken by id in the last key's direction."""

    def null_greatest(field: str) -> Callable[[Row], tuple[bool, Any]]:
        return lambda row: (row[field] is None, "" if row[field] is None else row[field])

    ordered = sorted(rows, key=lambda row: row["id"], reverse=ordering[-1].descending)
    for o in reversed(ordering):  # stable sorts, least significant key first
        ordered.sort(key=null_greatest(o.field), reverse=o.descending)
    return [row["id"] for row in ordered]


async def walk(engine: AsyncEngine, params: Mapping[str, str]) -> list[UUID]:
    """Follow next_cursor from the first page to the last."""
    items, total, cursor = await page(engine, params)
    seen = [item.id for item in items]
    while cursor is not None:
        assert len(items) == int(params["limit"])  # only a full page may have a next one
        items, page_total, cursor = await page(engine, {**params, "cursor": cursor})
        assert page_total == total
        seen.extend(item.id for item in items)
    return seen


ORDERINGS = [
    "-created_at",
    "created_at",
    "-created_at,email",
    "email,created_at",
    "-email",
    "first_name",
    "-first_name",
    "first_name,-last_name",
    "-last_name,first_name",
    "-birthday,first_name",
    "birthday,-first_name,last_name",
    "-updated_at",
    "updated_at,-birthday",
]


@pytest.mark.parametrize("limit", ["1", "4", "7"])
@pytest.mark.parametrize("order_by", ORDERINGS)
async def test_a_cursor_walk_serves_every_row_once_in_order(engine: AsyncEngine, order_by: str, limit: str) -> None:
    rows = walk_rows()
    await insert_users(engine, rows)
    query = parse_list_query({"order_by": order_by}, USER_LISTING, CURSORS)

    unpaged, total, cursor = await page(engine, {"order_by": order_by, "limit": "500"})
    walked = await walk(engine, {"order_by": order_by, "limit": limit})

    assert (total, cursor) == (len(rows), None)
    assert [item.id for item in unpaged] == expected_order(rows, query.ordering)
    assert walked == [item.id for item in unpaged]


@pytest.mark.parametrize("order_by", ["-created_at", "first_name,-birthday"])
async def test_a_filtered_cursor_walk(engine: AsyncEngine, order_by: str) -> None:
    rows = walk_rows()
    await insert_users(engine, rows)
    params = {"order_by": order_by, "is_active": "true", "first_name__ne": "Cy"}
    active = [row for row in rows if row["is_active"] and row["first_name"] != "Cy"]
    query = parse_list_query(params, USER_LISTING, CURSORS)

    assert await walk(engine, {**params, "limit": "3"}) == expected_order(active, query.ordering)


#: A resource whose enum sorts by its declared rank, which here is not its alphabetical order.
RANKED = ResourceSpec.of(
    FieldSpec("role", FieldKind.ENUM, sortable=True, choices=("user", "admin")),
    json_fields=frozenset(),
    default_ordering=(Ordering("role"),),
)


@pytest.mark.parametrize("descending", [False, True])
async def test_an_enum_sorts_and_walks_by_rank(engine: AsyncEngine, descending: bool) -> None:
    rows = [user(f"ranked{i}@example.com", role=["admin", "user"][i % 2]) for i in range(9)]
    await insert_users(engine, rows)
    ranked = SqlListing(RANKED, UserModel, engine, CURSORS)
    order_by = "-role" if descending else "role"
    seen: list[ResultRow[Any]] = []
    cursor: str | None = None
    while True:
        params = {"order_by": order_by, "limit": "2", **({"cursor": cursor} if cursor else {})}
        result = await ranked.page(select(UserModel.__table__), parse_list_query(params, RANKED, CURSORS))
        seen.extend(result.items)
        if (cursor := result.next_cursor) is None:
            break

    roles = ["user"] * 4 + ["admin"] * 5
    assert [item.role for item in seen] == (roles[::-1] if descending else roles)
    assert len({item.id for item in seen}) == len(rows)


async def test_the_default_order_is_newest_first(engine: AsyncEngine) -> None:
    await insert_users(engine, PEOPLE)
    items, _, _ = await page(engine, {})
    assert [item.email for item in items] == [NOBODY, EDSGER, GRACE, ALAN, ADA]


@pytest.mark.parametrize("order_by", ["-created_at", "first_name,-last_name"])
async def test_offset_pages(engine: AsyncEngine, order_by: str) -> None:
    rows = walk_rows()
    await insert_users(engine, rows)
    unpaged, _, _ = await page(engine, {"order_by": order_by, "limit": "500"})

    pages: list[UUID] = []
    for offset in range(0, 32, 4):
        items, total, _ = await page(engine, {"order_by": order_by, "limit": "4", "offset": str(offset)})
        assert total == len(rows)
        pages.extend(item.id for item in items)

    assert pages == [item.id for item in unpaged]


async def test_an_offset_page_cursor_continues_after_it(engine: AsyncEngine) -> None:
    await insert_users(engine, walk_rows())
    _, _, cursor = await page(engine, {"order_by": "first_name", "limit": "4", "offset": "4"})
    assert cursor is not None
    after, _, _ = await page(engine, {"order_by": "first_name", "limit": "4", "cursor": cursor})
    third, _, _ = await page(engine, {"order_by": "first_name", "limit": "4", "offset": "8"})
    assert [item.id for item in after] == [item.id for item in third]


@pytest.mark.parametrize(
    ("params", "expected_total", "expected_count", "has_next"),
    [
        ({"limit": "10"}, 30, 10, True),
        ({"limit": "30"}, 30, 30, False),
        ({"limit": "31"}, 30, 30, False),
        ({"limit": "10", "offset": "25"}, 30, 5, False),
        ({"limit": "10", "offset": "40"}, 30, 0, False),
        ({"limit": "10", "is_active": "false"}, 6, 6, False),
        ({"limit": "10", "with_total": "false"}, None, 10, True),
        ({"limit": "30", "with_total": "false"}, None, 30, False),
        ({"limit": "10", "offset": "25", "with_total": "false"}, None, 5, False),
    ],
)
async def test_totals_and_the_last_page(
    engine: AsyncEngine, params: Params, expected_total: int | None, expected_count: int, has_next: bool
) -> None:
    await insert_users(engine, walk_rows())
    items, total, cursor = await page(engine, params)
    assert (total, len(items), cursor is not None) == (expected_total, expected_count, has_next)


async def test_a_cursor_page_is_counted_too(engine: AsyncEngine) -> None:
    await insert_users(engine, walk_rows())
    _, _, cursor = await page(engine, {"limit": "10"})
    assert cursor is not None
    _, total, _ = await page(engine, {"limit": "10", "cursor": cursor})
    _, no_total, _ = await page(engine, {"limit": "10", "cursor": cursor, "with_total": "false"})
    assert (total, no_total) == (30, None)


# --------------------------------------------------------------------------- PostgreSQL only


async def test_an_unscoped_page_is_one_statement_planned_for_its_values(container: Container) -> None:
    """No setting precedes a users page: every connection plans each statement for its values."""
    await insert_users(container.engine, PEOPLE)
    statements: list[str] = []

    def record(_connection: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    event.listen(container.engine.sync_engine, "before_cursor_execute", record)
    try:
        items, _, _ = await page(container.engine, {"email__ilike": "ada"})
    finally:
        event.remove(container.engine.sync_engine, "before_cursor_execute", record)
    assert [item.email for item in items] == [ADA]
    assert len(statements) == 1, statements
    async with container.engine.connect() as connection:
        assert (await connection.execute(text("SHOW plan_cache_mode"))).scalar_one() == "force_custom_plan"


def pg_listing_sql(params: Params, container: Container) -> str:
    query = parse_list_query(params, USER_LISTING, CURSORS)
    statement = listing(container.engine).statement(select(UserModel.__table__), query)
    return str(statement.compile(dialect=container.engine.dialect))


async def test_a_cursor_page_has_no_offset_and_walks_the_created_at_index(container: Container) -> None:
    """The default order's keyset is one row comparison PostgreSQL answers from (created_at, id)."""
    await insert_users(container.engine, walk_rows())
    _, _, cursor = await page(container.engine, {"limit": "5"})
    assert cursor is not None
    query = parse_list_query({"limit": "5", "cursor": cursor}, USER_LISTING, CURSORS)
    statement = listing(container.engine).statement(select(UserModel.__table__), query)
    assert "OFFSET" not in pg_listing_sql({"limit": "5", "cursor": cursor}, container)
    assert "(users.created_at, users.id) <" in pg_listing_sql({"limit": "5", "cursor": cursor}, container)

    compiled = statement.compile(dialect=container.engine.dialect)
    values = compiled.construct_params()
    arguments = tuple(values[name] for name in compiled.positiontup or ())
    async with container.engine.connect() as connection:
        # The table is tiny: forbid the sequential scan a planner would rightly prefer, and see
        # whether the statement can be answered from the index, in order, without a sort.
        await connection.execute(text("SET LOCAL enable_seqscan = off"))
        await connection.execute(text("SET LOCAL enable_bitmapscan = off"))
        plan = await connection.exec_driver_sql(f"EXPLAIN {compiled.string}", arguments)
        lines = "\n".join(str(row[0]) for row in plan)
    assert "Index Scan Backward using ix_users_created_at_id" in lines, lines
    assert "Index Cond: (ROW(created_at, id) < ROW(" in lines, lines
    assert "Sort" not in lines, lines


@pytest.mark.parametrize("order_by", ["-created_at", "first_name,-birthday", "email"])
async def test_a_cursor_walk_with_concurrent_inserts(container: Container, order_by: str) -> None:
    """Rows inserted while a client pages neither repeat nor hide the rows that were there."""
    engine = container.engine
    rng = random.Random(order_by)

    def random_user() -> Row:
        return user(
            f"{uuid4().hex}@example.com",
            first_name=rng.choice([None, "Al", "Bea", "Cy"]),
            birthday=rng.choice([None, date(1990, 1, 1), date(1991, 1, 1)]),
            created_at=T0 + timedelta(seconds=rng.randrange(20)),
        )

    initial = [random_user() for _ in range(60)]
    await insert_users(engine, initial)
    stop = asyncio.Event()
    inserted = 0

    async def writer() -> None:
        nonlocal inserted
        while not stop.is_set():
            await insert_users(engine, [random_user()])
            inserted += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(writer())
    try:
        seen: list[UUID] = []
        items, _, cursor = await page(engine, {"order_by": order_by, "limit": "3", "with_total": "false"})
        seen.extend(item.id for item in items)
        while cursor is not None:
            await asyncio.sleep(0.002)
            items, _, cursor = await page(
                engine, {"order_by": order_by, "limit": "3", "with_total": "false", "cursor": cursor}
            )
            seen.extend(item.id for item in items)
    finally:
        stop.set()
        await task

    assert inserted > 10, "the writer must have run during the walk"
    assert len(seen) == len(set(seen)), "a row was served twice"
    assert {row["id"] for row in initial} <= set(seen), "a row that existed before the walk was skipped"
    # And what was served is in order: the walk equals the final table's order, minus late arrivals.
    final, _, _ = await page(engine, {"order_by": order_by, "limit": "500"})
    assert seen == [item.id for item in final if item.id in set(seen)]
