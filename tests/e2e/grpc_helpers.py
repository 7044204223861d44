"""Client-side steps the gRPC tests repeat: a server on a free port, stubs, credentials, rich errors."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import grpc
import grpc.aio
import pytest
from google.protobuf import json_format
from google.protobuf.message import Message
from google.rpc import error_details_pb2, status_pb2
from grpc_health.v1 import health_pb2
from grpc_reflection.v1alpha import reflection_pb2

from app.bootstrap import Container, build_container
from app.infrastructure.config import Settings
from app.interfaces.grpc.server import GrpcServer
from app.interfaces.grpc.v1 import auth_pb2_grpc, tasks_pb2_grpc, users_pb2_grpc

Metadata = tuple[tuple[str, str], ...]
STATUS_DETAILS_KEY = "grpc-status-details-bin"


@dataclass(frozen=True, slots=True)
class Stubs:
    auth: auth_pb2_grpc.AuthServiceAsyncStub
    users: users_pb2_grpc.UserServiceAsyncStub
    tasks: tasks_pb2_grpc.TaskServiceAsyncStub
    channel: grpc.aio.Channel
    target: str


@asynccontextmanager
async def serving(settings: Settings, container: Container) -> AsyncIterator[Stubs]:
    """The server ``just grpc`` runs, on a free loopback port, and a client channel to it."""
    server = GrpcServer(settings, container)
    port = await server.start("127.0.0.1", 0)
    target = f"127.0.0.1:{port}"
    try:
        async with grpc.aio.insecure_channel(target) as channel:
            yield Stubs(
                auth_pb2_grpc.AuthServiceStub(channel),
                users_pb2_grpc.UserServiceStub(channel),
                tasks_pb2_grpc.TaskServiceStub(channel),
                channel,
                target,
            )
    finally:
        await server.stop(grace_seconds=1)


@asynccontextmanager
async def private_server(settings: Settings) -> AsyncIterator[Stubs]:
    """A server on a container of its own (its pool and relay, as ``just grpc`` has), and stubs for it.

    For settings the suite's shared server does not have.
    """
    container = build_container(settings)
    try:
        async with serving(settings, container) as stubs:
            yield stubs
    finally:
        await container.close()


def bearer_metadata(tokens: dict[str, Any] | str) -> Metadata:
    token = tokens if isinstance(tokens, str) else tokens["access_token"]
    return (("authorization", f"Bearer {token}"),)


def as_dict(message: Message) -> dict[str, Any]:
    """A message as JSON, named as in the .proto; unset ``optional`` fields absent, others shown."""
    return json_format.MessageToDict(
        message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )


def without_nulls(body: dict[str, Any]) -> dict[str, Any]:
    """A REST body as the matching message reads: a null is an unset field."""
    return {key: value for key, value in body.items() if value is not None}


@dataclass(frozen=True, slots=True)
class RichError:
    """A failed call's status and its ``google.rpc`` details."""

    code: grpc.StatusCode
    message: str
    reason: str
    error_id: str
    violations: dict[str, str]
    retry_seconds: int | None
    details: list[str]


async def rpc_error(call: Awaitable[Any]) -> grpc.aio.AioRpcError:
    """The error a call fails with (the test fails if it succeeds)."""
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    return caught.value


def rich_error(error: grpc.aio.AioRpcError) -> RichError:
    """Read the ``google.rpc.Status`` in the trailers, as grpcio-status's ``from_call`` does."""
    raw = error.trailing_metadata().get(STATUS_DETAILS_KEY)
    assert isinstance(raw, bytes), f"{error.code()} without rich details: {error.details()}"
    status = status_pb2.Status.FromString(raw)
    assert status.code == error.code().value[0]
    assert status.message == error.details()
    info = error_details_pb2.ErrorInfo()
    bad_request = error_details_pb2.BadRequest()
    retry = error_details_pb2.RetryInfo()
    for detail in status.details:
        for target in (info, bad_request, retry):
            detail.Unpack(target)  # a no-op unless the detail is of the target's type
    return RichError(
        code=error.code(),
        message=status.message,
        reason=info.reason,
        error_id=info.metadata.get("error_id", ""),
        violations={v.field: v.description for v in bad_request.field_violations},
        retry_seconds=retry.retry_delay.seconds if retry.HasField("retry_delay") else None,
        details=[detail.type_url.rpartition("/")[2] for detail in status.details],
    )


async def assert_status(
    call: Awaitable[Any], code: grpc.StatusCode, reason: str, *, fields: set[str] | None = None
) -> RichError:
    """The contract's error shape: the status code, ErrorInfo with the REST code and an error id, and
    on INVALID_ARGUMENT a field violation for each of ``fields``; never debugging details."""
    error = await rpc_error(call)
    rich = rich_error(error)
    assert rich.code == code, f"{rich.code}: {rich.message}"
    assert rich.message
    assert rich.reason == reason
    assert len(rich.error_id) == 32
    assert "google.rpc.DebugInfo" not in rich.details
    assert "Traceback" not in rich.message
    if fields is not None:
        assert set(rich.violations) == fields, rich.violations
        assert all(rich.violations.values())
    assert error.initial_metadata()["x-request-id"]
    return rich


# The standard services' own generated stubs are untyped; these are the same calls, typed.


def health_check(
    channel: grpc.aio.Channel,
) -> grpc.aio.UnaryUnaryMultiCallable[health_pb2.HealthCheckRequest, health_pb2.HealthCheckResponse]:
    return channel.unary_unary(
        "/grpc.health.v1.Health/Check",
        health_pb2.HealthCheckRequest.SerializeToString,
        health_pb2.HealthCheckResponse.FromString,
    )


def health_watch(
    channel: grpc.aio.Channel,
) -> grpc.aio.UnaryStreamMultiCallable[health_pb2.HealthCheckRequest, health_pb2.HealthCheckResponse]:
    return channel.unary_stream(
        "/grpc.health.v1.Health/Watch",
        health_pb2.HealthCheckRequest.SerializeToString,
        health_pb2.HealthCheckResponse.FromString,
    )


def server_reflection(
    channel: grpc.aio.Channel,
) -> grpc.aio.StreamStreamMultiCallable[
    reflection_pb2.ServerReflectionRequest, reflection_pb2.ServerReflectionResponse
]:
    return channel.stream_stream(
        "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
        reflection_pb2.ServerReflectionRequest.SerializeToString,
        reflection_pb2.ServerReflectionResponse.FromString,
    )
