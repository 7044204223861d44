"""Turning value-object errors into field errors, all at once."""

from __future__ import annotations

from collections.abc import Callable
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
