"""The users listing: what an administrator may filter and sort users by, declared once."""

from __future__ import annotations

from app.application.listing import FieldKind, FieldSpec, Ordering, ResourceSpec
from app.domain.users.values import Role

USER_LISTING = ResourceSpec.of(
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
    json_fields=frozenset({"meta"}),
    default_ordering=(Ordering("created_at", descending=True),),
)
