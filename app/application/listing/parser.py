"""Listing parameters parsed and checked before any I/O, every bad one named at once.

A listing endpoint takes free-form query parameters; :func:`parse_list_query` turns them
into a typed :class:`ListQuery` for the resource's :class:`ResourceSpec` or refuses them,
naming every offending parameter. Nothing here knows SQL: a value can only ever be data.

* A filter parameter given several times is applied once per value, all ANDed
  (``created_at__gte=…&created_at__gte=…``); at most :data:`MAX_FILTERS` conditions in
  all. Reserved parameters (``limit``, ``order_by``, …) may be given once only.
* ``in``/``not_in`` values are comma-separated, so a value containing a comma cannot be
  listed; use ``eq`` for it.
* ``cursor`` together with ``offset`` is reported against ``offset``: the cursor already
  says where the page starts.
* ``offset`` is bounded by :data:`MAX_OFFSET` only so that it always fits a database
  integer; deep pages should use the cursor, whose cost does not grow with depth.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from app.application.listing.cursors import CursorCodec, InvalidCursor
from app.application.listing.spec import (
    DEFAULT_LIMIT,
    MAX_FILTER_VALUES,
    MAX_FILTERS,
    MAX_IN_VALUES,
    MAX_LIMIT,
    MAX_OFFSET,
    OPERATORS_BY_KIND,
    FieldKind,
    FieldSpec,
    Filter,
    ListQuery,
    Operator,
    Ordering,
    ResourceSpec,
)
from app.application.listing.values import parse_bool, parse_value
from app.domain.errors import FieldError, ValidationFailed

T = TypeVar("T")

_JSON_KEY = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")
_DIGITS = re.compile(r"^[0-9]{1,12}$")
_OPERATOR_NAMES = frozenset(Operator)


def parse_list_query(params: Mapping[str, Sequence[str]], spec: ResourceSpec, cursors: CursorCodec) -> ListQuery:
    """Parse listing parameters; raise ``ValidationFailed`` naming every bad parameter as sent."""
    given = {name: [values] if isinstance(values, str) else list(values) for name, values in params.items()}
    errors: list[FieldError] = []
    limit = _reserved(given, "limit", _parse_limit, DEFAULT_LIMIT, errors)
    offset = _reserved(given, "offset", _parse_offset, 0, errors)
    with_total = _reserved(given, "with_total", parse_bool, True, errors)
    include_deleted = spec.lists_deleted and _reserved(given, "include_deleted", parse_bool, False, errors)
    ordering = _reserved(given, "order_by", lambda raw: _parse_ordering(raw, spec), spec.default_ordering, errors)
    token = _reserved(given, "cursor", str, None, errors)
    filters = _parse_filters(given, spec, errors)
    if token is not None and given.get("offset"):
        errors.append(FieldError("offset", "Cannot be combined with cursor, which already says where the page starts"))
    query = ListQuery(
        filters=filters,
        ordering=ordering,
        limit=limit,
        offset=None if token is not None else offset,
        after=None,
        with_total=with_total,
        include_deleted=include_deleted,
    )
    if token is not None:
        query = _with_cursor(query, token, cursors, errors)
    if errors:
        raise ValidationFailed(_one_per_parameter(errors), detail="Invalid listing parameters")
    return query


def _one_per_parameter(errors: list[FieldError]) -> list[FieldError]:
    """The first problem of each parameter: a client fixes one parameter at a time."""
    first: dict[str, FieldError] = {}
    for error in errors:
        first.setdefault(error.field, error)
    return list(first.values())


def _reserved(
    given: Mapping[str, list[str]], name: str, parse: Callable[[str], T], default: T, errors: list[FieldError]
) -> T:
    """One reserved parameter: absent means the default; repeated or unparseable is an error."""
    values = given.get(name)
    if not values:
        return default
    if len(values) > 1:
        errors.append(FieldError(name, "Give this parameter once"))
        return default
    try:
        return parse(values[0])
    except ValueError as exc:
        errors.append(FieldError(name, str(exc)))
        return default


def _with_cursor(query: ListQuery, token: str, cursors: CursorCodec, errors: list[FieldError]) -> ListQuery:
    """Decode the cursor against the query; with other errors present, only its signature can be checked."""
    try:
        if errors:
            cursors.verify(token)
            return query
        after = cursors.decode(token, query)
    except InvalidCursor as exc:
        errors.append(FieldError("cursor", str(exc)))
        return query
    return ListQuery(
        filters=query.filters,
        ordering=query.ordering,
        limit=query.limit,
        offset=None,
        after=after,
        with_total=query.with_total,
        include_deleted=query.include_deleted,
    )


def _parse_int(raw: str, low: int, high: int) -> int:
    if not _DIGITS.match(raw) or not low <= int(raw) <= high:
        raise ValueError(f"Must be a whole number from {low} to {high}")
    return int(raw)


def _parse_limit(raw: str) -> int:
    return _parse_int(raw, 1, MAX_LIMIT)


def _parse_offset(raw: str) -> int:
    return _parse_int(raw, 0, MAX_OFFSET)


def _parse_ordering(raw: str, spec: ResourceSpec) -> tuple[Ordering, ...]:
    sortable = sorted(name for name, field in spec.fields.items() if field.sortable)
    ordering: list[Ordering] = []
    for item in raw.split(","):
        name = item.removeprefix("-")
        if name not in sortable:
            raise ValueError(f"Sort by comma-separated fields among {', '.join(sortable)}, '-' first for descending")
        if any(o.field == name for o in ordering):
            raise ValueError("Each field may appear once")
        ordering.append(Ordering(name, descending=item.startswith("-")))
    return tuple(ordering)


def _parse_filters(given: Mapping[str, list[str]], spec: ResourceSpec, errors: list[FieldError]) -> tuple[Filter, ...]:
    """Every non-reserved parameter is a filter; repeated ones are ANDed, up to MAX_FILTERS in all."""
    filters: list[Filter] = []
    for name, values in given.items():
        if name in spec.reserved_parameters or not values:
            continue
        if len(filters) + len(values) > MAX_FILTERS:
            errors.append(FieldError(name, f"At most {MAX_FILTERS} filters per request"))
            continue
        try:
            field, op = _split_filter_name(name, spec)
            parsed = [_parse_filter(field, op, raw) for raw in values]
        except ValueError as exc:
            errors.append(FieldError(name, str(exc)))
            continue
        if _value_count([*filters, *parsed]) > MAX_FILTER_VALUES:
            errors.append(FieldError(name, f"At most {MAX_FILTER_VALUES} filter values per request"))
            continue
        filters.extend(parsed)
    return tuple(filters)


def _value_count(filters: Sequence[Filter]) -> int:
    return sum(len(f.value) if isinstance(f.value, list) else 1 for f in filters)


def _split_filter_name(name: str, spec: ResourceSpec) -> tuple[FieldSpec, Operator]:
    """``<field>__<op>`` or a bare ``<field>`` (eq). A JSON key may itself contain ``__``."""
    field_name, separator, op_name = name.rpartition("__")
    if separator and op_name in _OPERATOR_NAMES:
        return _resolve_field(field_name, spec), Operator(op_name)
    try:
        return _resolve_field(name, spec), Operator.EQ
    except ValueError:
        if separator and _is_field(field_name, spec):
            raise ValueError(f"Unknown operator; use one of {', '.join(Operator)}") from None
        raise


def _is_field(name: str, spec: ResourceSpec) -> bool:
    try:
        _resolve_field(name, spec)
    except ValueError:
        return False
    return True


def _resolve_field(name: str, spec: ResourceSpec) -> FieldSpec:
    """An allow-listed field, or a member of a JSON field (compared as text)."""
    if (field := spec.fields.get(name)) is not None:
        return field
    document, dot, key = name.partition(".")
    if dot and document in spec.json_fields:
        if not _JSON_KEY.match(key):
            raise ValueError(f"Filter a member of {document} as {document}.<key>, key of 1-64 letters, digits, _ or -")
        return FieldSpec(name, FieldKind.STRING)
    fields = [*spec.fields, *(f"{document}.<key>" for document in sorted(spec.json_fields))]
    raise ValueError(f"Unknown field; filter by {', '.join(fields)}")


def _parse_filter(field: FieldSpec, op: Operator, raw: str) -> Filter:
    if op not in OPERATORS_BY_KIND[field.kind]:
        raise ValueError(f"Operator {op} does not apply to a {field.kind} field")
    value: Any
    if op is Operator.ISNULL:
        value = parse_bool(raw)
    elif op in (Operator.IN, Operator.NOT_IN):
        value = _parse_list(raw, field)
    else:
        value = parse_value(raw, field)
    return Filter(field.name, op, value)


def _parse_list(raw: str, field: FieldSpec) -> list[Any]:
    if not raw:
        raise ValueError("Give at least one value, comma-separated")
    items = raw.split(",", MAX_IN_VALUES)
    if len(items) > MAX_IN_VALUES:
        raise ValueError(f"At most {MAX_IN_VALUES} values")
    return [parse_value(item, field) for item in items]
