"""A :class:`ListQuery` as Core SQL: predicates, keyset pages, counts, one statement per shape.

The columns come from the resource's :class:`ResourceSpec`, resolved once when the
listing is built (``address.city`` is the ``city`` member of the ``address`` JSON column);
a client's parameter only ever selects among them, and its values reach the database as
bound parameters. Two dialects are served and must agree: PostgreSQL (deployments) and
SQLite (the embedded default). Where they would differ, this module decides:

* NULL sorts as the greatest value on both (``NULLS LAST`` ascending, ``NULLS FIRST``
  descending: PostgreSQL's own default, so its b-tree indexes still serve the order).
* ``ne``/``not_in`` also match NULL (see :mod:`app.application.listing.spec`).
* ``ilike``/``istartswith`` fold case (SQLite folds ASCII only) and match literally
  (advanced-alchemy's ``escape_like_value``, ``/`` as the escape character).

A statement depends on the query's shape (the fields and operators of its filters, its
order, whether a cursor or an offset positions it), not on its values: each shape's
statement is built once, over named parameters, and every page of that shape runs the same
statement object with its own values. SQLAlchemy keeps the compiled form and the cache key
on that object, so a page neither rebuilds its SQL nor hashes its clauses again.

Pages are result rows of a Core statement over the table's columns, never ORM entities:
no identity map, no instrumented attributes, no per-row object to build and then copy;
the caller converts all the rows of a page in one call. A page of a resource without
row-level security runs in autocommit mode: one round trip, no BEGIN or ROLLBACK.

Pages are keyset pages: the position after the last row served becomes a predicate, so
the cost of a page does not grow with its depth, and rows inserted or deleted between
pages neither repeat nor hide rows that existed before.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from operator import attrgetter
from types import MappingProxyType
from typing import Any, Literal, cast
from uuid import UUID

from advanced_alchemy.filters import LIKE_ESCAPE_CHAR, OrderBy, escape_like_value
from sqlalchemy import (
    BindParameter,
    Column,
    ColumnElement,
    Integer,
    Row,
    Select,
    String,
    and_,
    bindparam,
    case,
    false,
    func,
    inspect,
    or_,
    tuple_,
)
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.sql.elements import KeyedColumnElement

from app.application.listing import CursorCodec, FieldKind, ListQuery, Operator, Ordering, Page, ResourceSpec
from app.infrastructure.db.listing_sql import array_contains, contains, json_member_text, startswith
from app.infrastructure.db.tenancy import scope_statement
from app.infrastructure.db.uow import translate_storage_error

#: Names of the parameters the engine binds; a ``base`` statement's own must not start so.
_PREFIX = "listing_"
_LIMIT = f"{_PREFIX}limit"
_OFFSET = f"{_PREFIX}offset"
#: Statement shapes kept per listing. A client chooses the shape (which fields, operators and
#: order), so the cache is bounded; the few shapes clients really use stay in it.
SHAPES_CACHED = 256


def _parameter(name: str, column: ColumnElement[Any]) -> BindParameter[Any]:
    return bindparam(name, type_=column.type)


def _or_null(condition: ColumnElement[bool], column: ColumnElement[Any]) -> ColumnElement[bool]:
    """``condition`` or the column is NULL: a missing value is "not equal" to any value."""
    return or_(condition, column.is_(None))


def _text(name: str) -> BindParameter[str]:
    return bindparam(name, type_=String())


def _as_is(name: str, value: Any) -> dict[str, Any]:
    return {name: value}


def _as_pattern(pattern: Callable[[str], str]) -> Callable[[str, str], dict[str, str]]:
    """The value of a case-insensitive match: the escaped LIKE pattern."""
    return lambda name, value: {name: pattern(value)}


def _with_needle(pattern: Callable[[str], str]) -> Callable[[str, str], dict[str, str]]:
    """The values of a case-sensitive match: the escaped LIKE pattern, and the text itself (for SQLite)."""
    return lambda name, value: {name: pattern(value), f"{name}_needle": value}


def _contains_pattern(value: str) -> str:
    return f"%{escape_like_value(value)}%"


def _prefix_pattern(value: str) -> str:
    return f"{escape_like_value(value)}%"


def _needle(name: str) -> BindParameter[str]:
    return _text(f"{name}_needle")


@dataclass(frozen=True, slots=True)
class _Operation:
    """One operator: its condition over named parameters (built once per statement shape), and
    the parameters' values for a client's value (computed per page)."""

    condition: Callable[[ColumnElement[Any], str], ColumnElement[bool]]
    values: Callable[[str, Any], dict[str, Any]] = _as_is


_OPERATIONS: Mapping[Operator, _Operation] = MappingProxyType(
    {
        Operator.EQ: _Operation(lambda column, name: column == _parameter(name, column)),
        Operator.NE: _Operation(lambda column, name: _or_null(column != _parameter(name, column), column)),
        Operator.GT: _Operation(lambda column, name: column > _parameter(name, column)),
        Operator.GTE: _Operation(lambda column, name: column >= _parameter(name, column)),
        Operator.LT: _Operation(lambda column, name: column < _parameter(name, column)),
        Operator.LTE: _Operation(lambda column, name: column <= _parameter(name, column)),
        # An expanding parameter: one placeholder per value, however many the client sends.
        Operator.IN: _Operation(lambda column, name: column.in_(bindparam(name, expanding=True))),
        Operator.NOT_IN: _Operation(
            lambda column, name: _or_null(column.not_in(bindparam(name, expanding=True)), column)
        ),
        Operator.LIKE: _Operation(
            lambda column, name: contains(column, _text(name), _needle(name)),
            _with_needle(_contains_pattern),
        ),
        Operator.ILIKE: _Operation(
            lambda column, name: column.ilike(_text(name), escape=LIKE_ESCAPE_CHAR),
            _as_pattern(_contains_pattern),
        ),
        Operator.STARTSWITH: _Operation(
            lambda column, name: startswith(column, _text(name), _needle(name)),
            _with_needle(_prefix_pattern),
        ),
        Operator.ISTARTSWITH: _Operation(
            lambda column, name: func.lower(column).like(func.lower(_text(name)), escape=LIKE_ESCAPE_CHAR),
            _as_pattern(_prefix_pattern),
        ),
        Operator.CONTAINS: _Operation(lambda column, name: array_contains(column, _text(name))),
    }
)
#: An operator whose value decides the SQL itself, so it is part of the statement's shape.
_SHAPED: Mapping[Operator, Callable[[ColumnElement[Any], Any], ColumnElement[bool]]] = MappingProxyType(
    {Operator.ISNULL: lambda column, value: column.is_(None) if value else column.is_not(None)}
)


@dataclass(frozen=True, slots=True)
class _Shape:
    """What a page's SQL depends on, apart from the values it binds: equal shapes, one statement."""

    base: Select[Any]
    #: Each filter's field and operator, and its value where the operator is shaped by it.
    filters: tuple[tuple[str, Operator, Any], ...]
    ordering: tuple[Ordering, ...]
    #: Which of the cursor's position values are NULL (None without a cursor).
    nulls_after: tuple[bool, ...] | None
    offset: bool

    @classmethod
    def of(cls, base: Select[Any], query: ListQuery) -> _Shape:
        return cls(
            base,
            tuple((f.field, f.op, f.value if f.op in _SHAPED else None) for f in query.filters),
            query.ordering,
            None if query.after is None else tuple(value is None for value in query.after),
            query.after is None and bool(query.offset),
        )


def _values(query: ListQuery) -> dict[str, Any]:
    """The values a page's statement binds: the filters', the cursor's position, limit and offset."""
    values: dict[str, Any] = {}
    for index, item in enumerate(query.filters):
        if item.op not in _SHAPED:
            values |= _OPERATIONS[item.op].values(f"{_PREFIX}{index}", item.value)
    if query.after is not None:
        values |= {f"{_PREFIX}after_{index}": value for index, value in enumerate(query.after) if value is not None}
    elif query.offset:
        values[_OFFSET] = query.offset
    # One row more than a page: it tells whether a next page exists without counting.
    values[_LIMIT] = query.limit + 1
    return values


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

    def same(self, position: ColumnElement[Any] | None) -> ColumnElement[bool]:
        return self.column.is_(None) if position is None else self.column == position

    def beyond(self, position: ColumnElement[Any] | None) -> ColumnElement[bool] | None:
        """Rows whose key sorts strictly after ``position``; None when nothing can."""
        if position is None:  # NULL is greatest: after it come only the non-NULLs of a descending key
            return self.column.is_not(None) if self.descending else None
        beyond: ColumnElement[bool] = self.column < position if self.descending else self.column > position
        # Ascending, the NULLs of a nullable key come after every value.
        return or_(beyond, self.column.is_(None)) if self.nullable and not self.descending else beyond


def _ranked(read: Callable[[Any], Any], ranks: Mapping[str, int]) -> Callable[[Any], int]:
    """Reads the rank of an enum's value, as ``CASE`` computes it in the database."""
    return lambda row: ranks[read(row)]


def _is_nullable(column: ColumnElement[Any]) -> bool:
    """Only a plain NOT NULL table column is known never to be NULL; anything else may be."""
    return not isinstance(column, Column) or bool(column.nullable)


def _after(keys: list[_SortKey], nulls: tuple[bool, ...]) -> ColumnElement[bool]:
    """The keyset predicate: rows strictly after the cursor's position in the order of ``keys``.

    The position's values are parameters; ``nulls`` says which of them are NULL, which
    decides the predicate's form.
    """
    position: list[ColumnElement[Any] | None] = [
        None if null else bindparam(f"{_PREFIX}after_{index}", type_=key.column.type)
        for index, (key, null) in enumerate(zip(keys, nulls, strict=True))
    ]
    one_direction = len({key.descending for key in keys}) == 1
    descending = keys[0].descending
    if one_direction and not any(nulls) and (descending or not any(key.nullable for key in keys)):
        # One row-value comparison lets PostgreSQL seek an index such as (created_at, id) or
        # (organization_id, due_at, id). A NULL in a row value makes the comparison NULL (the row
        # is left out), which is right when the keys descend: NULL is greatest, so its rows come
        # before any position with values. Ascending, they would come after: that order takes
        # the branches below over nullable keys.
        left = tuple_(*(key.column for key in keys))
        right = tuple_(*cast("list[ColumnElement[Any]]", position))
        return left < right if descending else left > right
    branches = []
    for index, key in enumerate(keys):
        beyond = key.beyond(position[index])
        if beyond is not None:
            equal = [k.same(p) for k, p in zip(keys[:index], position[:index], strict=True)]
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
        # A page needs no transaction of its own: one statement (two with a total, each with
        # its own snapshot either way under READ COMMITTED). In autocommit mode no BEGIN
        # precedes it and no ROLLBACK follows it when the connection goes back to the pool:
        # one round trip instead of three. The same pool; the mode is only a flag of the driver.
        self._autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")
        self._tenant_policies = engine.dialect.name == "postgresql"
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
        # The same statement object for every page of a shape: SQLAlchemy then neither builds it
        # nor computes its cache key again (both memoized on it), and finds its compiled form at once.
        self._statements = lru_cache(maxsize=SHAPES_CACHED)(self._page_statement)
        self._counts = lru_cache(maxsize=SHAPES_CACHED)(self._count_statement)

    def column(self, field: str) -> ColumnElement[Any]:
        """The column of a declared field, or the text of a member of a declared JSON column."""
        if (column := self._columns.get(field)) is not None:
            return column
        document, _, key = field.partition(".")
        return json_member_text(self._json[document], key)

    def _keys(self, ordering: tuple[Ordering, ...]) -> list[_SortKey]:
        """The ordering, then id in the last key's direction, so that the order is total."""
        keys = [
            _SortKey(column, o.descending, _is_nullable(column), read)
            for o in ordering
            for column, read in [self._sort[o.field]]
        ]
        last_descending = keys[-1].descending if keys else False
        return [*keys, _SortKey(self._id, last_descending, nullable=False, read=self._read_id)]

    def _predicates(self, shape: _Shape) -> list[ColumnElement[bool]]:
        """The query's filters as conditions over named parameters (see :func:`_values`)."""
        return [
            _SHAPED[op](self.column(field), value)
            if op in _SHAPED
            else _OPERATIONS[op].condition(self.column(field), f"{_PREFIX}{index}")
            for index, (field, op, value) in enumerate(shape.filters)
        ]

    def _page_statement(self, shape: _Shape) -> Select[Any]:
        """Everything of one page: predicates, the cursor's position, the order, a page and one row.

        OFFSET applies only without a cursor: with one, the position is a predicate and depth
        costs nothing. A keyset page's statement has no OFFSET at all (not even ``OFFSET 0``).
        """
        keys = self._keys(shape.ordering)
        statement = shape.base.where(*self._predicates(shape))
        if shape.nulls_after is not None:
            statement = statement.where(_after(keys, shape.nulls_after))
        for key in keys:
            statement = key.order().append_to_statement(statement, self._model)
        statement = statement.limit(bindparam(_LIMIT, type_=Integer()))
        return statement.offset(bindparam(_OFFSET, type_=Integer())) if shape.offset else statement

    def _count_statement(self, shape: _Shape) -> Select[Any]:
        """How many rows of the shape's base match its filters, whatever the page."""
        counted = shape.base.with_only_columns(func.count(), maintain_column_froms=True)
        return counted.where(*self._predicates(shape))

    def statement(
        self, base: Select[Any], query: ListQuery, parameters: Mapping[str, Any] = MappingProxyType({})
    ) -> Select[Any]:
        """The page's statement with its values bound: what :meth:`page` runs, for a plan."""
        return self._statements(_Shape.of(base, query)).params({**parameters, **_values(query)})

    async def page(
        self,
        base: Select[Any],
        query: ListQuery,
        *,
        parameters: Mapping[str, Any] = MappingProxyType({}),
        organization_id: UUID | None = None,
    ) -> Page[Row[Any]]:
        """One page of ``base``'s rows, its total when asked for, and the cursor of the next page.

        ``base`` selects table columns (not an ORM entity), so the page is plain result rows.
        It is one statement object for every page (a module's constant), whose own values are
        named parameters given in ``parameters``: statements are cached by their ``base``.
        A tenant-scoped resource's ``base`` filters by its organization, and ``organization_id``
        scopes the transaction to it as well (``tenancy``), so row-level security agrees.
        """
        shape = _Shape.of(base, query)
        values = {**parameters, **_values(query)}
        # Row-level security reads settings local to a transaction, so only a tenant's page on
        # PostgreSQL takes one, scoped before its statement.
        scope = scope_statement(organization_id) if organization_id is not None and self._tenant_policies else None
        try:
            # A connection, not an ORM session: nothing here needs one, and it costs per call.
            async with (self._autocommit if scope is None else self._engine).connect() as connection:
                if scope is not None:
                    await connection.execute(scope)
                items = list((await connection.execute(self._statements(shape), values)).all())
                has_next = len(items) > query.limit
                items = items[: query.limit]
                total = None
                if query.with_total:
                    first_and_whole = query.after is None and not query.offset and not has_next
                    total = (
                        len(items)
                        if first_and_whole
                        else (await connection.execute(self._counts(shape), values)).scalar_one()
                    )
        except Exception as error:
            translated = translate_storage_error(error)
            if translated is error:
                raise
            raise translated from error
        next_cursor = None
        if has_next:
            next_cursor = self._cursors.encode(query, tuple(key.read(items[-1]) for key in self._keys(query.ordering)))
        return Page(
            items=items,
            total=total,
            limit=query.limit,
            offset=None if query.after is not None else query.offset,
            next_cursor=next_cursor,
        )
