"""A :class:`ListQuery` run through advanced-alchemy's filters as Core SQL: predicates, keyset pages, counts.

The columns come from the resource's :class:`ResourceSpec`, resolved once when the
listing is built (``address.city`` is the ``city`` member of the ``address`` JSON column);
a client's parameter only ever selects among them, and its values reach the database as
bound parameters. Two dialects are served and must agree: PostgreSQL (deployments) and
SQLite (the embedded default). Where they would differ, this module decides:

* NULL sorts as the greatest value on both (``NULLS LAST`` ascending, ``NULLS FIRST``
  descending: PostgreSQL's own default, so its b-tree indexes still serve the order).
* ``ne``/``not_in`` also match NULL (see :mod:`app.application.listing.spec`).
* ``ilike``/``istartswith`` fold case (SQLite folds ASCII only) and match literally.

Pages are result rows of a Core statement over the table's columns, never ORM entities:
no identity map, no instrumented attributes, no per-row object to build and then copy;
the caller converts all the rows of a page in one call (msgspec reads them by attribute).
A Core statement of one shape is compiled once and served from the engine's cache.

Pages are keyset pages: the position after the last row served becomes a predicate, so
the cost of a page does not grow with its depth, and rows inserted or deleted between
pages neither repeat nor hide rows that existed before.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from operator import attrgetter
from types import MappingProxyType
from typing import Any, Literal, cast
from uuid import UUID

from advanced_alchemy.filters import (
    CollectionFilter,
    ComparisonFilter,
    FilterGroup,
    LimitOffset,
    NotInCollectionFilter,
    NotNullFilter,
    NullFilter,
    OrderBy,
    SearchFilter,
    StatementFilter,
    StatementTypeT,
)
from sqlalchemy import (
    Column,
    ColumnElement,
    Row,
    Select,
    and_,
    case,
    false,
    func,
    inspect,
    literal,
    or_,
    select,
    tuple_,
)
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.sql.elements import KeyedColumnElement

from app.application.listing import CursorCodec, FieldKind, Filter, ListQuery, Operator, Page, ResourceSpec
from app.infrastructure.db.listing_sql import array_contains, contains, json_member_text, startswith
from app.infrastructure.db.tenancy import scope_statement
from app.infrastructure.db.uow import translate_storage_error

ListingFilter = StatementFilter | ColumnElement[bool]

#: A listing's shape and selectivity come from the client, so a plan cached for one set of
#: values can be ruinous for the next (a rare ``email__ilike`` planned as a full backward
#: index scan: 1 s instead of 30 ms). Planning per execution costs well under a millisecond.
_PLAN_PER_EXECUTION = func.set_config("plan_cache_mode", "force_custom_plan", True)


def _transaction_settings(organization_id: UUID | None) -> Select[Any]:
    """Custom plans, and for a tenant's rows the scope of ``tenancy``: one round trip for all of them."""
    custom_plans = select(_PLAN_PER_EXECUTION)
    return (
        custom_plans if organization_id is None else scope_statement(organization_id).add_columns(_PLAN_PER_EXECUTION)
    )


def _or_null(condition: StatementFilter, column: ColumnElement[Any]) -> StatementFilter:
    """``condition`` or the column is NULL: a missing value is "not equal" to any value."""
    return FilterGroup(or_, [condition, NullFilter(column)])


_FILTERS: Mapping[Operator, Callable[[ColumnElement[Any], Any], ListingFilter]] = MappingProxyType(
    {
        Operator.EQ: lambda column, value: ComparisonFilter(column, "eq", value),
        Operator.NE: lambda column, value: _or_null(ComparisonFilter(column, "ne", value), column),
        Operator.GT: lambda column, value: ComparisonFilter(column, "gt", value),
        Operator.GTE: lambda column, value: ComparisonFilter(column, "ge", value),
        Operator.LT: lambda column, value: ComparisonFilter(column, "lt", value),
        Operator.LTE: lambda column, value: ComparisonFilter(column, "le", value),
        Operator.IN: CollectionFilter,
        Operator.NOT_IN: lambda column, value: _or_null(NotInCollectionFilter(column, value), column),
        Operator.LIKE: contains,
        # SearchFilter reads attribute names from a set; a set holding the column passes it through.
        Operator.ILIKE: lambda column, value: SearchFilter({column}, value, ignore_case=True, escape_wildcards=True),  # type: ignore[arg-type]
        Operator.STARTSWITH: startswith,
        # advanced-alchemy's "istartswith" does not escape the wildcards.
        Operator.ISTARTSWITH: lambda column, value: column.istartswith(value, autoescape=True),
        Operator.ISNULL: lambda column, value: NullFilter(column) if value else NotNullFilter(column),
        Operator.CONTAINS: array_contains,
    }
)


class _LimitOffset(LimitOffset):
    """``LimitOffset`` without ``OFFSET 0``: a keyset page's statement seeks and skips nothing."""

    def append_to_statement(self, statement: StatementTypeT, model: Any) -> StatementTypeT:
        statement = super().append_to_statement(statement, model)
        return statement if self.offset else cast("StatementTypeT", cast("Select[Any]", statement).offset(None))


@dataclass(frozen=True, slots=True)
class _SortKey:
    column: ColumnElement[Any]
    descending: bool
    nullable: bool
    #: The key's value in a result row, as the database compares it.
    read: Callable[[Any], Any]

    def order(self) -> OrderBy:
        """NULL is the greatest value: last when ascending, first when descending, on every dialect."""
        nulls: Literal["first", "last"] | None = ("first" if self.descending else "last") if self.nullable else None
        return OrderBy(self.column, "desc" if self.descending else "asc", nulls)

    def same(self, value: Any) -> ColumnElement[bool]:
        return self.column.is_(None) if value is None else self.column == value

    def beyond(self, value: Any) -> ColumnElement[bool] | None:
        """Rows whose key sorts strictly after ``value``; None when nothing can."""
        if value is None:  # NULL is greatest: after it come only the non-NULLs of a descending key
            return self.column.is_not(None) if self.descending else None
        beyond: ColumnElement[bool] = self.column < value if self.descending else self.column > value
        # Ascending, the NULLs of a nullable key come after every value.
        return or_(beyond, self.column.is_(None)) if self.nullable and not self.descending else beyond


def _ranked(read: Callable[[Any], Any], ranks: Mapping[str, int]) -> Callable[[Any], int]:
    """Reads the rank of an enum's value, as ``CASE`` computes it in the database."""
    return lambda row: ranks[read(row)]


def _is_nullable(column: ColumnElement[Any]) -> bool:
    """Only a plain NOT NULL table column is known never to be NULL; anything else may be."""
    return not isinstance(column, Column) or bool(column.nullable)


def _after(keys: list[_SortKey], position: tuple[Any, ...]) -> ColumnElement[bool]:
    """The keyset predicate: rows strictly after ``position`` in the order of ``keys``."""
    one_direction = len({key.descending for key in keys}) == 1
    descending = keys[0].descending
    if one_direction and None not in position and (descending or not any(key.nullable for key in keys)):
        # One row-value comparison lets PostgreSQL seek an index such as (created_at, id) or
        # (organization_id, due_at, id). A NULL in a row value makes the comparison NULL (the row
        # is left out), which is right when the keys descend: NULL is greatest, so its rows come
        # before any position with values. Ascending, they would come after: that order takes
        # the branches below over nullable keys.
        left = tuple_(*(key.column for key in keys))
        right = tuple_(*(literal(value, key.column.type) for key, value in zip(keys, position, strict=True)))
        return left < right if descending else left > right
    branches = []
    for index, (key, value) in enumerate(zip(keys, position, strict=True)):
        beyond = key.beyond(value)
        if beyond is not None:
            equal = [k.same(v) for k, v in zip(keys[:index], position[:index], strict=True)]
            branches.append(and_(*equal, beyond))
    return or_(false(), *branches)


class SqlListing:
    """Pages of one resource's rows, on the columns its spec names, as Core result rows."""

    def __init__(
        self,
        spec: ResourceSpec,
        model: type[DeclarativeBase],
        engine: AsyncEngine,
        cursors: CursorCodec,
        *,
        joined: Mapping[str, KeyedColumnElement[Any]] = MappingProxyType({}),
        tiebreak: KeyedColumnElement[Any] | None = None,
    ) -> None:
        """``joined`` names fields served by another table of the ``base`` statement (a member's
        ``email``); ``tiebreak`` breaks ties when the model's primary key is not one column."""
        table: dict[str, KeyedColumnElement[Any]] = {column.key: column for column in model.__table__.columns}
        table |= joined
        self._engine = engine
        self._plan_per_execution = engine.dialect.name == "postgresql"
        self._cursors = cursors
        self._model = model
        self._json = {name: table[name] for name in spec.json_fields}
        self._columns: dict[str, ColumnElement[Any]] = {}
        self._sort: dict[str, tuple[ColumnElement[Any], Callable[[Any], Any]]] = {}
        for name, field in spec.fields.items():
            document, _, key = name.partition(".")
            if key and field.sortable:  # a cursor reads its position from the row's columns
                raise ValueError(f"{name}: a member of a JSON column cannot be sortable")
            column = json_member_text(table[document], key) if key else table[name]
            self._columns[name] = column
            if field.sortable and field.kind is FieldKind.ENUM:  # by rank, not by spelling
                ranks = {choice: rank for rank, choice in enumerate(field.choices)}
                self._sort[name] = (case(ranks, value=column), _ranked(attrgetter(name), ranks))
            elif field.sortable:
                self._sort[name] = (column, attrgetter(name))
        (primary_key,) = inspect(model).primary_key if tiebreak is None else (tiebreak,)
        self._id = cast("KeyedColumnElement[Any]", primary_key)
        self._read_id = attrgetter(self._id.key)

    def column(self, field: str) -> ColumnElement[Any]:
        """The column of a declared field, or the text of a member of a declared JSON column."""
        if (column := self._columns.get(field)) is not None:
            return column
        document, _, key = field.partition(".")
        return json_member_text(self._json[document], key)

    def _keys(self, query: ListQuery) -> list[_SortKey]:
        """The ordering, then id in the last key's direction, so that the order is total."""
        keys = [
            _SortKey(column, o.descending, _is_nullable(column), read)
            for o in query.ordering
            for column, read in [self._sort[o.field]]
        ]
        last_descending = keys[-1].descending if keys else False
        return [*keys, _SortKey(self._id, last_descending, nullable=False, read=self._read_id)]

    def predicates(self, query: ListQuery) -> list[ListingFilter]:
        """The query's filters as advanced-alchemy filters (or expressions it has no filter for)."""
        return [self._predicate(item) for item in query.filters]

    def _predicate(self, item: Filter) -> ListingFilter:
        return _FILTERS[item.op](self.column(item.field), item.value)

    def page_filters(self, query: ListQuery) -> list[ListingFilter]:
        """Everything of one page: predicates, the cursor's position, the order, one row more than a page.

        The extra row tells whether a next page exists without counting. OFFSET applies only
        without a cursor: with one, the position is a predicate and depth costs nothing.
        """
        keys = self._keys(query)
        position = [_after(keys, query.after)] if query.after is not None else []
        offset = 0 if query.after is not None else query.offset or 0
        return [
            *self.predicates(query),
            *position,
            *(key.order() for key in keys),
            _LimitOffset(query.limit + 1, offset),
        ]

    def statement(self, base: Select[Any], query: ListQuery) -> Select[Any]:
        """The page's statement: ``base`` (a Core select of columns) with the page's filters."""
        return self._filtered(base, self.page_filters(query))

    def count(self, base: Select[Any], query: ListQuery) -> Select[Any]:
        """How many rows of ``base`` match the query's filters, whatever the page."""
        return self._filtered(base.with_only_columns(func.count(), maintain_column_froms=True), self.predicates(query))

    def _filtered(self, statement: Select[Any], filters: list[ListingFilter]) -> Select[Any]:
        for item in filters:
            statement = (
                item.append_to_statement(statement, self._model)
                if isinstance(item, StatementFilter)
                else statement.where(item)
            )
        return statement

    async def page(self, base: Select[Any], query: ListQuery, *, organization_id: UUID | None = None) -> Page[Row[Any]]:
        """One page of ``base``'s rows, its total when asked for, and the cursor of the next page.

        ``base`` selects table columns (not an ORM entity), so the page is plain result rows.
        A tenant-scoped resource's ``base`` filters by its organization, and ``organization_id``
        scopes the transaction to it as well (``tenancy``), so row-level security agrees.
        """
        try:
            # A connection, not an ORM session: nothing here needs one, and it costs per call.
            async with self._engine.connect() as connection:
                if self._plan_per_execution:
                    await connection.execute(_transaction_settings(organization_id))
                items = list((await connection.execute(self.statement(base, query))).all())
                has_next = len(items) > query.limit
                items = items[: query.limit]
                total = None
                if query.with_total:
                    first_and_whole = query.after is None and not query.offset and not has_next
                    total = (
                        len(items)
                        if first_and_whole
                        else (await connection.execute(self.count(base, query))).scalar_one()
                    )
        except Exception as error:
            translated = translate_storage_error(error)
            if translated is error:
                raise
            raise translated from error
        next_cursor = None
        if has_next:
            next_cursor = self._cursors.encode(query, tuple(key.read(items[-1]) for key in self._keys(query)))
        return Page(
            items=items,
            total=total,
            limit=query.limit,
            offset=None if query.after is not None else query.offset,
            next_cursor=next_cursor,
        )
