"""Turning value-object errors into field errors, all at once; instants into UTC, or a field error."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from app.domain.errors import FieldError, ValidationFailed


def validate_fields(**parsers: Callable[[], Any]) -> dict[str, Any]:
    """Run one parser per input field and report every failure together.

    A client fixing a form should learn about the bad email and the short password in one
    round trip, not two. A parser of several fields (a profile) raises ``ValidationFailed``
    naming its own.
    """
    values: dict[str, Any] = {}
    errors: list[FieldError] = []
    for field, parse in parsers.items():
        try:
            values[field] = parse()
        except ValueError as exc:
            errors.append(FieldError(field, str(exc)))
        except ValidationFailed as exc:
            errors.extend(exc.errors)
    if errors:
        raise ValidationFailed(errors)
    return values


def in_utc(moment: datetime, *, field: str) -> datetime:
    """``moment`` in UTC, as it is stored; an offset that carries it past year 9999 (or before
    year 1) is the client's mistake, named as ``field``, not a 500 from the conversion."""
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise ValidationFailed.single(field, "Out of range once in UTC (years 1 to 9999)") from None
