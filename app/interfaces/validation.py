"""Field-by-field validation of a request body, to report every offending field at once.

Shared by every interface, so that a REST body and a gRPC message converted to the same
msgspec DTO are held to the same rules and report the same field names.
"""

from __future__ import annotations

import re
import types
from collections.abc import Mapping
from typing import Annotated, Any, TypeVar, Union, get_args, get_origin

import msgspec

from app.application.users.dto import NAME_PATTERN, TEXT_PATTERN
from app.domain.errors import FieldError, ValidationFailed
from app.domain.users.values import EMAIL_PATTERN

BodyT = TypeVar("BodyT", bound=msgspec.Struct)

_LOCATION = re.compile(r" - at `\$\.?(?P<path>[^`]*)`$")
_PATTERN_MISMATCH = "Expected `str` matching regex"
#: What a value that fails a field's pattern is, in words: a client reads this, not the regex.
_PATTERN_MEANINGS = {
    EMAIL_PATTERN: "Not a valid email address (expected name@domain.tld, with no invisible characters)",
    TEXT_PATTERN: "Contains a NUL character",
    NAME_PATTERN: "Contains a control character (such as NUL) or a line or paragraph separator",
}
_PATTERN_FALLBACK = "Not in the expected format"


def convert_body(body_type: type[BodyT], raw: Mapping[str, Any]) -> BodyT:
    """``raw`` as a ``body_type``, or ``ValidationFailed`` naming every offending field."""
    try:
        return msgspec.convert(raw, body_type)
    except msgspec.ValidationError as exc:
        raise _invalid(body_type, raw, exc) from None


def decode_body(body_type: Any, body: bytes) -> Any:
    """The JSON ``body`` decoded straight into ``body_type``, or ``ValidationFailed`` naming
    every offending field; ``msgspec.DecodeError`` when it is not JSON at all.

    Strict, as the OpenAPI document promises: ``0`` or ``"false"`` is no boolean and
    ``"4102444800"`` no timestamp.
    """
    try:
        return msgspec.json.decode(body, type=body_type)
    except msgspec.ValidationError as exc:
        raise _invalid(body_type, msgspec.json.decode(body), exc) from None


def _invalid(body_type: Any, raw: Any, exc: msgspec.ValidationError) -> ValidationFailed:
    return ValidationFailed(body_field_errors(body_type, raw) or [FieldError("body", str(exc))])


def body_field_errors(body_type: Any, raw: Any, prefix: str = "") -> list[FieldError]:
    """Check each field of a ``msgspec.Struct`` body separately and collect all failures.

    Unknown fields, missing required fields and each invalid value are reported under
    the field's name; nested structs are checked the same way, their fields named with
    dots (``address.zip_code``).
    """
    if not (isinstance(body_type, type) and issubclass(body_type, msgspec.Struct)):
        return []
    if not isinstance(raw, dict):
        return [FieldError(prefix.rstrip(".") or "body", "Expected a JSON object")]
    declared = {field.encode_name: field for field in msgspec.structs.fields(body_type)}
    errors = [FieldError(f"{prefix}{name}", "Unknown field") for name in raw if name not in declared]
    for name, field in declared.items():
        if name not in raw:
            if field.required:
                errors.append(FieldError(f"{prefix}{name}", "Field required"))
            continue
        nested = _struct_in(field.type)
        if nested is not None and isinstance(raw[name], dict):
            errors.extend(body_field_errors(nested, raw[name], f"{prefix}{name}."))
            continue
        try:
            msgspec.convert(raw[name], type=field.type)
        except msgspec.ValidationError as exc:
            errors.append(_field_error(f"{prefix}{name}", _in_words(str(exc), field.type)))
    return errors


def _struct_in(annotation: Any) -> type[msgspec.Struct] | None:
    """The struct type inside ``Annotated``/``Optional``/``UnsetType`` wrappers, if any."""
    if isinstance(annotation, type) and issubclass(annotation, msgspec.Struct):
        return annotation
    origin = get_origin(annotation)
    if origin is Annotated:
        return _struct_in(get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        return next((found for arg in get_args(annotation) if (found := _struct_in(arg))), None)
    return None


def _in_words(message: str, annotation: Any) -> str:
    """msgspec's message, with a pattern mismatch said in words instead of quoting the regex."""
    if not message.startswith(_PATTERN_MISMATCH):
        return message
    _, located, location = message.partition(" - at ")
    meaning = next(
        (_PATTERN_MEANINGS[meta.pattern] for meta in _metas(annotation) if meta.pattern in _PATTERN_MEANINGS),
        _PATTERN_FALLBACK,
    )
    return f"{meaning}{located}{location}"


def _metas(annotation: Any) -> list[msgspec.Meta]:
    """The constraints on a field's own value, through ``Optional``/``UnsetType`` wrappers."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return [arg for arg in get_args(annotation)[1:] if isinstance(arg, msgspec.Meta)]
    if origin in (Union, types.UnionType):
        return [meta for arg in get_args(annotation) for meta in _metas(arg)]
    return []


def _field_error(name: str, message: str) -> FieldError:
    match = _LOCATION.search(message)
    if match is None:
        return FieldError(name, message)
    # ``$[1].meta`` inside a list field: the index is a segment like any other (``items.1.meta``).
    path = match["path"].replace("[", ".").replace("]", "").lstrip(".")
    return FieldError(f"{name}.{path}" if path else name, message[: match.start()])
