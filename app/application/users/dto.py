"""Request and response bodies of the user use cases.

Bounds live here, on the wire types, so that every transport rejects oversized or
malformed input before a use case runs; the limits come from the domain's own constants.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any
from uuid import UUID

import msgspec

from app.domain.users.model import User
from app.domain.users.values import (
    EMAIL_MAX_LENGTH,
    EMAIL_PATTERN,
    PASSWORD_MAX_LENGTH,
    PASSWORD_MIN_LENGTH,
    Address,
    Role,
)

EmailField = Annotated[
    str, msgspec.Meta(max_length=EMAIL_MAX_LENGTH, pattern=EMAIL_PATTERN, examples=["ada@example.com"])
]
PasswordField = Annotated[str, msgspec.Meta(min_length=PASSWORD_MIN_LENGTH, max_length=PASSWORD_MAX_LENGTH)]
NameField = Annotated[str, msgspec.Meta(max_length=100)]
PhoneField = Annotated[str, msgspec.Meta(max_length=32, pattern=r"^\+?[0-9][0-9 ().\-]{2,31}$")]
UrlField = Annotated[str, msgspec.Meta(max_length=2048, pattern=r"^https?://\S+$")]
AddressPart = Annotated[str, msgspec.Meta(max_length=200)]
MetaField = Annotated[
    dict[str, Any],
    msgspec.Meta(max_length=64, description="Free-form JSON object, at most 64 top-level keys"),
]


class Input(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Base of request bodies: unknown fields are an error, not silently dropped."""


class AddressBody(Input):
    street: AddressPart | None = None
    city: AddressPart | None = None
    state: AddressPart | None = None
    zip_code: Annotated[str, msgspec.Meta(max_length=20)] | None = None
    country: AddressPart | None = None

    def to_value(self) -> Address:
        return Address(**msgspec.structs.asdict(self))


class SignUpBody(Input):
    email: EmailField
    password: PasswordField
    first_name: NameField | None = None
    last_name: NameField | None = None


class ProfilePatch(Input):
    """Only the fields present change; ``null`` clears a field. Absent and null differ."""

    first_name: NameField | msgspec.UnsetType | None = msgspec.UNSET
    last_name: NameField | msgspec.UnsetType | None = msgspec.UNSET
    phone: PhoneField | msgspec.UnsetType | None = msgspec.UNSET
    birthday: date | msgspec.UnsetType | None = msgspec.UNSET
    photo_url: UrlField | msgspec.UnsetType | None = msgspec.UNSET
    address: AddressBody | msgspec.UnsetType | None = msgspec.UNSET
    meta: MetaField | msgspec.UnsetType = msgspec.UNSET

    def changes(self) -> dict[str, Any]:
        """The present fields as domain values."""
        changes = {name: value for name, value in msgspec.structs.asdict(self).items() if value is not msgspec.UNSET}
        if isinstance(address := changes.get("address"), AddressBody):
            changes["address"] = address.to_value()
        return changes


class PasswordChangeBody(Input):
    current_password: Annotated[str, msgspec.Meta(max_length=PASSWORD_MAX_LENGTH)]
    new_password: PasswordField


class AddressRead(msgspec.Struct, kw_only=True):
    street: str | None
    city: str | None
    state: str | None
    zip_code: str | None
    country: str | None


class UserRead(msgspec.Struct, kw_only=True):
    id: UUID
    email: str
    first_name: str | None
    last_name: str | None
    phone: str | None
    birthday: date | None
    photo_url: str | None
    address: AddressRead | None
    meta: dict[str, Any]
    role: Role
    is_active: bool
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_entity(cls, user: User) -> UserRead:
        # from_attributes reads the dataclass directly; the password hash has no field here,
        # so it cannot leak through this type.
        return msgspec.convert(user, cls, from_attributes=True)
