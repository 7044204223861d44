"""A :class:`ListQuery` as SQLAlchemy statements: filters, keyset pages, counts.

Every value from a client reaches the database as a bound parameter; names of columns
come from the caller's allow-listed mapping, never from input. Two dialects are served
and must agree: PostgreSQL (deployments) and SQLite (the embedded default). Where they
would differ, this module decides:

* NULL sorts as the greatest value on both (``NULLS LAST`` ascending, ``NULLS FIRST``
  descending: PostgreSQL's own default, so its b-tree indexes still serve the order).
* ``like``/``startswith`` are case-sensitive on both (SQLite's ``LIKE`` is not, so there
  they use ``instr``); ``ilike``/``istartswith`` fold case (SQLite folds ASCII only).
  ``%``, ``_`` and ``\\`` are literal on both: the pattern is escaped with ``/``.
* JSON members compare as text: strings as themselves, ``true``/``false``, integers as
  their digits. (Other number spellings and nested values may render differently.)
* ``ne``/``not_in`` also match NULL (see :mod:`app.application.listing`).

Pages are keyset pages: the position after the last row served becomes a predicate, so
the cost of a page does not grow with its depth, and rows inserted or deleted between
pages neither repeat nor hide rows that existed before.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    ColumnElement,
    Select,
    String,
    and_,
    bindparam,
    false,
    func,
    literal,
    or_,
    select,
    tuple_,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from app.application.listing import CursorCodec, Filter, ListQuery, Operator
from app.infrastructure.db.models import UserModel

_LIKE_ESCAPE = "/"


# --------------------------------------------------------------------------- dialect-aware pieces


class _JsonMemberText(FunctionElement[str]):
    """A top-level JSON member as text, rendered per dialect so both give the same text."""

    name = "json_member_text"
    inherit_cache = True
    type = String()


def json_member_text(document: ColumnElement[Any], key: str) -> ColumnElement[str]:
    """``document ->> key``; the key is bound, and the caller has allow-listed it."""
    path = f'$."{key}"'
    return _JsonMemberText(
        document,
        bindparam(None, key, type_=String(), unique=True),
        bindparam(None, path, type_=String(), unique=True),
    )


@compiles(_JsonMemberText)
def _json_member_text_default(element: _JsonMemberText, compiler: SQLCompiler, **kw: Any) -> str:
    # Render only the clauses used: a processed bind parameter is a placeholder, used or not.
    document, key, _path = element.clauses.clauses
    return f"({compiler.process(document, **kw)} ->> {compiler.process(key, **kw)})"


@compiles(_JsonMemberText, "sqlite")
def _json_member_text_sqlite(element: _JsonMemberText, compiler: SQLCompiler, **kw: Any) -> str:
    # json_extract gives SQL integers for numbers and 1/0 for booleans; PostgreSQL's ->>
    # gives their JSON text. Rebuild that text so "meta.beta=true" means the same on both.
    document_clause, _key, path_clause = element.clauses.clauses
    document, path = compiler.process(document_clause, **kw), compiler.process(path_clause, **kw)
    return (
        f"(CASE json_type({document}, {path}) WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' "
        f"ELSE CAST(json_extract({document}, {path}) AS TEXT) END)"
    )


class _CaseSensitiveMatch(FunctionElement[bool]):
    """``column LIKE pattern`` that is case-sensitive on SQLite too (its LIKE folds ASCII case)."""

    inherit_cache = True
    type = Boolean()
    #: What ``instr(column, needle)`` must be on SQLite: ``> 0`` anywhere, ``= 1`` a prefix.
    sqlite_position = "> 0"


class _Contains(_CaseSensitiveMatch):
    name = "listing_contains"
    inherit_cache = True


class _StartsWith(_CaseSensitiveMatch):
    name = "listing_startswith"
    inherit_cache = True
    sqlite_position = "= 1"


@compiles(_CaseSensitiveMatch)
def _case_sensitive_match_default(element: _CaseSensitiveMatch, compiler: SQLCompiler, **kw: Any) -> str:
    column, pattern, _needle = element.clauses.clauses
    return f"({compiler.process(column, **kw)} LIKE {compiler.process(pattern, **kw)} ESCAPE '{_LIKE_ESCAPE}')"


@compiles(_CaseSensitiveMatch, "sqlite")
def _case_sensitive_match_sqlite(element: _CaseSensitiveMatch, compiler: SQLCompiler, **kw: Any) -> str:
    column, _pattern, needle = element.clauses.clauses
    return f"(instr({compiler.process(column, **kw)}, {compiler.process(needle, **kw)}) {element.sqlite_position})"


def _escape_like(value: str) -> str:
    """Make ``%``, ``_`` and the escape character literal, as SQLAlchemy's autoescape does."""
    return (
        value.replace(_LIKE_ESCAPE, _LIKE_ESCAPE * 2).replace("%", _LIKE_ESCAPE + "%").replace("_", _LIKE_ESCAPE + "_")
    )


def _case_sensitive(kind: type[_CaseSensitiveMatch], column: ColumnElement[Any], value: str) -> ColumnElement[bool]:
    pattern = _escape_like(value) + "%"
    if kind is _Contains:
        pattern = "%" + pattern
    return kind(
        column,
        bindparam(None, pattern, type_=String(), unique=True),
        bindparam(None, value, type_=String(), unique=True),
    )


# --------------------------------------------------------------------------- filters


_CONDITIONS: Mapping[Operator, Callable[[ColumnElement[Any], Any], ColumnElement[bool]]] = MappingProxyType(
    {
        Operator.EQ: lambda column, value: column == value,
        # NULL is "not equal" too: see the module docstring of app.application.listing.
        Operator.NE: lambda column, value: column.is_distinct_from(value),
        Operator.GT: lambda column, value: column > value,
        Operator.GTE: lambda column, value: column >= value,
        Operator.LT: lambda column, value: column < value,
        Operator.LTE: lambda column, value: column <= value,
        Operator.IN: lambda column, value: column.in_(value),
        Operator.NOT_IN: lambda column, value: or_(column.not_in(value), column.is_(None)),
        Operator.LIKE: lambda column, value: _case_sensitive(_Contains, column, value),
        Operator.ILIKE: lambda column, value: column.icontains(value, autoescape=True),
        Operator.STARTSWITH: lambda column, value: _case_sensitive(_StartsWith, column, value),
        Operator.ISTARTSWITH: lambda column, value: column.istartswith(value, autoescape=True),
        Operator.ISNULL: lambda column, value: column.is_(None) if value else column.is_not(None),
    }
)


def _column(
    field: str, columns: Mapping[str, ColumnElement[Any]], json_columns: Mapping[str, ColumnElement[Any]]
) -> ColumnElement[Any]:
    """The caller's column for an allow-listed field, or the text of a JSON member."""
    if (column := columns.get(field)) is not None:
        return column
    document, _, key = field.partition(".")
    if key and (json_column := json_columns.get(document)) is not None:
        return json_member_text(json_column, key)
    raise LookupError(f"No column for listing field {field!r}: the resource spec and the column mapping disagree")


def _condition(
    item: Filter, columns: Mapping[str, ColumnElement[Any]], json_columns: Mapping[str, ColumnElement[Any]]
) -> ColumnElement[bool]:
    return _CONDITIONS[item.op](_column(item.field, columns, json_columns), item.value)


def _filtered(
    base: Select[Any],
    query: ListQuery,
    columns: Mapping[str, ColumnElement[Any]],
    json_columns: Mapping[str, ColumnElement[Any]],
) -> Select[Any]:
    conditions = [_condition(item, columns, json_columns) for item in query.filters]
    return base.where(*conditions) if conditions else base


# --------------------------------------------------------------------------- ordering and keyset


@dataclass(frozen=True, slots=True)
class _SortKey:
    column: ColumnElement[Any]
    descending: bool
    nullable: bool


def _is_nullable(column: ColumnElement[Any]) -> bool:
    """Only a plain NOT NULL table column is known never to be NULL; anything else may be."""
    return not isinstance(column, Column) or bool(column.nullable)


def _sort_keys(
    query: ListQuery, columns: Mapping[str, ColumnElement[Any]], id_column: ColumnElement[Any]
) -> list[_SortKey]:
    """The ordering, then id in the last key's direction, so that the order is total."""
    keys = [_SortKey(columns[o.field], o.descending, _is_nullable(columns[o.field])) for o in query.ordering]
    last_descending = keys[-1].descending if keys else False
    return [*keys, _SortKey(id_column, last_descending, nullable=False)]


def _order_clause(key: _SortKey) -> ColumnElement[Any]:
    """NULL is the greatest value: last when ascending, first when descending, on every dialect."""
    clause = key.column.desc() if key.descending else key.column.asc()
    if not key.nullable:
        return clause
    return clause.nulls_first() if key.descending else clause.nulls_last()


def _same(key: _SortKey, value: Any) -> ColumnElement[bool]:
    return key.column.is_(None) if value is None else key.column == value


def _beyond(key: _SortKey, value: Any) -> ColumnElement[bool] | None:
    """Rows whose ``key`` sorts strictly after ``value``; None when nothing can."""
    if value is None:  # NULL is greatest: after it come only the non-NULLs of a descending key
        return key.column.is_not(None) if key.descending else None
    beyond: ColumnElement[bool] = key.column < value if key.descending else key.column > value
    # Ascending, the NULLs of a nullable key come after every value.
    return or_(beyond, key.column.is_(None)) if key.nullable and not key.descending else beyond


def _after(keys: list[_SortKey], position: tuple[Any, ...]) -> ColumnElement[bool]:
    """The keyset predicate: rows strictly after ``position`` in the order of ``keys``."""
    if len(position) != len(keys):
        raise ValueError("The cursor position does not match the ordering")
    if _row_value_applies(keys, position):
        # One row-value comparison lets PostgreSQL seek an index such as (created_at, id).
        left = tuple_(*(key.column for key in keys))
        right = tuple_(*(literal(value, key.column.type) for key, value in zip(keys, position, strict=True)))
        return left < right if keys[0].descending else left > right
    branches = []
    for index, (key, value) in enumerate(zip(keys, position, strict=True)):
        beyond = _beyond(key, value)
        if beyond is not None:
            equal = [_same(k, v) for k, v in zip(keys[:index], position[:index], strict=True)]
            branches.append(and_(*equal, beyond))
    return or_(false(), *branches)


def _row_value_applies(keys: list[_SortKey], position: tuple[Any, ...]) -> bool:
    """Row values order lexicographically in one direction, and know nothing of NULL-is-greatest."""
    one_direction = len({key.descending for key in keys}) == 1
    return one_direction and not any(key.nullable for key in keys) and None not in position


def listing_statement(
    base: Select[Any],
    query: ListQuery,
    columns: Mapping[str, ColumnElement[Any]],
    json_columns: Mapping[str, ColumnElement[Any]],
    id_column: ColumnElement[Any],
) -> Select[Any]:
    """``base`` filtered, after the cursor, ordered totally, with one row more than a page.

    The extra row tells whether a next page exists without counting. OFFSET applies only
    without a cursor: with one, the position is a predicate and depth costs nothing.
    """
    keys = _sort_keys(query, columns, id_column)
    statement = _filtered(base, query, columns, json_columns)
    if query.after is not None:
        statement = statement.where(_after(keys, query.after))
    elif query.offset:
        statement = statement.offset(query.offset)
    return statement.order_by(*(_order_clause(key) for key in keys)).limit(query.limit + 1)


def count_statement(
    base: Select[Any],
    query: ListQuery,
    columns: Mapping[str, ColumnElement[Any]],
    json_columns: Mapping[str, ColumnElement[Any]],
) -> Select[Any]:
    """How many rows match the filters, whatever the page."""
    filtered = _filtered(base, query, columns, json_columns).order_by(None).limit(None).offset(None)
    return select(func.count()).select_from(filtered.subquery())


def keyset_position(row_values: Mapping[str, Any], query: ListQuery, id_key: str = "id") -> tuple[Any, ...]:
    """The cursor position of a row: its ordering values, then its id (the order of ``_sort_keys``)."""
    return (*(row_values[o.field] for o in query.ordering), row_values[id_key])


async def fetch_page(  # noqa: PLR0917 - the repositories' call, mirroring listing_statement
    session: AsyncSession,
    base: Select[Any],
    query: ListQuery,
    columns: Mapping[str, ColumnElement[Any]],
    json_columns: Mapping[str, ColumnElement[Any]],
    id_column: ColumnElement[Any],
    cursors: CursorCodec,
) -> tuple[list[Any], int | None, str | None]:
    """One page: (the rows of ``base``'s single entity or column, total or None, next cursor or None).

    The sort keys are selected alongside the entity, so the next cursor holds exactly the
    values the database ordered by (not a re-read attribute that a flush might change).
    """
    labels = {o.field: f"listing_key_{index}" for index, o in enumerate(query.ordering)}
    keyed = base.add_columns(*(columns[field].label(label) for field, label in labels.items()))
    keyed = keyed.add_columns(id_column.label("listing_key_id"))
    result = await session.execute(listing_statement(keyed, query, columns, json_columns, id_column))
    rows = list(result.all())
    has_next = len(rows) > query.limit
    rows = rows[: query.limit]
    next_cursor = None
    if has_next:
        last = rows[-1]._mapping
        values = {field: last[label] for field, label in labels.items()}
        next_cursor = cursors.encode(query, keyset_position({**values, "id": last["listing_key_id"]}, query))
    total = await _total(session, base, query, columns, json_columns, served=len(rows), has_next=has_next)
    return [row[0] for row in rows], total, next_cursor


async def _total(
    session: AsyncSession,
    base: Select[Any],
    query: ListQuery,
    columns: Mapping[str, ColumnElement[Any]],
    json_columns: Mapping[str, ColumnElement[Any]],
    *,
    served: int,
    has_next: bool,
) -> int | None:
    """The count, when asked for; a first page that holds every row already knows it."""
    if not query.with_total:
        return None
    if query.after is None and not query.offset and not has_next:
        return served
    return int(await session.scalar(count_statement(base, query, columns, json_columns)) or 0)


# --------------------------------------------------------------------------- the users resource


USER_COLUMNS: Mapping[str, ColumnElement[Any]] = MappingProxyType(
    {
        "id": UserModel.id.expression,
        "email": UserModel.email.expression,
        "first_name": UserModel.first_name.expression,
        "last_name": UserModel.last_name.expression,
        "phone": UserModel.phone.expression,
        "role": UserModel.role.expression,
        "is_active": UserModel.is_active.expression,
        "birthday": UserModel.birthday.expression,
        "created_at": UserModel.created_at.expression,
        "updated_at": UserModel.updated_at.expression,
        "address.city": json_member_text(UserModel.address.expression, "city"),
        "address.country": json_member_text(UserModel.address.expression, "country"),
    }
)
USER_JSON_COLUMNS: Mapping[str, ColumnElement[Any]] = MappingProxyType({"meta": UserModel.meta.expression})
