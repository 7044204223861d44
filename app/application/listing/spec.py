"""What a listing is: a resource's declaration of what clients may filter and sort by.

A resource declares its listing once, as a :class:`ResourceSpec`: its fields, their kinds
(which decide the operators and how values are parsed), which are sortable, and the
choices of an enum in rank order (sorting an enum sorts by rank, not by spelling). The
parser, the SQL, the OpenAPI parameters, the help text and the gRPC mapping are all
derived from it; nothing else names a field.

Choices the contract leaves open, decided here:

* ``gt``/``gte``/``lt``/``lte`` apply to strings (and JSON members), dates and
  datetimes; not to uuids, booleans or enums, whose order means nothing to a client.
* ``like``/``ilike``/``startswith``/``istartswith`` apply to strings and JSON members
  only, and match the value literally (``%``, ``_`` and ``\\`` are not wildcards).
* ``contains`` applies to array fields only, and only it does: the row's array holds the
  value (``tags__contains=urgent``). An array is never null (an empty one holds nothing).
* ``ne`` and ``not_in`` also match rows where the field is null: "not Ada" includes
  users with no first name, which is what a client filtering a table expects, unlike
  SQL's three-valued logic. ``gt``/``lt``… never match null.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Generic, TypeVar

import msgspec

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
    CONTAINS = "contains"


class FieldKind(StrEnum):
    UUID = "uuid"
    STRING = "string"
    BOOL = "bool"
    DATE = "date"
    DATETIME = "datetime"
    ENUM = "enum"
    #: An array of strings (a task's ``tags``), filtered by membership; never sortable.
    STRING_ARRAY = "string_array"


_EVERY_KIND = (Operator.EQ, Operator.NE, Operator.IN, Operator.NOT_IN, Operator.ISNULL)
_RANGE = (Operator.GT, Operator.GTE, Operator.LT, Operator.LTE)
_TEXT_MATCH = (Operator.LIKE, Operator.ILIKE, Operator.STARTSWITH, Operator.ISTARTSWITH)
OPERATORS_BY_KIND: Mapping[FieldKind, tuple[Operator, ...]] = MappingProxyType(
    {
        FieldKind.UUID: _EVERY_KIND,
        FieldKind.BOOL: _EVERY_KIND,
        FieldKind.ENUM: _EVERY_KIND,
        FieldKind.DATE: _EVERY_KIND + _RANGE,
        FieldKind.DATETIME: _EVERY_KIND + _RANGE,
        FieldKind.STRING: _EVERY_KIND + _RANGE + _TEXT_MATCH,
        FieldKind.STRING_ARRAY: (Operator.CONTAINS,),
    }
)


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One filterable field. A dotted name (``address.city``) is a member of a JSON column.

    ``choices`` are an enum's values in rank order: sorting by the field sorts by rank.
    """

    name: str
    kind: FieldKind
    sortable: bool = False
    choices: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.sortable and self.kind is FieldKind.STRING_ARRAY:
            raise ValueError(f"{self.name}: an array field cannot be sortable")


@dataclass(frozen=True, slots=True)
class Ordering:
    field: str
    descending: bool = False


@dataclass(frozen=True, slots=True)
class ResourceSpec:
    """What one resource lets clients filter and sort by: an allow-list, nothing implicit.

    ``json_fields`` name JSON columns whose top-level members are filterable as
    ``<name>.<key>`` and compare as text. ``lists_deleted``: whether ``include_deleted``
    may show soft-deleted rows; a resource whose deleted rows are gone for its clients
    (a task) refuses the parameter, naming it, as it refuses any unknown one.
    """

    fields: Mapping[str, FieldSpec]
    json_fields: frozenset[str]
    default_ordering: tuple[Ordering, ...]
    lists_deleted: bool = True
    sortable: tuple[str, ...] = field(init=False)
    #: The parameters that are not filters: paging, ordering, and ``include_deleted`` where it applies.
    reserved_parameters: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "sortable", tuple(name for name, spec in self.fields.items() if spec.sortable))
        reserved = RESERVED_PARAMETERS if self.lists_deleted else RESERVED_PARAMETERS - {"include_deleted"}
        object.__setattr__(self, "reserved_parameters", reserved)

    @classmethod
    def of(
        cls,
        *fields: FieldSpec,
        json_fields: frozenset[str],
        default_ordering: tuple[Ordering, ...],
        lists_deleted: bool = True,
    ) -> ResourceSpec:
        return cls(MappingProxyType({spec.name: spec for spec in fields}), json_fields, default_ordering, lists_deleted)

    def filter_parameters(self) -> Iterator[tuple[str, FieldSpec, Operator]]:
        """Every ``<field>__<op>`` query parameter of a declared field, in declaration order."""
        for spec in self.fields.values():
            for op in OPERATORS_BY_KIND[spec.kind]:
                yield f"{spec.name}__{op}", spec, op

    def help_text(self) -> str:
        """The listing's language in a few lines of Markdown, for the API documentation."""
        members = " ".join(f"`{name}.<key>`" for name in sorted(self.json_fields))
        arrays = [name for name, spec in self.fields.items() if spec.kind is FieldKind.STRING_ARRAY]
        contains = (
            f" `contains` (of array fields: `{' '.join(arrays)}`, and their only one) matches rows whose array "
            "holds the value."
            if arrays
            else ""
        )
        scalar_operators = " ".join(op for op in Operator if op is not Operator.CONTAINS)
        json_members = f" and {members} (any operator of a string)" if members else ""
        deleted = ", `include_deleted` (false)" if self.lists_deleted else ""
        return (
            "Filters are `<field>__<op>=<value>` (a bare `<field>=<value>` means `eq`). Operators: "
            f"`{scalar_operators}`; `in`/`not_in` take comma-separated values; `like`/`ilike` match a "
            f"substring literally.{contains} Fields: `{' '.join(self.fields)}`{json_members}.\n\n"
            f"`order_by`: comma-separated among `{' '.join(self.sortable)}`, `-` first for descending "
            f"(ties are broken by `id`); `limit` 1-{MAX_LIMIT} ({DEFAULT_LIMIT}), `offset` (0), `cursor` "
            f"(the previous page's `next_cursor`; not with `offset`), `with_total` (true){deleted}. "
            "Every bad parameter is named in the 422."
        )


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
