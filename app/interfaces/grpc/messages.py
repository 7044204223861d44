"""Protobuf messages to and from the use cases' msgspec DTOs.

Requests become the very DTOs REST decodes its bodies into, so both interfaces hold input
to the same rules and name the same fields when it breaks them. Responses are filled from
the DTOs' JSON form, so every value reads exactly as REST renders it (UUID strings,
RFC 3339 timestamps, ``null`` as an unset ``optional`` field); a DTO field the message
lacks is an error, not a silent omission.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Collection, Mapping
from typing import Any, TypeVar
from uuid import UUID

import msgspec
from google.protobuf import json_format
from google.protobuf.message import Message

from app.application.users.dto import Input
from app.domain.errors import FieldError, ValidationFailed
from app.interfaces.validation import BodyT, convert_body

MessageT = TypeVar("MessageT", bound=Message)


class UserLookup(Input):
    """``GetUser``: REST takes these from the path and the query string."""

    id: UUID
    include_deleted: bool = False


class OrganizationAddress(Input):
    """Where a request about an organization's data is addressed: REST takes it from the path."""

    organization_id: UUID


class TaskAddress(OrganizationAddress):
    """One task of an organization: REST's ``…/organizations/{organization_id}/tasks/{id}``."""

    id: UUID


def to_body(message: Message, body_type: type[BodyT], *, exclude: Collection[str] = ()) -> BodyT:
    """The request as ``body_type``, or ``ValidationFailed`` naming every offending field.

    Fields without presence are included at their default (an empty ``email`` is an
    invalid email, as in REST); unset ``optional`` fields are absent (REST's missing keys).
    ``exclude`` names fields that are not the body's (those of an address, read apart by
    :func:`address_of`).
    """
    raw = fields_of(message)
    return convert_body(body_type, {name: value for name, value in raw.items() if name not in exclude})


def address_of(message: Message, address_type: type[BodyT]) -> BodyT:
    """The ids a request names, as REST reads them from its path; ``ValidationFailed`` naming a malformed one."""
    return convert_body(address_type, {name: getattr(message, name) for name in address_type.__struct_fields__})


def fields_of(message: Message) -> dict[str, Any]:
    """The message as JSON, as :func:`to_body` reads it."""
    return json_format.MessageToDict(
        message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )


def to_message(dto: msgspec.Struct, message_type: type[MessageT]) -> MessageT:
    builtins = msgspec.to_builtins(dto)
    try:
        return json_format.ParseDict(builtins, message_type())
    except OverflowError:
        # An integer no double holds, in a ``meta`` stored before its numbers were bounded:
        # the ``Struct`` says ±infinity rather than the user's every gRPC answer failing.
        return json_format.ParseDict(_beyond_doubles_as_infinity(builtins), message_type())


def _beyond_doubles_as_infinity(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _beyond_doubles_as_infinity(child) for key, child in value.items()}
    if isinstance(value, list):
        return [_beyond_doubles_as_infinity(child) for child in value]
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > sys.float_info.max:
        return math.inf if value > 0 else -math.inf
    return value


def listing_parameters(request: Message, *, exclude: Collection[str] = ()) -> dict[str, list[str]]:
    """The REST query string of a listing request (``ListUsers``, ``ListTasks``): its filters, and
    each field that is set under its own name, but those in ``exclude`` (the address REST puts in the path).
    """
    given = json_format.MessageToDict(request, preserving_proto_field_name=True)
    for name in exclude:
        given.pop(name, None)
    filters: Mapping[str, str] = given.pop("filters", {})
    # A parameter the request has a field of its own for (``order_by``, ``limit``…) is no filter.
    misplaced = sorted(filters.keys() & request.DESCRIPTOR.fields_by_name.keys())
    if misplaced:
        message_name = request.DESCRIPTOR.name
        raise ValidationFailed(
            [FieldError(name, f"Not a filter: set {message_name}.{name} instead") for name in misplaced],
            detail="Invalid listing parameters",
        )
    return {name: [value] for name, value in filters.items()} | {
        name: [_query_value(value)] for name, value in given.items()
    }


def _query_value(value: Any) -> str:
    """As the value would read in a query string (``true``, ``50``)."""
    return str(value).lower() if isinstance(value, bool) else str(value)
