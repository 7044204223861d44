"""SQL that advanced-alchemy's filters do not offer, rendered alike on PostgreSQL and SQLite.

* ``like``/``startswith`` are case-sensitive on both (SQLite's ``LIKE`` is not, so there
  they use ``instr``); ``%``, ``_`` and the escape character are literal. Values come as
  bind parameters, so that a statement serves every value of its shape.
* ``contains`` of an array: ``@>`` on PostgreSQL's ``text[]``, ``json_each`` over SQLite's
  JSON array; the same rows either way.
* A JSON member compares as text: strings as themselves, ``true``/``false``, integers as
  their digits. (Other number spellings and nested values may render differently.)
"""

from __future__ import annotations

from typing import Any

from advanced_alchemy.filters import LIKE_ESCAPE_CHAR
from sqlalchemy import BindParameter, Boolean, ColumnElement, String, bindparam
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement


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
    return f"({compiler.process(column, **kw)} LIKE {compiler.process(pattern, **kw)} ESCAPE '{LIKE_ESCAPE_CHAR}')"


@compiles(_CaseSensitiveMatch, "sqlite")
def _case_sensitive_match_sqlite(element: _CaseSensitiveMatch, compiler: SQLCompiler, **kw: Any) -> str:
    column, _pattern, needle = element.clauses.clauses
    return f"(instr({compiler.process(column, **kw)}, {compiler.process(needle, **kw)}) {element.sqlite_position})"


def contains(
    column: ColumnElement[Any], pattern: BindParameter[str], needle: BindParameter[str]
) -> ColumnElement[bool]:
    """``needle`` anywhere in ``column``, case-sensitively and literally; ``pattern`` is
    ``%needle%`` with the LIKE wildcards escaped (each dialect uses one of the two)."""
    return _Contains(column, pattern, needle)


def startswith(
    column: ColumnElement[Any], pattern: BindParameter[str], needle: BindParameter[str]
) -> ColumnElement[bool]:
    """``column`` begins with ``needle``, case-sensitively and literally; ``pattern`` is
    ``needle%`` with the LIKE wildcards escaped."""
    return _StartsWith(column, pattern, needle)


class _ArrayContains(FunctionElement[bool]):
    """An array column holds a value: PostgreSQL's ``@>`` on a ``text[]`` (which a GIN index
    serves), a JSON array's members on SQLite."""

    name = "listing_array_contains"
    inherit_cache = True
    type = Boolean()


@compiles(_ArrayContains)
def _array_contains_default(element: _ArrayContains, compiler: SQLCompiler, **kw: Any) -> str:
    column, value = element.clauses.clauses
    return f"({compiler.process(column, **kw)} @> ARRAY[CAST({compiler.process(value, **kw)} AS TEXT)])"


@compiles(_ArrayContains, "sqlite")
def _array_contains_sqlite(element: _ArrayContains, compiler: SQLCompiler, **kw: Any) -> str:
    column, value = element.clauses.clauses
    # Compiled clauses only: the column is the spec's, the value a bound parameter.
    return (
        f"EXISTS (SELECT 1 FROM json_each({compiler.process(column, **kw)}) "  # noqa: S608
        f"WHERE json_each.value = {compiler.process(value, **kw)})"
    )


def array_contains(column: ColumnElement[Any], value: BindParameter[str]) -> ColumnElement[bool]:
    """``column`` (an array of strings) holds ``value``."""
    return _ArrayContains(column, value)
