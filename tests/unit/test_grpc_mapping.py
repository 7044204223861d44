"""The gRPC interface mirrors REST: the same fields, the same error codes, the same client key."""

from __future__ import annotations

import types
from typing import Any, Union, get_args, get_origin, get_type_hints

import grpc
import msgspec
import pytest
from google.protobuf.descriptor import Descriptor

from app.application.auth.dto import RefreshBody, TokenPair, TokenRequestBody
from app.application.listing import RESERVED_PARAMETERS, Page
from app.application.ports import DependencyUnavailable
from app.application.users.dto import AddressRead, SignUpBody, UserRead
from app.domain.errors import (
    Conflict,
    DomainError,
    EmailAlreadyRegistered,
    FieldError,
    Forbidden,
    NotFound,
    Unauthorized,
    ValidationFailed,
)
from app.infrastructure.setting_values import trusted_proxies
from app.interfaces.grpc.calls import client_address
from app.interfaces.grpc.messages import UserLookup, listing_parameters
from app.interfaces.grpc.status import RateLimited, failure_for
from app.interfaces.grpc.v1 import auth_pb2, users_pb2
from app.interfaces.http.problems import Problem, from_domain_error, from_unavailable, from_unexpected


def _rest_code(problem: Problem) -> str:
    assert isinstance(problem.extra, dict)
    code: str = problem.extra["code"]
    return code


def _nullable(annotation: Any) -> bool:
    return get_origin(annotation) in (Union, types.UnionType) and type(None) in get_args(annotation)


@pytest.mark.parametrize(
    ("message", "dto"),
    [
        (users_pb2.User.DESCRIPTOR, UserRead),
        (users_pb2.Address.DESCRIPTOR, AddressRead),
        (users_pb2.UserPage.DESCRIPTOR, Page),
        (auth_pb2.TokenPair.DESCRIPTOR, TokenPair),
        (auth_pb2.SignUp.DESCRIPTOR, SignUpBody),
        (auth_pb2.IssueTokens.DESCRIPTOR, TokenRequestBody),
        (auth_pb2.RefreshTokens.DESCRIPTOR, RefreshBody),
        (users_pb2.GetUser.DESCRIPTOR, UserLookup),
    ],
)
def test_messages_mirror_the_rest_bodies_field_for_field(message: Descriptor, dto: type[msgspec.Struct]) -> None:
    """Same names; and a field REST may send as null has presence here, so null and "" differ."""
    hints = get_type_hints(dto)
    assert [field.name for field in message.fields] == list(dto.__struct_fields__)
    nullable = {name for name in dto.__struct_fields__ if _nullable(hints[name])}
    assert {field.name for field in message.fields if field.has_presence} >= nullable


def test_list_users_takes_the_rest_query_parameters() -> None:
    fields = {field.name for field in users_pb2.ListUsers.DESCRIPTOR.fields}
    assert fields == {"filters"} | RESERVED_PARAMETERS


def test_list_users_becomes_the_rest_query_string() -> None:
    request = users_pb2.ListUsers(
        filters={"email__ilike": "ada", "meta.plan": "pro"}, order_by="-created_at", limit=2, offset=3, with_total=False
    )

    assert listing_parameters(request) == {
        "email__ilike": ["ada"],
        "meta.plan": ["pro"],
        "order_by": ["-created_at"],
        "limit": ["2"],
        "offset": ["3"],
        "with_total": ["false"],
    }
    assert listing_parameters(users_pb2.ListUsers(include_deleted=True, limit=0)) == {
        "include_deleted": ["true"],
        "limit": ["0"],  # set, so checked (and refused) as REST would check limit=0
    }


def test_a_listing_field_among_the_filters_is_refused() -> None:
    with pytest.raises(ValidationFailed) as caught:
        listing_parameters(users_pb2.ListUsers(filters={"order_by": "email", "email": "a@example.com"}))
    assert [error.field for error in caught.value.errors] == ["order_by"]


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (ValidationFailed([FieldError("email", "Invalid email")]), grpc.StatusCode.INVALID_ARGUMENT),
        (Unauthorized("Invalid credentials"), grpc.StatusCode.UNAUTHENTICATED),
        (Forbidden("Administrators only"), grpc.StatusCode.PERMISSION_DENIED),
        (NotFound("User x does not exist"), grpc.StatusCode.NOT_FOUND),
        (Conflict("Emails already registered"), grpc.StatusCode.ALREADY_EXISTS),
        (EmailAlreadyRegistered("ada@example.com"), grpc.StatusCode.ALREADY_EXISTS),
    ],
)
def test_domain_errors_have_the_contract_codes_and_the_rest_reasons(error: DomainError, code: grpc.StatusCode) -> None:
    failure = failure_for(error)

    assert failure.code == code
    assert failure.message == error.detail
    assert failure.reason == _rest_code(from_domain_error(error))
    assert failure.cause is None


def test_validation_failures_name_every_field() -> None:
    errors = [FieldError("email", "Invalid email"), FieldError("address.zip_code", "Too long")]

    (bad_request,) = failure_for(ValidationFailed(errors)).details

    violations = [(v.field, v.description) for v in bad_request.field_violations]  # type: ignore[attr-defined]
    assert violations == [("email", "Invalid email"), ("address.zip_code", "Too long")]


def test_other_failures_have_the_rest_reasons() -> None:
    unavailable = DependencyUnavailable("database")
    crash = RuntimeError("password=hunter2")

    assert failure_for(unavailable).code == grpc.StatusCode.UNAVAILABLE
    assert failure_for(unavailable).reason == _rest_code(from_unavailable(unavailable))
    assert failure_for(RateLimited(30)).code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert failure_for(RateLimited(30)).reason == "rate_limited"
    internal = failure_for(crash)
    assert (internal.code, internal.message) == (grpc.StatusCode.INTERNAL, "An unexpected error occurred")
    assert internal.reason == _rest_code(from_unexpected(crash))
    assert internal.cause is crash


class _Call:
    def __init__(self, peer: str, metadata: tuple[tuple[str, str | bytes], ...] = ()) -> None:
        self._peer = peer
        self._metadata = metadata

    def peer(self) -> str:
        return self._peer

    def invocation_metadata(self) -> tuple[tuple[str, str | bytes], ...]:
        return self._metadata


@pytest.mark.parametrize(
    ("peer", "host"),
    [
        ("ipv4:203.0.113.7:52100", "203.0.113.7"),
        ("ipv6:[2001:db8::1]:52100", "2001:db8::1"),
        ("ipv6:%5B::1%5D:52100", "::1"),
        ("unix:/run/app.sock", "unix:/run/app.sock"),
    ],
)
def test_the_client_key_is_the_ip_as_rest_sees_it(peer: str, host: str) -> None:
    forged = (("x-forwarded-for", "198.51.100.1"),)

    assert client_address(_Call(peer, forged), trusted_proxies("")) == host  # type: ignore[arg-type]


def test_behind_a_trusted_proxy_the_client_is_the_one_it_forwards_for() -> None:
    call = _Call("ipv4:10.0.0.5:52100", (("x-forwarded-for", "198.51.100.1, 203.0.113.9"), ("x-forwarded-for", b"")))

    assert client_address(call, trusted_proxies("10.0.0.0/8")) == "203.0.113.9"  # type: ignore[arg-type]
    assert client_address(call, trusted_proxies("192.0.2.1")) == "10.0.0.5"  # type: ignore[arg-type]
