"""Malformed and oversized gRPC input gets the contract's statuses, never UNKNOWN or a lost error.

Bytes that are not the method's message, sent to every method of the ``app.v1`` services,
are ``INVALID_ARGUMENT`` with the usual details; errors naming many fields, or fields
with huge names, still arrive whole (the details are bounded to fit the trailers).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import grpc
import grpc.aio
import pytest
from google.protobuf.descriptor import FieldDescriptor, MethodDescriptor

from app.interfaces.grpc.status import DESCRIPTION_MAX_CHARS, FIELD_MAX_CHARS
from app.interfaces.grpc.v1 import auth_pb2, tasks_pb2, users_pb2
from tests.e2e.grpc_helpers import STATUS_DETAILS_KEY, Stubs, assert_status, bearer_metadata, rpc_error
from tests.e2e.helpers import PASSWORD

#: A client's default limit on the metadata it accepts; the trailers must stay well inside it.
CLIENT_METADATA_LIMIT_BYTES = 8 * 1024


def every_method() -> Iterator[MethodDescriptor]:
    for module in (auth_pb2, users_pb2, tasks_pb2):
        for service in module.DESCRIPTOR.services_by_name.values():
            yield from service.methods


METHODS = {f"/{method.containing_service.full_name}/{method.name}": method for method in every_method()}

#: Bytes no message decodes from, whatever its fields.
UNDECODABLE = {
    "unfinished tag": b"\xff",
    "unfinished varint": b"\x08\xff",
    "length past the end": b"\x0a\xff\xff\xff\xff\x0f",
    "length over the rest": b"\x0a\x05ab",
    "wire type 7": b"\x0f",
    "group end without a start": b"\x0c",
    "64-bit value cut short": b"\x09\x01\x02",
}


def _utf8_breakers() -> dict[str, tuple[str, bytes]]:
    """For each method whose request has a string field: that field holding bytes that are not UTF-8."""
    cases = {}
    for path, method in METHODS.items():
        strings = [field for field in method.input_type.fields if field.type == FieldDescriptor.TYPE_STRING]
        if strings:
            tag = bytes([strings[0].number << 3 | 2])
            cases[f"{path} {strings[0].name}"] = (path, tag + b"\x02\xc3\x28")
    return cases


UTF8_BREAKERS = _utf8_breakers()


def raw_call(rpc: Stubs, path: str) -> grpc.aio.UnaryUnaryMultiCallable[bytes, bytes]:
    """A method called with bytes as they are: no serializer on the way out or in."""
    return rpc.channel.unary_unary(path)


async def assert_malformed(rpc: Stubs, path: str, payload: bytes) -> None:
    rich = await assert_status(raw_call(rpc, path)(payload), grpc.StatusCode.INVALID_ARGUMENT, "bad_request")

    assert rich.message == f"The request is not a valid {METHODS[path].input_type.full_name} message"
    assert "google.rpc.ErrorInfo" in rich.details


@pytest.mark.parametrize("payload", UNDECODABLE.values(), ids=UNDECODABLE.keys())
@pytest.mark.parametrize("path", METHODS)
async def test_bytes_that_are_no_message_are_an_invalid_argument_on_every_method(
    rpc: Stubs, path: str, payload: bytes
) -> None:
    """Before, gRPC answered UNKNOWN with the decoder's exception as the message."""
    await assert_malformed(rpc, path, payload)


@pytest.mark.parametrize(("path", "payload"), UTF8_BREAKERS.values(), ids=UTF8_BREAKERS.keys())
async def test_a_string_field_that_is_not_utf8_is_an_invalid_argument(rpc: Stubs, path: str, payload: bytes) -> None:
    await assert_malformed(rpc, path, payload)


async def test_the_server_still_serves_after_malformed_calls(rpc: Stubs) -> None:
    for path in METHODS:
        await rpc_error(raw_call(rpc, path)(b"\xff"))

    created = await rpc.auth.SignUp(auth_pb2.SignUp(email="ada@example.com", password=PASSWORD))

    assert created.email == "ada@example.com"


def trailer_bytes(error: grpc.aio.AioRpcError) -> int:
    return sum(len(key) + len(value) for key, value in error.trailing_metadata())


async def _failed_with(error: grpc.aio.AioRpcError) -> None:
    raise error


def many_filters(count: int, name_length: int) -> dict[str, str]:
    return {f"{index:05d}".ljust(name_length, "x"): "1" for index in range(count)}


MANY_VIOLATIONS = {
    "one unknown filter": ({"filters": many_filters(1, 10)}, 1),
    "20 unknown filters": ({"filters": many_filters(20, 10)}, 20),
    "100 unknown filters": ({"filters": many_filters(100, 10)}, 100),
    "1000 unknown filters": ({"filters": many_filters(1000, 10)}, 1000),
    "100 unknown filters with 1 KB names": ({"filters": many_filters(100, 1000)}, 100),
    "one unknown filter with a 500 KB name": ({"filters": many_filters(1, 500_000)}, 1),
    "1000 unknown fields in order_by": ({"order_by": ",".join(f"field{n}" for n in range(1000))}, None),
    "1000 bad filter values": ({"filters": {f"meta.k{n}": "x" * 300 for n in range(1000)}}, None),
}


@pytest.mark.parametrize(("request_fields", "count"), MANY_VIOLATIONS.values(), ids=MANY_VIOLATIONS.keys())
async def test_an_error_naming_many_or_huge_fields_still_arrives_whole(
    rpc: Stubs, admin: dict[str, str], request_fields: dict[str, Any], count: int | None
) -> None:
    """``ListUsers`` with 100 unknown filters was RESOURCE_EXHAUSTED: its details overflowed the trailers."""
    call = rpc.users.ListUsers(users_pb2.ListUsers(**request_fields), metadata=bearer_metadata(admin))

    error = await rpc_error(call)
    rich = await assert_status(_failed_with(error), grpc.StatusCode.INVALID_ARGUMENT, "validation_failed")

    assert trailer_bytes(error) < CLIENT_METADATA_LIMIT_BYTES * 3 / 4
    assert rich.violations
    assert all(len(field) <= FIELD_MAX_CHARS for field in rich.violations)
    assert all(len(description) <= DESCRIPTION_MAX_CHARS for description in rich.violations.values())
    if count is not None:
        left_out = count - len(rich.violations)
        assert (f"and {left_out} more not listed" in rich.message) == (left_out > 0), rich.message
        assert left_out == 0 or len(rich.violations) >= 10


async def test_a_sign_up_with_huge_values_gets_its_whole_error(rpc: Stubs) -> None:
    request = auth_pb2.SignUp(email="a" * 500_000 + "@example.com", password="x" * 400_000, first_name="y" * 50_000)

    error = await rpc_error(rpc.auth.SignUp(request))

    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error.details()
    assert STATUS_DETAILS_KEY in dict(error.trailing_metadata())
    assert trailer_bytes(error) < CLIENT_METADATA_LIMIT_BYTES * 3 / 4
