"""``google.protobuf.FieldMask`` updates as the REST PATCH body they stand for.

REST tells "leave it" from "clear it" by a key's absence or its ``null``; a protobuf message
cannot (an unset ``repeated`` or non-optional field reads as its default), so a gRPC update
names the fields it changes in its mask instead. The masked fields become the keys of the
PATCH body, and the one use case behind both interfaces holds them to the same rules.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from google.protobuf import field_mask_pb2, struct_pb2
from google.protobuf.message import Message

from app.domain.errors import ValidationFailed
from app.interfaces.grpc.messages import fields_of

MASK_FIELD = "update_mask"


def masked_fields(message: Message, mask: field_mask_pb2.FieldMask, changeable: Collection[str]) -> dict[str, Any]:
    """The fields ``mask`` names, each as ``message`` holds it: the PATCH body the update stands for.

    A masked field left unset clears it (``null``, or ``{}`` for a ``Struct``); a path that is
    not one of ``changeable`` (top-level field names) and an empty mask are ``ValidationFailed``
    naming :data:`MASK_FIELD`.
    """
    paths = list(dict.fromkeys(mask.paths))
    allowed = ", ".join(changeable)
    if not paths:
        raise ValidationFailed.single(MASK_FIELD, f"Name the fields to change (any of {allowed})")
    unknown = [path for path in paths if path not in changeable]
    if unknown:
        named = ", ".join(repr(path) for path in unknown)
        raise ValidationFailed.single(MASK_FIELD, f"Not a field that can change: {named} (any of {allowed})")
    given = fields_of(message)
    objects = _struct_fields(message)
    return {path: given.get(path, {} if path in objects else None) for path in paths}


def _struct_fields(message: Message) -> set[str]:
    """The message's ``Struct`` fields (``meta``): unset and masked, they become an empty object, not null."""
    struct = struct_pb2.Struct.DESCRIPTOR.full_name
    return {
        field.name
        for field in message.DESCRIPTOR.fields
        if field.message_type is not None and field.message_type.full_name == struct
    }
