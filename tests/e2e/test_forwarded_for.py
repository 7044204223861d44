"""Whose ``X-Forwarded-For`` is believed: only a proxy listed in ``FORWARDED_ALLOW_IPS`` (default: none).

uvicorn believes the header from 127.0.0.1 unless told otherwise, so any local client
could pick its own rate-limit identity. Against `just serve` (and the gRPC server): a
forged header from an untrusted peer changes nothing, the header of a trusted one names
the client, and a bad value of the setting stops the process at start.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import grpc
import httpx
import pytest

from app.bootstrap import build_container
from app.interfaces.grpc.v1 import auth_pb2
from tests.conftest import make_settings
from tests.e2e.grpc_helpers import assert_status, serving
from tests.e2e.helpers import PASSWORD, assert_problem, bearer, sign_in, sign_up
from tests.support.processes import running, server_env, started

#: The contract's default budget, counted over a day so that no test straddles a window.
LIMIT = 20
RATE = f"{LIMIT}/day"
CREDENTIALS = {"email": "nobody@example.com", "password": PASSWORD}

#: Forged headers a local client could send: each would be a fresh identity if it were believed.
FORGERIES = [
    *[{"X-Forwarded-For": f"198.51.100.{n}"} for n in range(7)],
    {"X-Forwarded-For": "203.0.113.1, 203.0.113.2"},
    {"X-Forwarded-For": "2001:db8::7"},
    {"X-Forwarded-For": "[2001:db8::8]:4711"},
    {"X-Forwarded-For": "unknown"},
    {"X-Forwarded-For": "x" * 200},
    {"X-Forwarded-For": ""},
    {"X-Real-IP": "198.51.100.200"},
    {"Forwarded": "for=198.51.100.201"},
    {"X-Forwarded-For": "127.0.0.2"},
    {"X-Forwarded-For": "::1"},
    {"X-Forwarded-For": "10.0.0.1", "X-Forwarded-Proto": "https"},
    {"X-Forwarded-For": "10.0.0.2, 10.0.0.3"},
    {"X-Forwarded-For": "192.0.2.255"},
]


@asynccontextmanager
async def serve(database_url: str, tmp_path: Path, **settings: str) -> AsyncIterator[httpx.AsyncClient]:
    env = server_env(database_url, WORKERS="1", RATE_LIMIT_AUTH=RATE, **settings)
    async with running("serve", env, tmp_path) as client:
        yield client


async def sign_in_attempt(client: httpx.AsyncClient, headers: dict[str, str]) -> httpx.Response:
    return await client.post("/api/v1/auth/tokens", json=CREDENTIALS, headers=headers)


async def test_a_forged_header_from_an_untrusted_peer_does_not_change_the_budget(
    database_url: str, tmp_path: Path
) -> None:
    """By default nobody is trusted, 127.0.0.1 included: twenty forged identities share one budget."""
    assert len(FORGERIES) == LIMIT
    async with serve(database_url, tmp_path) as client:
        for headers in FORGERIES:
            assert (await sign_in_attempt(client, headers)).status_code == 401, headers

        for headers in [{}, *FORGERIES[:3], {"X-Forwarded-For": "198.51.100.250"}]:
            assert_problem(await sign_in_attempt(client, headers), 429, "rate_limited")

        # Nor does a forged scheme make the answer claim https.
        answer = await client.get("/health/live", headers={"X-Forwarded-Proto": "https"})
        assert "strict-transport-security" not in answer.headers


async def test_behind_a_trusted_proxy_the_forwarded_client_is_the_identity(database_url: str, tmp_path: Path) -> None:
    async with serve(database_url, tmp_path, FORWARDED_ALLOW_IPS="127.0.0.1") as client:
        first = {"X-Forwarded-For": "198.51.100.1"}
        for _ in range(LIMIT):
            assert (await sign_in_attempt(client, first)).status_code == 401
        assert_problem(await sign_in_attempt(client, first), 429, "rate_limited")
        # The nearest proxy's entry counts: what the client put to the left of it does not.
        chained = {"X-Forwarded-For": "203.0.113.50, 198.51.100.1"}
        assert_problem(await sign_in_attempt(client, chained), 429, "rate_limited")

        # Another forwarded client has its own budget, and its sessions record its address.
        await sign_up(client, "ada@example.com")
        other = {"X-Forwarded-For": "198.51.100.2"}
        tokens = await sign_in(client, "ada@example.com", **other)
        sessions = (await client.get("/api/v1/auth/sessions", headers=bearer(tokens))).json()
        assert [session["ip"] for session in sessions] == ["198.51.100.2"]

        answer = await client.get("/health/live", headers={"X-Forwarded-Proto": "https"})
        assert answer.headers["strict-transport-security"].startswith("max-age=")


BAD_SETTINGS = {
    "proxy.internal": "proxy.internal",
    "10.0.0.1/33": "10.0.0.1/33",
    "10.0.0.1, nonsense": "nonsense",
    "*, 10.0.0.1": "*",
}


@pytest.mark.parametrize("recipe", ["serve", "grpc"])
@pytest.mark.parametrize(("value", "named"), BAD_SETTINGS.items(), ids=BAD_SETTINGS.keys())
async def test_a_bad_setting_stops_the_server_at_start(
    database_url: str, tmp_path: Path, recipe: str, value: str, named: str
) -> None:
    log = tmp_path / f"{recipe}.log"
    env = server_env(database_url, FORWARDED_ALLOW_IPS=value, PORT="0", GRPC_PORT="0")
    async with started(recipe, env, log) as process:
        code = await asyncio.wait_for(process.wait(), timeout=60)

    assert code != 0
    assert f"Invalid setting: FORWARDED_ALLOW_IPS: {named!r} is not an IP address or network" in log.read_text()


@pytest.mark.parametrize(
    ("trusted", "limited_after"),
    [("", LIMIT), ("127.0.0.1", None)],
    ids=["untrusted peer", "trusted peer"],
)
async def test_grpc_believes_forwarded_metadata_only_from_a_trusted_peer(
    database_url: str, trusted: str, limited_after: int | None
) -> None:
    """Each call names a new client in ``x-forwarded-for``: one budget unless the peer is trusted."""
    settings = make_settings(database_url, RATE_LIMIT_AUTH=RATE, FORWARDED_ALLOW_IPS=trusted)
    container = build_container(settings)
    try:
        async with serving(settings, container) as stubs:
            for n in range(LIMIT + 5):
                call = stubs.auth.IssueTokens(
                    auth_pb2.IssueTokens(**CREDENTIALS), metadata=(("x-forwarded-for", f"198.51.100.{n}"),)
                )
                limited = limited_after is not None and n >= limited_after
                expected = (grpc.StatusCode.RESOURCE_EXHAUSTED, "rate_limited")
                await assert_status(call, *(expected if limited else (grpc.StatusCode.UNAUTHENTICATED, "unauthorized")))
    finally:
        await container.close()
