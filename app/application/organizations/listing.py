"""The tenancy's listings: what a user may filter and sort organizations and members by."""

from __future__ import annotations

from app.application.listing import FieldKind, FieldSpec, Ordering, ResourceSpec
from app.domain.organizations.values import OrgRole

ORGANIZATION_LISTING = ResourceSpec.of(
    FieldSpec("name", FieldKind.STRING, sortable=True),
    FieldSpec("slug", FieldKind.STRING, sortable=True),
    FieldSpec("created_at", FieldKind.DATETIME, sortable=True),
    json_fields=frozenset(),
    default_ordering=(Ordering("created_at", descending=True),),
    lists_deleted=False,
)

MEMBER_LISTING = ResourceSpec.of(
    FieldSpec("email", FieldKind.STRING, sortable=True),
    # Sorted by rank (member < admin < owner), as every enum is.
    FieldSpec("role", FieldKind.ENUM, sortable=True, choices=tuple(role.value for role in OrgRole)),
    FieldSpec("joined_at", FieldKind.DATETIME, sortable=True),
    json_fields=frozenset(),
    default_ordering=(Ordering("joined_at"),),
    lists_deleted=False,
)
