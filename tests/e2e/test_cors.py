"""CORS follows CORS_ORIGINS: listed origins are allowed, others are not, none when unset."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from httpx import ASGITransport, AsyncClient

from app.bootstrap import build_container
from app.infrastructure.config import Settings
from app.interfaces.http.app import create_app
from tests.conftest import make_settings

ALLOWED = "https://app.example.com"
PREFLIGHT = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization"}


@pytest.fixture
async def cors_client(settings: Settings) -> AsyncIterator[AsyncClient]:
    configured = make_settings(settings.database_url, CORS_ORIGINS=f"{ALLOWED}, https://admin.example.com")
    container = build_container(configured)
    transport = ASGITransport(app=create_app(configured, container))  # type: ignore[arg-type]
    async with AsyncClient(transport=transport, base_url="http://testserver.local") as client:
        yield client
    await container.close()


async def test_a_listed_origin_is_allowed(cors_client: AsyncClient) -> None:
    preflight = await cors_client.options("/api/v1/auth/tokens", headers={"Origin": ALLOWED, **PREFLIGHT})
    simple = await cors_client.get("/health/live", headers={"Origin": ALLOWED})

    assert preflight.status_code in {200, 204}
    assert preflight.headers["access-control-allow-origin"] == ALLOWED
    assert "POST" in preflight.headers["access-control-allow-methods"]
    assert simple.headers["access-control-allow-origin"] == ALLOWED


async def test_an_unlisted_origin_is_not(cors_client: AsyncClient) -> None:
    simple = await cors_client.get("/health/live", headers={"Origin": "https://evil.example.com"})
    assert "access-control-allow-origin" not in simple.headers


async def test_no_cors_headers_when_unset(client: AsyncClient) -> None:
    simple = await client.get("/health/live", headers={"Origin": ALLOWED})
    assert "access-control-allow-origin" not in simple.headers
