"""A database that refuses or never answers: fast 503 problems, never a hang or a 500."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from httpx import ASGITransport, AsyncClient

from app.application.ports import AccessClaims
from app.bootstrap import build_container
from app.infrastructure.security.tokens import JwtAccessTokenCodec
from app.interfaces.http.app import create_app
from tests.conftest import make_settings
from tests.e2e.helpers import PASSWORD, assert_problem, bearer

#: The contract's bound for answering while a dependency is down.
ANSWER_WITHIN_SECONDS = 2.0


@pytest.fixture(params=["refused", "silent"])
async def down_client(request: pytest.FixtureRequest, silent_port: int) -> AsyncIterator[tuple[AsyncClient, str]]:
    port = 9 if request.param == "refused" else silent_port  # nothing listens on the discard port
    settings = make_settings(f"postgresql+asyncpg://app:app@127.0.0.1:{port}/app", DATABASE_TIMEOUT_SECONDS="0.5")
    container = build_container(settings)
    app = create_app(settings, container)
    token = JwtAccessTokenCodec(settings.secret_key, timedelta(minutes=5)).issue(
        AccessClaims(user_id=uuid.uuid4(), session_id=uuid.uuid4()), datetime.now(UTC)
    )
    transport = ASGITransport(app=app)  # type: ignore[arg-type]
    async with AsyncClient(transport=transport, base_url="http://testserver.local") as client:
        yield client, token
    await container.close()


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

    assert_problem(response, 503, "service_unavailable")
    assert response.headers["retry-after"] == "1"
    assert elapsed < ANSWER_WITHIN_SECONDS


async def test_readiness_reports_the_database(down_client: tuple[AsyncClient, str]) -> None:
    client, _ = down_client
    started = time.perf_counter()
    ready = await client.get("/health/ready")

    assert time.perf_counter() - started < ANSWER_WITHIN_SECONDS
    assert ready.status_code == 503
    assert ready.json() == {"status": "error", "checks": {"database": "error"}}
    assert (await client.get("/health/live")).status_code == 200
