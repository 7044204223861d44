"""Listing queries: what a client may filter and sort by, parsed and checked before any I/O.

A listing endpoint takes free-form query parameters; this module turns them into a typed
:class:`ListQuery` or refuses them, naming every offending parameter at once. Nothing
here knows SQL: the infrastructure translates a ``ListQuery`` into bound-parameter
statements, so a value can only ever be data, never syntax.

Choices the contract leaves open, decided here:

* A filter parameter given several times is applied once per value, all ANDed
  (``created_at__gte=…&created_at__gte=…``); at most :data:`MAX_FILTERS` conditions in
  all. Reserved parameters (``limit``, ``order_by``, …) may be given once only.
* ``gt``/``gte``/``lt``/``lte`` apply to strings (and ``meta`` members), dates and
  datetimes; not to uuids, booleans or enums, whose order means nothing to a client.
* ``like``/``ilike``/``startswith``/``istartswith`` apply to strings and ``meta``
  members only, and match the value literally (``%``, ``_`` and ``\\`` are not wildcards).
* ``in``/``not_in`` values are comma-separated, so a value containing a comma cannot be
  listed; use ``eq`` for it.
* ``ne`` and ``not_in`` also match rows where the field is null: "not Ada" includes
  users with no first name (``IS DISTINCT FROM``), which is what a client filtering a
  table expects, unlike SQL's three-valued logic. ``gt``/``lt``… never match null.
* ``cursor`` together with ``offset`` is reported against ``offset``: the cursor already
  says where the page starts.
* ``offset`` is bounded by :data:`MAX_OFFSET` only so that it always fits a database
  integer; deep pages should use the cursor, whose cost does not grow with depth.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Generic, TypeVar
from uuid import UUID

import msgspec

from app.domain.errors import FieldError, ValidationFailed
from app.domain.users.values import Role

T = TypeVar("T")

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
MAX_OFFSET = 2**31 - 1
MAX_STRING_LENGTH = 1000
MAX_IN_VALUES = 1000
MAX_FILTERS = 50
#: All values of all filters together: each is one bound parameter, and PostgreSQL takes at most 32767.
MAX_FILTER_VALUES = 10_000
#: Room for the longest legitimate cursor (every sortable field at its longest, JSON-escaped).
MAX_CURSOR_LENGTH = 8192
RESERVED_PARAMETERS = frozenset({"order_by", "limit", "offset", "cursor", "with_total", "include_deleted"})

_JSON_KEY = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
_DATETIME = re.compile(
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}"
    r"(?:[Tt ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{1,6})?)?(?:[Zz]|[+-][0-9]{2}:[0-9]{2})?)?$"
)
_DIGITS = re.compile(r"^[0-9]{1,12}$")
_TOKEN = re.compile(r"^[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+$")


class Operator(StrEnum):
    EQ = "eq"
    NE = "ne"
    GT = "gt"
    GTE = "gte"
    LT = "lt"
    LTE = "lte"
    IN = "in"
    NOT_IN = "not_in"
    LIKE = "like"
    ILIKE = "ilike"
    STARTSWITH = "startswith"
    ISTARTSWITH = "istartswith"
    ISNULL = "isnull"


_OPERATOR_NAMES = frozenset(op.value for op in Operator)


class FieldKind(StrEnum):
    UUID = "uuid"
    STRING = "string"
    BOOL = "bool"
    DATE = "date"
    DATETIME = "datetime"
    ENUM = "enum"


_EVERY_KIND = frozenset({Operator.EQ, Operator.NE, Operator.IN, Operator.NOT_IN, Operator.ISNULL})
_RANGE = frozenset({Operator.GT, Operator.GTE, Operator.LT, Operator.LTE})
_TEXT_MATCH = frozenset({Operator.LIKE, Operator.ILIKE, Operator.STARTSWITH, Operator.ISTARTSWITH})
_OPERATORS_BY_KIND: Mapping[FieldKind, frozenset[Operator]] = MappingProxyType(
    {
        FieldKind.UUID: _EVERY_KIND,
        FieldKind.BOOL: _EVERY_KIND,
        FieldKind.ENUM: _EVERY_KIND,
        FieldKind.DATE: _EVERY_KIND | _RANGE,
        FieldKind.DATETIME: _EVERY_KIND | _RANGE,
        FieldKind.STRING: _EVERY_KIND | _RANGE | _TEXT_MATCH,
    }
)


@dataclass(frozen=True, slots=True)
class FieldSpec:
    name: str
    kind: FieldKind
    sortable: bool = False
    choices: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Ordering:
    field: str
    descending: bool = False


@dataclass(frozen=True, slots=True)
class ResourceSpec:
    """What one resource lets clients filter and sort by: an allow-list, nothing implicit.

    ``json_fields`` name JSON columns whose top-level members are filterable as
    ``<name>.<key>`` and compare as text.
    """

    fields: Mapping[str, FieldSpec]
    json_fields: frozenset[str]
    default_ordering: tuple[Ordering, ...]


@dataclass(frozen=True, slots=True)
class Filter:
    field: str
    op: Operator
    value: Any


@dataclass(frozen=True, slots=True)
class ListQuery:
    """A checked listing request; ``after`` is the decoded cursor (sort values, then id)."""

    filters: tuple[Filter, ...]
    ordering: tuple[Ordering, ...]
    limit: int
    offset: int | None
    after: tuple[Any, ...] | None
    with_total: bool
    include_deleted: bool


class Page(msgspec.Struct, Generic[T], kw_only=True):
    items: list[T]
    total: int | None
    limit: int
    offset: int | None
    next_cursor: str | None


def _resource_fields(*specs: FieldSpec) -> Mapping[str, FieldSpec]:
    return MappingProxyType({spec.name: spec for spec in specs})


USER_LISTING = ResourceSpec(
    fields=_resource_fields(
        FieldSpec("id", FieldKind.UUID),
        FieldSpec("email", FieldKind.STRING, sortable=True),
        FieldSpec("first_name", FieldKind.STRING, sortable=True),
        FieldSpec("last_name", FieldKind.STRING, sortable=True),
        FieldSpec("phone", FieldKind.STRING),
        FieldSpec("role", FieldKind.ENUM, choices=tuple(role.value for role in Role)),
        FieldSpec("is_active", FieldKind.BOOL),
        FieldSpec("birthday", FieldKind.DATE, sortable=True),
        FieldSpec("created_at", FieldKind.DATETIME, sortable=True),
        FieldSpec("updated_at", FieldKind.DATETIME, sortable=True),
        FieldSpec("address.city", FieldKind.STRING),
        FieldSpec("address.country", FieldKind.STRING),
    ),
    json_fields=frozenset({"meta"}),
    default_ordering=(Ordering("created_at", descending=True),),
)


# --------------------------------------------------------------------------- cursors


class InvalidCursor(ValueError):
    """A cursor that was not made by this service for this very listing."""


class _CursorBody(msgspec.Struct, forbid_unknown_fields=True):
    v: int
    b: str
    p: list[Any]


_CURSOR_VERSION = 1


class CursorCodec:
    """Opaque, signed keyset cursors.

    A cursor carries the sort values and id of the last row served. It is signed with
    HMAC-SHA256 so that a client cannot forge a position (a forged one could at worst skip
    rows, but a signature makes "opaque" a guarantee), and it carries a digest of the
    filters, ordering and ``include_deleted`` it was made for: reused with another listing
    it would silently point into a different order, so it is refused instead.
    """

    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("The cursor key must be at least 16 bytes")
        # A key of its own, derived from the service secret, so that a cursor signature can
        # never double as a signature of any other kind.
        self._key = hmac.new(key, b"app.listing.cursor.v1", hashlib.sha256).digest()

    def encode(self, query: ListQuery, position: tuple[Any, ...]) -> str:
        """The cursor of the page after the row at ``position`` (sort values, then id)."""
        body = _CursorBody(v=_CURSOR_VERSION, b=_binding(query), p=[_tag(value) for value in position])
        payload = _b64encode(msgspec.json.encode(body))
        token = f"{payload}.{self._sign(payload)}"
        if len(token) > MAX_CURSOR_LENGTH:  # sort keys are bounded columns: this is a bug, not input
            raise ValueError("Cursor longer than MAX_CURSOR_LENGTH")
        return token

    def decode(self, token: str, query: ListQuery) -> tuple[Any, ...]:
        """The position in ``token``; raises :class:`InvalidCursor` unless it was made for ``query``.

        ``query.after`` and ``query.limit``/``offset`` are ignored: a client may change the
        page size between pages.
        """
        body = self._open(token)
        if body.b != _binding(query):
            raise InvalidCursor("This cursor belongs to a listing with other filters or ordering")
        if len(body.p) != len(query.ordering) + 1:
            raise InvalidCursor("Invalid cursor")
        return tuple(_untag(value) for value in body.p)

    def _open(self, token: str) -> _CursorBody:
        """Check the signature before reading anything inside the token."""
        if len(token) > MAX_CURSOR_LENGTH or not _TOKEN.match(token):
            raise InvalidCursor("Invalid cursor")
        payload, _, signature = token.partition(".")
        if not hmac.compare_digest(signature, self._sign(payload)):
            raise InvalidCursor("Invalid cursor")
        try:
            body = msgspec.json.decode(_b64decode(payload), type=_CursorBody)
        except (ValueError, msgspec.DecodeError) as exc:
            raise InvalidCursor("Invalid cursor") from exc
        if body.v != _CURSOR_VERSION:
            raise InvalidCursor("This cursor has expired; start from the first page")
        return body

    def _sign(self, payload: str) -> str:
        return _b64encode(hmac.new(self._key, payload.encode("ascii"), hashlib.sha256).digest())


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _binding(query: ListQuery) -> str:
    """A digest of what makes two listings the same order: filters (in any order), ordering, deleted rows."""
    filters = sorted(msgspec.json.encode([f.field, f.op.value, _tag(f.value)]) for f in query.filters)
    ordering = [[o.field, o.descending] for o in query.ordering]
    document = msgspec.json.encode([[f.decode() for f in filters], ordering, query.include_deleted])
    return _b64encode(hashlib.sha256(document).digest()[:18])


def _tag(value: Any) -> Any:
    """A JSON form that keeps the type, so that a datetime comes back a datetime, not a string."""
    if value is None:
        return None
    tagged: list[Any]
    if isinstance(value, bool):
        tagged = ["b", value]
    elif isinstance(value, int):
        tagged = ["i", value]
    elif isinstance(value, str):
        tagged = ["s", str(value)]
    elif isinstance(value, datetime):
        tagged = ["t", value.isoformat()]
    elif isinstance(value, date):
        tagged = ["d", value.isoformat()]
    elif isinstance(value, UUID):
        tagged = ["u", str(value)]
    elif isinstance(value, list | tuple):
        tagged = ["l", [_tag(item) for item in value]]
    else:
        raise TypeError(f"A {type(value).__name__} cannot be part of a cursor")
    return tagged


_UNTAG: Mapping[str, Callable[[Any], Any]] = MappingProxyType(
    {
        "b": bool,
        "i": int,
        "s": str,
        "t": datetime.fromisoformat,
        "d": date.fromisoformat,
        "u": UUID,
    }
)


def _untag(value: Any) -> Any:
    if value is None:
        return None
    try:
        tag, raw = value
        return _UNTAG[tag](raw)
    except (TypeError, ValueError, KeyError) as exc:
        raise InvalidCursor("Invalid cursor") from exc


# --------------------------------------------------------------------------- parsing


def parse_list_query(params: Mapping[str, Sequence[str]], spec: ResourceSpec, cursors: CursorCodec) -> ListQuery:
    """Parse listing parameters; raise ``ValidationFailed`` naming every bad parameter as sent."""
    given = {name: [values] if isinstance(values, str) else list(values) for name, values in params.items()}
    errors: list[FieldError] = []
    limit = _reserved(given, "limit", _parse_limit, DEFAULT_LIMIT, errors)
    offset = _reserved(given, "offset", _parse_offset, 0, errors)
    with_total = _reserved(given, "with_total", _parse_bool, True, errors)
    include_deleted = _reserved(given, "include_deleted", _parse_bool, False, errors)
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
            cursors._open(token)
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


def _parse_bool(raw: str) -> bool:
    if raw not in ("true", "false"):
        raise ValueError("Must be true or false")
    return raw == "true"


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
        if name in RESERVED_PARAMETERS or not values:
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
    members = ", ".join(f"{document}.<key>" for document in sorted(spec.json_fields))
    raise ValueError(f"Unknown field; filter by {', '.join(spec.fields)}, {members}")


def _parse_filter(field: FieldSpec, op: Operator, raw: str) -> Filter:
    if op not in _OPERATORS_BY_KIND[field.kind]:
        raise ValueError(f"Operator {op} does not apply to a {field.kind} field")
    value: Any
    if op is Operator.ISNULL:
        value = _parse_bool(raw)
    elif op in (Operator.IN, Operator.NOT_IN):
        value = _parse_list(raw, field)
    else:
        value = _parse_value(raw, field)
    return Filter(field.name, op, value)


def _parse_list(raw: str, field: FieldSpec) -> list[Any]:
    if not raw:
        raise ValueError("Give at least one value, comma-separated")
    items = raw.split(",", MAX_IN_VALUES)
    if len(items) > MAX_IN_VALUES:
        raise ValueError(f"At most {MAX_IN_VALUES} values")
    return [_parse_value(item, field) for item in items]


def _parse_value(raw: str, field: FieldSpec) -> Any:
    return _VALUE_PARSERS[field.kind](raw, field)


def _parse_string(raw: str, _field: FieldSpec) -> str:
    if len(raw) > MAX_STRING_LENGTH:
        raise ValueError(f"At most {MAX_STRING_LENGTH} characters")
    # NUL and lone surrogates cannot be sent to PostgreSQL; refusing them here keeps them a 422, not a 500.
    if "\x00" in raw:
        raise ValueError("Must not contain NUL characters")
    try:
        raw.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("Must be valid Unicode text") from None
    return raw


def _parse_uuid(raw: str, _field: FieldSpec) -> UUID:
    if not _UUID.match(raw):
        raise ValueError("Must be a UUID like 0192f6f1-8a4c-7d3e-9b1a-2f3c4d5e6f70")
    return UUID(raw)


def _parse_bool_value(raw: str, _field: FieldSpec) -> bool:
    return _parse_bool(raw)


def _parse_date(raw: str, _field: FieldSpec) -> date:
    try:
        if not _DATE.match(raw):
            raise ValueError
        return date.fromisoformat(raw)
    except ValueError:
        raise ValueError("Must be a date, YYYY-MM-DD") from None


def _parse_datetime(raw: str, _field: FieldSpec) -> datetime:
    """RFC 3339 (a bare date means its midnight); no offset means UTC. Always returned in UTC."""
    try:
        if not _DATETIME.match(raw):
            raise ValueError
        moment = datetime.fromisoformat(raw.upper().replace("Z", "+00:00"))
        return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)
    except (ValueError, OverflowError):
        raise ValueError("Must be an RFC 3339 date-time, e.g. 2026-01-31T12:00:00Z") from None


def _parse_enum(raw: str, field: FieldSpec) -> str:
    if raw not in field.choices:
        raise ValueError(f"Must be one of {', '.join(field.choices)}")
    return raw


_VALUE_PARSERS: Mapping[FieldKind, Callable[[str, FieldSpec], Any]] = MappingProxyType(
    {
        FieldKind.UUID: _parse_uuid,
        FieldKind.STRING: _parse_string,
        FieldKind.BOOL: _parse_bool_value,
        FieldKind.DATE: _parse_date,
        FieldKind.DATETIME: _parse_datetime,
        FieldKind.ENUM: _parse_enum,
    }
)
