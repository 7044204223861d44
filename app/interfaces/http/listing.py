"""A listing route's query parameters in the OpenAPI document, derived from the resource's spec.

The route reads its query string as a whole, so that :func:`app.application.listing.parse_list_query`
can name every bad parameter in one 422; Litestar would otherwise refuse the first bad
one itself. So the parameters are documented here rather than declared in the handler's
signature: the reserved ones with their types and bounds, and one optional parameter
per ``<field>__<op>`` of the spec, typed as the parser reads it, which is what a client
generated from the document can pass. Members of JSON columns (``meta.<key>``) have
free names, which no parameter list can hold: the description gives their form.
"""

from __future__ import annotations

from dataclasses import dataclass

from litestar.enums import ParamType
from litestar.openapi.spec import Operation, Parameter, Schema
from litestar.openapi.spec.enums import OpenAPIFormat, OpenAPIType

from app.application.listing import FieldKind, FieldSpec, Operator, ResourceSpec
from app.application.listing.cursors import CURSOR_PATTERN
from app.application.listing.spec import (
    DEFAULT_LIMIT,
    MAX_CURSOR_LENGTH,
    MAX_LIMIT,
    MAX_OFFSET,
    MAX_STRING_LENGTH,
)
from app.application.listing.values import DATETIME_PATTERN

_LIST = Schema(type=OpenAPIType.STRING, min_length=1, description="Comma-separated values")
_BOOLEAN = Schema(type=OpenAPIType.BOOLEAN)
_VALUES: dict[FieldKind, Schema] = {
    FieldKind.UUID: Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.UUID),
    FieldKind.STRING: Schema(type=OpenAPIType.STRING, max_length=MAX_STRING_LENGTH),
    # `contains`: one element of the array.
    FieldKind.STRING_ARRAY: Schema(type=OpenAPIType.STRING, max_length=MAX_STRING_LENGTH),
    FieldKind.BOOL: _BOOLEAN,
    FieldKind.DATE: Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.DATE),
    # The parser's own form: RFC 3339, a bare date meaning its midnight, no offset meaning UTC.
    FieldKind.DATETIME: Schema(type=OpenAPIType.STRING, pattern=DATETIME_PATTERN),
}


def _value_schema(field: FieldSpec, op: Operator) -> Schema:
    if op is Operator.ISNULL:
        return _BOOLEAN
    if op in (Operator.IN, Operator.NOT_IN):
        return _LIST
    if field.kind is FieldKind.ENUM:
        return Schema(type=OpenAPIType.STRING, enum=list(field.choices))
    return _VALUES[field.kind]


def _query(name: str, schema: Schema, description: str) -> Parameter:
    return Parameter(name=name, param_in=ParamType.QUERY, schema=schema, required=False, description=description)


def listing_parameters(spec: ResourceSpec) -> list[Parameter]:
    """Every query parameter of ``spec``'s listing: paging and ordering, then one per filter."""
    sortable = "|".join(spec.sortable)
    return [
        _query(
            "limit",
            Schema(type=OpenAPIType.INTEGER, minimum=1, maximum=MAX_LIMIT, default=DEFAULT_LIMIT),
            "Rows per page",
        ),
        _query(
            "offset",
            # No ``default``: a generated client would send it, and an offset refuses a cursor.
            Schema(type=OpenAPIType.INTEGER, minimum=0, maximum=MAX_OFFSET),
            "Rows to skip, none when absent; not with `cursor`",
        ),
        _query(
            "cursor",
            Schema(type=OpenAPIType.STRING, pattern=CURSOR_PATTERN, max_length=MAX_CURSOR_LENGTH),
            "The previous page's `next_cursor`, with the same filters and ordering",
        ),
        _query(
            "order_by",
            Schema(type=OpenAPIType.STRING, pattern=f"^-?({sortable})(,-?({sortable}))*$"),
            "Comma-separated sort keys, each once, `-` first for descending; ties are broken by `id`",
        ),
        _query("with_total", Schema(type=OpenAPIType.BOOLEAN, default=True), "Count the matching rows"),
        *(
            [_query("include_deleted", Schema(type=OpenAPIType.BOOLEAN, default=False), "Show soft-deleted rows too")]
            if spec.lists_deleted
            else []
        ),
        *(
            _query(name, _value_schema(field, op), f"`{field.name}` {op}")
            for name, field, op in spec.filter_parameters()
        ),
    ]


def listing_operation(spec: ResourceSpec) -> type[Operation]:
    """The ``operation_class`` of a listing route: Litestar's operation, with ``spec``'s parameters."""
    parameters = listing_parameters(spec)

    @dataclass
    class ListingOperation(Operation):
        def __post_init__(self) -> None:
            self.parameters = [*(self.parameters or []), *parameters]

    return ListingOperation
