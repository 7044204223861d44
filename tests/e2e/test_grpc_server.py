"""The gRPC server around the services: health, reflection, request ids, failures, limits, shutdown."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import grpc.aio
import pytest
import structlog
from google.protobuf import descriptor_pb2
from grpc_health.v1 import health_pb2
from grpc_reflection.v1alpha import reflection_pb2

from app.application.auth.ports import AccessClaims
from app.bootstrap import Container, build_container
from app.infrastructure.config import Settings
from app.infrastructure.security.tokens import JwtAccessTokenCodec
from app.interfaces.grpc import interceptors
from app.interfaces.grpc.server import GrpcServer
from app.interfaces.grpc.v1 import auth_pb2, auth_pb2_grpc, users_pb2
from tests.conftest import make_settings
from tests.e2e.grpc_helpers import (
    Stubs,
    assert_status,
    bearer_metadata,
    health_check,
    health_watch,
    private_server,
    rich_error,
    rpc_error,
    server_reflection,
    serving,
)
from tests.e2e.helpers import PASSWORD
from tests.support.servers import RedisServer
from tests.support.waiting import ANSWER_WITHIN_SECONDS, until

APP_SERVICES = ("app.v1.AuthService", "app.v1.UserService", "app.v1.TaskService")
#: Generous bounds for waits on a busy machine; reached only when something is broken.
WAIT_SECONDS = 10.0

SIGN_UP = auth_pb2.SignUp(email="ada@example.com", password=PASSWORD)


async def health_of(channel: grpc.aio.Channel, service: str = "") -> int:
    response = await health_check(channel)(health_pb2.HealthCheckRequest(service=service), timeout=WAIT_SECONDS)
    return response.status


# --------------------------------------------------------------------------- health and reflection


async def test_health_is_serving_for_the_server_and_each_service(rpc: Stubs) -> None:
    for service in ("", *APP_SERVICES):
        assert await health_of(rpc.channel, service) == health_pb2.HealthCheckResponse.SERVING

    error = await rpc_error(health_of(rpc.channel, "app.v1.NoSuchService"))
    assert error.code() == grpc.StatusCode.NOT_FOUND


async def test_health_follows_redis_when_it_is_configured(database_url: str, stoppable_redis: RedisServer) -> None:
    async with private_server(make_settings(database_url, REDIS_URL=stoppable_redis.url)) as stubs:
        assert await health_of(stubs.channel) == health_pb2.HealthCheckResponse.SERVING

        stoppable_redis.stop()
        for service in ("", *APP_SERVICES):
            assert await health_of(stubs.channel, service) == health_pb2.HealthCheckResponse.NOT_SERVING

        stoppable_redis.start()

        async def serving_again() -> bool:
            return await health_of(stubs.channel) == health_pb2.HealthCheckResponse.SERVING

        await until(serving_again, "serving again", WAIT_SECONDS)


async def test_health_is_not_serving_without_a_database(silent_port: int) -> None:
    settings = make_settings(f"postgresql+asyncpg://app:app@127.0.0.1:{silent_port}/app")
    async with private_server(settings) as stubs:
        started = time.perf_counter()
        assert await health_of(stubs.channel, "app.v1.UserService") == health_pb2.HealthCheckResponse.NOT_SERVING
        assert time.perf_counter() - started < ANSWER_WITHIN_SECONDS


async def test_reflection_lists_and_describes_the_services(rpc: Stubs) -> None:
    requests = [
        reflection_pb2.ServerReflectionRequest(list_services=""),
        reflection_pb2.ServerReflectionRequest(file_containing_symbol="app.v1.UserService"),
    ]
    listed, described = [response async for response in server_reflection(rpc.channel)(iter(requests))]

    names = {service.name for service in listed.list_services_response.service}
    assert names == {*APP_SERVICES, "grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection"}
    files = [
        descriptor_pb2.FileDescriptorProto.FromString(raw)
        for raw in described.file_descriptor_response.file_descriptor_proto
    ]
    users = next(file for file in files if file.name == "app/v1/users.proto")
    assert users.package == "app.v1"
    assert [m.name for m in users.service[0].method] == ["GetMe", "GetUser", "ListUsers"]


# --------------------------------------------------------------------------- request ids


async def test_a_sane_request_id_is_returned_and_others_replaced(rpc: Stubs) -> None:
    sent = await rpc.users.GetMe(users_pb2.GetMe(), metadata=(("x-request-id", "trace-42.a:b"),)).initial_metadata()
    assert sent["x-request-id"] == "trace-42.a:b"

    for metadata in [(), (("x-request-id", "not a sane id!"),), (("x-request-id", "x" * 129),)]:
        call = rpc.users.GetMe(users_pb2.GetMe(), metadata=metadata)
        returned = (await call.initial_metadata())["x-request-id"]
        assert isinstance(returned, str)
        assert len(returned) == 32
        assert int(returned, 16) >= 0
        assert await call.code() == grpc.StatusCode.UNAUTHENTICATED


# --------------------------------------------------------------------------- failures


async def boom(*_: Any, **__: Any) -> Any:
    raise RuntimeError("could not reach postgresql://app:s3cret@db/app")


async def test_unexpected_errors_are_internal_and_logged_with_their_id(
    rpc: Stubs, container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(container.users, "sign_up", boom)
    # The error log, captured here rather than in the configured (and cached) output.
    logs = structlog.testing.LogCapture()
    monkeypatch.setattr(interceptors, "error_log", structlog.wrap_logger(structlog.PrintLogger(), processors=[logs]))

    error = await rpc_error(rpc.auth.SignUp(SIGN_UP))

    rich = rich_error(error)
    assert rich.code == grpc.StatusCode.INTERNAL
    assert (rich.message, rich.reason) == ("An unexpected error occurred", "internal_error")
    assert rich.details == ["google.rpc.ErrorInfo"]
    assert "s3cret" not in repr(error.trailing_metadata())
    assert "s3cret" not in (error.details() or "")
    [logged] = [entry for entry in logs.entries if entry["event"] == "request_failed"]
    assert logged["error_id"] == rich.error_id
    assert isinstance(logged["exc_info"], RuntimeError)


async def test_local_debugging_shows_the_traceback(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = make_settings(database_url, APP_ENV="local", DEBUG="true")
    container = build_container(settings)
    monkeypatch.setattr(container.users, "sign_up", boom)
    try:
        async with serving(settings, container) as stubs:
            rich = rich_error(await rpc_error(stubs.auth.SignUp(SIGN_UP)))
    finally:
        await container.close()

    assert rich.code == grpc.StatusCode.INTERNAL
    assert "google.rpc.DebugInfo" in rich.details


@pytest.mark.parametrize("database", ["refused", "silent"])
async def test_a_database_outage_is_unavailable_fast(database: str, silent_port: int) -> None:
    port = 9 if database == "refused" else silent_port  # nothing listens on the discard port
    settings = make_settings(f"postgresql+asyncpg://app:app@127.0.0.1:{port}/app", DATABASE_TIMEOUT_SECONDS="0.5")
    token = JwtAccessTokenCodec(settings.secret_key, timedelta(minutes=5)).issue(
        AccessClaims(user_id=uuid.uuid4(), session_id=uuid.uuid4()), datetime.now(UTC)
    )
    async with private_server(settings) as stubs:
        for call in (
            lambda: stubs.auth.SignUp(SIGN_UP),
            lambda: stubs.auth.IssueTokens(auth_pb2.IssueTokens(email="ada@example.com", password=PASSWORD)),
            lambda: stubs.auth.RefreshTokens(auth_pb2.RefreshTokens(refresh_token="whatever")),
            lambda: stubs.users.GetMe(users_pb2.GetMe(), metadata=bearer_metadata(token)),
        ):
            started = time.perf_counter()
            rich = await assert_status(call(), grpc.StatusCode.UNAVAILABLE, "service_unavailable")
            assert time.perf_counter() - started < ANSWER_WITHIN_SECONDS
            assert rich.retry_seconds == 1


async def test_messages_over_the_body_limit_are_refused(rpc: Stubs, settings: Settings) -> None:
    oversized = auth_pb2.SignUp(email="ada@example.com", password="x" * settings.request_max_body_bytes)

    error = await rpc_error(rpc.auth.SignUp(oversized))

    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert (await rpc.auth.SignUp(SIGN_UP)).email == "ada@example.com"


# --------------------------------------------------------------------------- graceful stop


class Gate:
    """Holds sign-up calls until released, so that a test knows a call is in flight."""

    def __init__(self, container: Container, monkeypatch: pytest.MonkeyPatch) -> None:
        self.entered = asyncio.Event()
        self.release = asyncio.Event()
        sign_up = container.users.sign_up

        async def held(*args: Any, **kwargs: Any) -> Any:
            self.entered.set()
            await self.release.wait()
            return await sign_up(*args, **kwargs)

        monkeypatch.setattr(container.users, "sign_up", held)


async def test_stop_finishes_running_calls_and_refuses_new_ones(
    settings: Settings, container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate = Gate(container, monkeypatch)
    server = GrpcServer(settings, container)
    target = f"127.0.0.1:{await server.start('127.0.0.1', 0)}"
    async with grpc.aio.insecure_channel(target) as channel:
        watch = health_watch(channel)(health_pb2.HealthCheckRequest(service=""))
        statuses = aiter(watch)
        assert (await anext(statuses)).status == health_pb2.HealthCheckResponse.SERVING
        running = asyncio.ensure_future(auth_pb2_grpc.AuthServiceStub(channel).SignUp(SIGN_UP))
        await asyncio.wait_for(gate.entered.wait(), WAIT_SECONDS)

        stopping = asyncio.ensure_future(server.stop(grace_seconds=WAIT_SECONDS))

        assert (
            await asyncio.wait_for(anext(statuses), WAIT_SECONDS)
        ).status == health_pb2.HealthCheckResponse.NOT_SERVING
        watch.cancel()

        async def refused() -> bool:
            async with grpc.aio.insecure_channel(target) as fresh:
                try:
                    await health_of(fresh)
                except grpc.aio.AioRpcError as exc:
                    return exc.code() == grpc.StatusCode.UNAVAILABLE
            return False

        await until(refused, "refusing new calls", WAIT_SECONDS)
        assert not stopping.done()
        gate.release.set()
        assert (await asyncio.wait_for(running, WAIT_SECONDS)).email == "ada@example.com"
        await asyncio.wait_for(stopping, WAIT_SECONDS)


async def test_stop_cancels_calls_that_outlast_the_grace_period(
    settings: Settings, container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate = Gate(container, monkeypatch)
    server = GrpcServer(settings, container)
    target = f"127.0.0.1:{await server.start('127.0.0.1', 0)}"
    async with grpc.aio.insecure_channel(target) as channel:
        running = asyncio.ensure_future(auth_pb2_grpc.AuthServiceStub(channel).SignUp(SIGN_UP))
        await asyncio.wait_for(gate.entered.wait(), WAIT_SECONDS)

        started = time.perf_counter()
        await asyncio.wait_for(server.stop(grace_seconds=0.2), WAIT_SECONDS)

        assert time.perf_counter() - started < WAIT_SECONDS / 2
        error = await rpc_error(running)
        assert error.code() in {grpc.StatusCode.CANCELLED, grpc.StatusCode.UNAVAILABLE}
    gate.release.set()
