"""Field-by-field validation of a request body, to report every offending field at once."""

from __future__ import annotations

import re
from typing import Any

import msgspec

from app.domain.errors import FieldError

_LOCATION = re.compile(r" - at `\$\.?(?P<path>[^`]*)`$")


def body_field_errors(body_type: Any, raw: Any) -> list[FieldError]:
    """Check each field of a ``msgspec.Struct`` body separately and collect all failures.

    Unknown fields, missing required fields and each invalid value are reported under
    the field's name (nested paths joined with dots, e.g. ``address.zip_code``).
    """
    if not (isinstance(body_type, type) and issubclass(body_type, msgspec.Struct)):
        return []
    if not isinstance(raw, dict):
        return [FieldError("body", "Expected a JSON object")]
    declared = {field.encode_name: field for field in msgspec.structs.fields(body_type)}
    errors = [FieldError(str(name), "Unknown field") for name in raw if name not in declared]
    for name, field in declared.items():
        if name not in raw:
            if field.required:
                errors.append(FieldError(name, "Field required"))
            continue
        try:
            msgspec.convert(raw[name], type=field.type, strict=False)
        except msgspec.ValidationError as exc:
            errors.append(_field_error(name, str(exc)))
    return errors


def _field_error(name: str, message: str) -> FieldError:
    match = _LOCATION.search(message)
    if match is None:
        return FieldError(name, message)
    path = match["path"].replace("[", ".").replace("]", "")
    return FieldError(f"{name}.{path}" if path else name, message[: match.start()])
