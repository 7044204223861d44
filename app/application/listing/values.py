"""One filter value of each field kind, parsed from its query-string spelling or refused in words."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from types import MappingProxyType
from typing import Any
from uuid import UUID

from app.application.listing.spec import MAX_STRING_LENGTH, FieldKind, FieldSpec

_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
DATETIME_PATTERN = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}"
    r"(?:[Tt ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{1,6})?)?(?:[Zz]|[+-][0-9]{2}:[0-9]{2})?)?$"
)
_DATETIME = re.compile(DATETIME_PATTERN)


def parse_value(raw: str, field: FieldSpec) -> Any:
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


def parse_bool(raw: str, _field: FieldSpec | None = None) -> bool:
    if raw not in ("true", "false"):
        raise ValueError("Must be true or false")
    return raw == "true"


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
        FieldKind.BOOL: parse_bool,
        FieldKind.DATE: _parse_date,
        FieldKind.DATETIME: _parse_datetime,
        FieldKind.ENUM: _parse_enum,
        # The value is one element of the array: a string.
        FieldKind.STRING_ARRAY: _parse_string,
    }
)
