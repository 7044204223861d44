"""A database that refuses, never answers, or turns connections away: fast 503 problems, never a hang or a 500.

(A real PostgreSQL killed and restarted under a served process is in ``test_outages``.)
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from httpx import ASGITransport, AsyncClient

from app.application.auth.ports import AccessClaims
from app.bootstrap import build_container
from app.infrastructure.security.tokens import JwtAccessTokenCodec
from app.interfaces.http.app import create_app
from tests.conftest import make_settings
from tests.e2e.helpers import PASSWORD, assert_unavailable, bearer
from tests.support.waiting import ANSWER_WITHIN_SECONDS

#: What a PostgreSQL server answers a new connection when it cannot take one, by SQLSTATE.
TURNED_AWAY = {
    "57P03": "the database system is starting up",  # for a moment after every (re)start
    "53300": "sorry, too many clients already",
}
_SSL_REQUEST = 80877103


def error_response(sqlstate: str, message: str) -> bytes:
    """A FATAL ``ErrorResponse`` message of the PostgreSQL wire protocol."""
    fields = [(b"S", "FATAL"), (b"V", "FATAL"), (b"C", sqlstate), (b"M", message)]
    body = b"".join(code + value.encode() + b"\0" for code, value in fields) + b"\0"
    return b"E" + struct.pack("!I", len(body) + 4) + body


@contextlib.asynccontextmanager
async def turning_away(sqlstate: str) -> AsyncIterator[int]:
    """A loopback port where a "PostgreSQL" answers every connection's start-up with ``sqlstate``'s error."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            length, code = struct.unpack("!II", await reader.readexactly(8))
            if code == _SSL_REQUEST:
                writer.write(b"N")  # no TLS here: the client goes on in plain text with its start-up message
                (length,) = struct.unpack("!I", await reader.readexactly(4))
                await reader.readexactly(length - 4)
            else:
                await reader.readexactly(length - 8)
            writer.write(error_response(sqlstate, TURNED_AWAY[sqlstate]))
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


@pytest.fixture(params=["refused", "silent", *TURNED_AWAY])
async def down_client(request: pytest.FixtureRequest, silent_port: int) -> AsyncIterator[tuple[AsyncClient, str]]:
    """The app on a database that is down, one way or another, and a token it would accept."""
    async with contextlib.AsyncExitStack() as stack:
        if request.param in TURNED_AWAY:
            port = await stack.enter_async_context(turning_away(request.param))
        else:
            port = 9 if request.param == "refused" else silent_port  # nothing listens on the discard port
        settings = make_settings(f"postgresql+asyncpg://app:app@127.0.0.1:{port}/app", DATABASE_TIMEOUT_SECONDS="0.5")
        container = build_container(settings)
        stack.push_async_callback(container.close)
        token = JwtAccessTokenCodec(settings.secret_key, timedelta(minutes=5)).issue(
            AccessClaims(user_id=uuid.uuid4(), session_id=uuid.uuid4()), datetime.now(UTC)
        )
        transport = ASGITransport(app=create_app(settings, container))  # type: ignore[arg-type]
        client = await stack.enter_async_context(AsyncClient(transport=transport, base_url="http://testserver.local"))
        yield client, token


@pytest.mark.parametrize(
    ("method", "url", "body"),
    [
        ("POST", "/api/v1/auth/sign-up", {"email": "ada@example.com", "password": PASSWORD}),
        ("POST", "/api/v1/auth/tokens", {"email": "ada@example.com", "password": PASSWORD}),
        ("POST", "/api/v1/auth/tokens/refresh", {"refresh_token": "whatever"}),
        ("GET", "/api/v1/users/me", None),
        ("GET", "/api/v1/auth/sessions", None),
    ],
)
async def test_requests_get_a_fast_503(
    down_client: tuple[AsyncClient, str], method: str, url: str, body: dict[str, str] | None
) -> None:
    client, token = down_client
    started = time.perf_counter()
    response = await client.request(method, url, json=body, headers=bearer(token))
    elapsed = time.perf_counter() - started

    assert_unavailable(response, elapsed)


async def test_readiness_reports_the_database(down_client: tuple[AsyncClient, str]) -> None:
    client, _ = down_client
    started = time.perf_counter()
    ready = await client.get("/health/ready")

    assert time.perf_counter() - started < ANSWER_WITHIN_SECONDS
    assert ready.status_code == 503
    assert ready.json() == {"status": "error", "checks": {"database": "error"}}
    assert (await client.get("/health/live")).status_code == 200
