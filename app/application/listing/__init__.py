"""Listings: a resource's declared filters and orderings, parsed from query parameters, with signed cursors."""

from app.application.listing.cursors import CursorCodec, InvalidCursor
from app.application.listing.parser import parse_list_query
from app.application.listing.spec import (
    MAX_CURSOR_LENGTH,
    RESERVED_PARAMETERS,
    FieldKind,
    FieldSpec,
    Filter,
    ListQuery,
    Operator,
    Ordering,
    Page,
    ResourceSpec,
)

__all__ = [
    "MAX_CURSOR_LENGTH",
    "RESERVED_PARAMETERS",
    "CursorCodec",
    "FieldKind",
    "FieldSpec",
    "Filter",
    "InvalidCursor",
    "ListQuery",
    "Operator",
    "Ordering",
    "Page",
    "ResourceSpec",
    "parse_list_query",
]
