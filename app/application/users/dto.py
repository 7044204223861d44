"""Request and response bodies of the user use cases.

Bounds live here, on the wire types, so that every transport rejects oversized or
malformed input before a use case runs; the limits come from the domain's own constants.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any
from uuid import UUID

import msgspec

from app.domain.errors import FieldError, ValidationFailed
from app.domain.users.model import User
from app.domain.users.values import (
    EMAIL_MAX_LENGTH,
    EMAIL_PATTERN,
    INVISIBLE,
    PASSWORD_MAX_LENGTH,
    PASSWORD_MIN_LENGTH,
    Address,
    Role,
)

#: Text of any kind but NUL, which no client means to send and PostgreSQL cannot store.
TEXT_PATTERN = r"^[^\x00]*$"
#: A person's name: any text but control characters and line or paragraph separators, which
#: no name contains and which would break every place a name is shown on one line.
NAME_PATTERN = r"^[^\x00-\x1f\x7f-\x9f\u2028\u2029]*$"
META_MAX_KEYS = 64
META_MAX_DEPTH = 8
#: ``meta`` as JSON. Without it only the body limit (1 MiB) bounded it, and a page of 500
#: users — or every cached authentication of one — could weigh hundreds of megabytes.
META_MAX_BYTES = 16_384
#: The largest magnitude a number in ``meta`` may have: 2^53 - 1, the last integer a double
#: holds exactly. gRPC serves ``meta`` as a protobuf ``Struct``, whose numbers are doubles,
#: and the cache and PostgreSQL have their own limits (int64, and ``jsonb`` turning 1e20 into
#: an integer); within this bound every transport and store gives back what was written.
META_MAX_NUMBER = 2**53 - 1

EmailField = Annotated[
    str, msgspec.Meta(max_length=EMAIL_MAX_LENGTH, pattern=EMAIL_PATTERN, examples=["ada@example.com"])
]
PasswordField = Annotated[str, msgspec.Meta(min_length=PASSWORD_MIN_LENGTH, max_length=PASSWORD_MAX_LENGTH)]
NameField = Annotated[str, msgspec.Meta(max_length=100, pattern=NAME_PATTERN)]
PhoneField = Annotated[str, msgspec.Meta(max_length=32, pattern=r"^\+?[0-9][0-9 ().\-]{2,31}$")]
UrlField = Annotated[str, msgspec.Meta(max_length=2048, pattern=rf"^https?://[^{INVISIBLE}]+$")]
AddressPart = Annotated[str, msgspec.Meta(max_length=200, pattern=TEXT_PATTERN)]
MetaField = Annotated[
    dict[str, Any],
    msgspec.Meta(
        max_length=META_MAX_KEYS,
        description=(
            f"JSON object: at most {META_MAX_KEYS} top-level keys, nested at most {META_MAX_DEPTH} deep, "
            f"at most {META_MAX_BYTES} bytes as JSON, no NUL character in any key or string, "
            f"every number (integer or not) within ±{META_MAX_NUMBER} (2^53 - 1, exact as a double)"
        ),
    ),
]


class Input(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Base of request bodies: unknown fields are an error, not silently dropped."""


class AddressBody(Input):
    street: AddressPart | None = None
    city: AddressPart | None = None
    state: AddressPart | None = None
    zip_code: Annotated[str, msgspec.Meta(max_length=20, pattern=TEXT_PATTERN)] | None = None
    country: AddressPart | None = None

    def to_value(self) -> Address:
        return Address(**msgspec.structs.asdict(self))


class SignUpBody(Input):
    email: EmailField
    password: PasswordField
    first_name: NameField | None = None
    last_name: NameField | None = None

    def profile(self) -> dict[str, str]:
        """The profile fields that were given."""
        given = {"first_name": self.first_name, "last_name": self.last_name}
        return {name: value for name, value in given.items() if value is not None}


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
        if "meta" in changes:
            check_meta(changes["meta"])
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
    email_verified: bool
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


def check_meta(meta: dict[str, Any]) -> dict[str, Any]:
    """``meta`` if it is within its bounds, else ``ValidationFailed`` naming where it breaks one.

    Every way of writing ``meta`` goes through here: a body decoded from a request, and a
    merge from a message, whose result no single input bounds. A value deep inside is
    named by its path (``meta.a.b``, ``meta.list.3``).
    """
    if len(meta) > META_MAX_KEYS:
        raise _meta_error("meta", f"At most {META_MAX_KEYS} top-level keys")
    _check_json_document(meta, path="meta", depth=1)
    if len(msgspec.json.encode(meta)) > META_MAX_BYTES:
        raise _meta_error("meta", f"At most {META_MAX_BYTES} bytes as JSON")
    return meta


def _check_json_document(value: Any, *, path: str, depth: int) -> None:
    """Bound nesting (deep documents cost recursion everywhere they are read), refuse NUL
    and numbers that some transport or store would not give back as written."""
    if depth > META_MAX_DEPTH:
        raise _meta_error(path, f"Nested deeper than {META_MAX_DEPTH} levels")
    if isinstance(value, str):
        if "\x00" in value:
            raise _meta_error(path, "Text must not contain NUL characters")
        if not _is_unicode_text(value):
            raise _meta_error(path, "Text must be valid Unicode (no lone surrogates)")
    # NaN fails every comparison, so it is refused with the infinities.
    if isinstance(value, int | float) and not isinstance(value, bool) and not abs(value) <= META_MAX_NUMBER:
        raise _meta_error(path, f"Numbers must lie within ±{META_MAX_NUMBER}")
    children = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in children:
        _check_json_document(key, path=path, depth=depth)
        _check_json_document(child, path=f"{path}.{key}", depth=depth + 1)


def _is_unicode_text(text: str) -> bool:
    """Whether ``text`` holds no lone surrogate: JSON decoders refuse one, but a caller in
    this process can pass any ``str``, and UTF-8 (every store and transport) cannot carry it."""
    if text.isascii():
        return True
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def _meta_error(path: str, message: str) -> ValidationFailed:
    return ValidationFailed([FieldError(path, message)])


class AdminUserCreate(Input):
    """A user created by an administrator; without a password the user cannot sign in until one is set."""

    email: EmailField
    password: PasswordField | None = None
    role: Role = Role.USER
    first_name: NameField | None = None
    last_name: NameField | None = None
    phone: PhoneField | None = None
    birthday: date | None = None
    photo_url: UrlField | None = None
    address: AddressBody | None = None
    meta: MetaField = msgspec.field(default_factory=dict)

    def profile(self) -> dict[str, Any]:
        """The profile fields that were given, as domain values."""
        # The profile's fields read off this body by name; the rest (email, password, role) are not the profile.
        return msgspec.convert(self, ProfilePatch, from_attributes=True).changes()


class AdminUserPatch(ProfilePatch):
    role: Role | msgspec.UnsetType = msgspec.UNSET
    is_active: bool | msgspec.UnsetType = msgspec.UNSET


class BulkUserUpdate(AdminUserPatch, kw_only=True):
    id: UUID


BULK_MAX_ITEMS = 1000


class BulkCreateBody(Input):
    items: Annotated[list[AdminUserCreate], msgspec.Meta(min_length=1, max_length=BULK_MAX_ITEMS)]


class BulkUpdateBody(Input):
    items: Annotated[list[BulkUserUpdate], msgspec.Meta(min_length=1, max_length=BULK_MAX_ITEMS)]


class UserItems(msgspec.Struct, kw_only=True):
    items: list[UserRead]
