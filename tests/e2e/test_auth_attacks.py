"""Attacks on authentication, one test per attack, against the real servers.

Many attacks are proven elsewhere (forged tokens on every REST route in
``test_bad_input.py``, refresh reuse in ``test_auth_flow.py``, revoked and expired keys in
``test_api_keys.py``…); this module holds the ones those leave out: the same forgeries
over gRPC, credentials of removed users, brute force at the contract's own limit,
privilege escalation and IDOR with real victims, secrets in bodies and logs, and
sign-in timing with the deployed hashing cost.
"""

from __future__ import annotations

import asyncio
import dataclasses
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from sqlalchemy import select

from app.bootstrap import Container, build_container
from app.domain.users.model import PROFILE_FIELDS, User
from app.infrastructure.config import Settings
from app.infrastructure.db.models import UserModel
from app.infrastructure.rate_limit import Rate
from app.interfaces.grpc.v1 import auth_pb2, users_pb2
from tests.conftest import make_settings
from tests.e2e.conftest import ADMIN_EMAIL
from tests.e2e.grpc_helpers import Metadata, Stubs, assert_status, bearer_metadata
from tests.e2e.helpers import (
    FORGED_ACCESS_TOKENS,
    PASSWORD,
    Client,
    api_key,
    assert_problem,
    bearer,
    deployed_hashing,
    error_fields,
    new_key,
    registered,
    sign_up,
)
from tests.support.in_process import in_process_client
from tests.support.processes import running, server_env

ME = "/api/v1/users/me"
TOKENS = "/api/v1/auth/tokens"
REFRESH = "/api/v1/auth/tokens/refresh"

#: The contract's default for RATE_LIMIT_AUTH.
CONTRACT_AUTH_RATE = "20/minute"


async def user_id(client: Client, tokens: dict[str, Any]) -> str:
    response = await client.get(ME, headers=bearer(tokens))
    assert response.status_code == 200, response.text
    found: str = response.json()["id"]
    return found


# --- Forged and misused tokens over gRPC --------------------------------------------------------


@pytest.mark.parametrize("forgery", list(FORGED_ACCESS_TOKENS))
async def test_a_forged_access_token_is_unauthenticated_over_grpc(
    rpc: Stubs, client: Client, settings: Settings, forgery: str
) -> None:
    """REST refuses each forgery on every route (``test_bad_input``); gRPC reads the same
    metadata through its own interceptor, so it must refuse them too."""
    tokens = await registered(client, "ada@example.com")
    forged = FORGED_ACCESS_TOKENS[forgery](tokens, settings.secret_key)

    for call in (
        rpc.users.GetMe(users_pb2.GetMe(), metadata=bearer_metadata(forged)),
        rpc.users.ListUsers(users_pb2.ListUsers(), metadata=bearer_metadata(forged)),
    ):
        await assert_status(call, grpc.StatusCode.UNAUTHENTICATED, "unauthorized")
    assert (await rpc.users.GetMe(users_pb2.GetMe(), metadata=bearer_metadata(tokens))).email == "ada@example.com"


async def test_an_access_token_is_not_a_refresh_token_over_grpc(rpc: Stubs, client: Client) -> None:
    tokens = await registered(client, "ada@example.com")

    await assert_status(
        rpc.auth.RefreshTokens(auth_pb2.RefreshTokens(refresh_token=tokens["access_token"])),
        grpc.StatusCode.UNAUTHENTICATED,
        "unauthorized",
    )
    # Refused without side effects: the session and its real refresh token still work.
    assert (await client.post(REFRESH, json={"refresh_token": tokens["refresh_token"]})).status_code == 200


# --- Credentials of a removed user ----------------------------------------------------------------


async def deactivate(client: Client, admin: dict[str, str], victim_id: str) -> None:
    response = await client.patch(f"/api/v1/users/{victim_id}", json={"is_active": False}, headers=bearer(admin))
    assert response.status_code == 200, response.text


async def soft_delete(client: Client, admin: dict[str, str], victim_id: str) -> None:
    response = await client.delete(f"/api/v1/users/{victim_id}", headers=bearer(admin))
    assert response.status_code == 204, response.text


@pytest.mark.parametrize("removal", [deactivate, soft_delete], ids=["deactivated", "soft-deleted"])
async def test_a_removed_users_refresh_token_and_api_key_are_refused(
    rpc: Stubs, client: Client, admin: dict[str, str], removal: Any
) -> None:
    """Deactivation and soft deletion by an admin revoke the sessions; the API key has no
    session, so it must be refused because of its owner — on both interfaces."""
    tokens = await registered(client, "ada@example.com")
    key = (await new_key(client, tokens))["key"]
    assert (await client.get(ME, headers=api_key(key))).status_code == 200

    await removal(client, admin, await user_id(client, tokens))

    assert_problem(await client.get(ME, headers=api_key(key)), 401, "unauthorized")
    assert_problem(await client.post(REFRESH, json={"refresh_token": tokens["refresh_token"]}), 401, "unauthorized")
    key_metadata: Metadata = (("x-api-key", key),)
    for metadata in (key_metadata, bearer_metadata(tokens)):
        await assert_status(
            rpc.users.GetMe(users_pb2.GetMe(), metadata=metadata), grpc.StatusCode.UNAUTHENTICATED, "unauthorized"
        )


# --- Brute force -----------------------------------------------------------------------------------


async def test_sign_in_brute_force_is_cut_off_at_the_contract_limit(database_url: str) -> None:
    """With the default limit (the contract's 20/minute), the 21st guess within a minute is
    refused with 429 and Retry-After, even when it is the right password: a guesser cannot
    confirm a hit once over the budget."""
    assert Settings().rate_limit_auth == CONTRACT_AUTH_RATE
    rate = Rate.parse(CONTRACT_AUTH_RATE)
    settings = make_settings(database_url, RATE_LIMIT_AUTH=Settings().rate_limit_auth)
    async with in_process_client(build_container(settings)) as client:
        # The window is fixed (aligned to the clock): start early in one, so all guesses share it.
        left = rate.window_seconds - time.time() % rate.window_seconds
        if left < 15:
            await asyncio.sleep(left + 0.1)
        await sign_up(client, "ada@example.com")  # counted: sign-up shares the budget

        for guess in range(rate.limit - 1):
            wrong = await client.post(TOKENS, json={"email": "ada@example.com", "password": f"guess number {guess}"})
            assert_problem(wrong, 401, "unauthorized")
        right = await client.post(TOKENS, json={"email": "ada@example.com", "password": PASSWORD})

        assert_problem(right, 429, "rate_limited")
        assert 0 < int(right.headers["retry-after"]) <= rate.window_seconds
        assert "access_token" not in right.text


# --- Privilege escalation and IDOR ----------------------------------------------------------------


async def test_patch_me_cannot_set_any_user_attribute_outside_the_profile(client: Client) -> None:
    """Every attribute of the user entity that is not a profile field, sent at once with
    values an attacker would want, is refused by name, and nothing at all changes."""
    tokens = await registered(client, "ada@example.com")
    before = (await client.get(ME, headers=bearer(tokens))).json()
    wanted = {
        "id": "01a20000-0000-7000-8000-000000000000",
        "email": "root@example.com",
        "email_verified": True,
        "password_hash": "$argon2id$v=19$m=1024,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
        "created_at": "2000-01-01T00:00:00Z",
        "updated_at": "2000-01-01T00:00:00Z",
        "role": "admin",
        "is_active": True,
        "deleted_at": None,
    }
    # Private fields (an aggregate's pending events) are no attribute a client could name.
    outside_profile = {
        field.name for field in dataclasses.fields(User) if not field.name.startswith("_")
    } - PROFILE_FIELDS
    assert set(wanted) == outside_profile, "a new attribute of User needs a value here"

    response = await client.patch(ME, json={**wanted, "first_name": "Ada"}, headers=bearer(tokens))

    assert error_fields(assert_problem(response, 422, "validation_failed")) == outside_profile
    assert (await client.get(ME, headers=bearer(tokens))).json() == before
    assert_problem(await client.get("/api/v1/users", headers=bearer(tokens)), 403, "forbidden")


async def test_a_plain_user_reaches_no_profile_by_id_not_even_their_own(client: Client, admin: dict[str, str]) -> None:
    """The admin routes with real ids — a victim's and the caller's own (to promote
    themselves) — by token and by API key: 403 each time, and nothing read or changed."""
    victim = await registered(client, "victim@example.com")
    attacker = await registered(client, "eve@example.com")
    victim_id, attacker_id = await user_id(client, victim), await user_id(client, attacker)
    key = (await new_key(client, attacker))["key"]
    snapshots = {
        target: (await client.get(f"/api/v1/users/{target}", headers=bearer(admin))).json()
        for target in (victim_id, attacker_id)
    }

    for credentials in (bearer(attacker), api_key(key)):
        for target in (victim_id, attacker_id):
            url = f"/api/v1/users/{target}"
            escalation = {"role": "admin", "is_active": True, "first_name": "Pwned"}
            for method, body in (("GET", None), ("PATCH", escalation), ("DELETE", None)):
                response = await client.request(method, url, json=body, headers=credentials)
                problem = assert_problem(response, 403, "forbidden")
                assert "victim@example.com" not in response.text, problem
            bulk = await client.patch(
                "/api/v1/users/bulk", json={"items": [{"id": target, **escalation}]}, headers=credentials
            )
            assert_problem(bulk, 403, "forbidden")

    for target, before in snapshots.items():
        assert (await client.get(f"/api/v1/users/{target}", headers=bearer(admin))).json() == before
    assert (await client.get(ME, headers=bearer(victim))).status_code == 200


# --- Secrets in response bodies and in the log ------------------------------------------------------


async def test_no_password_or_hash_in_any_response_body_or_log_line(
    database_url: str, container: Container, tmp_path: Path
) -> None:
    """A full flow against ``just serve`` logging at DEBUG (the most it can log): sign-up,
    good and failed sign-ins, refresh, profile, password changes (wrong and right), sessions,
    API keys, and an admin's reads and listing. No response body shows a password or an
    argon2 hash; no log line shows either, nor a refresh token or an API key."""
    old, new, guess = PASSWORD, "a brand new passphrase", "a wrong guess at it"
    admin_password = "the admin's own passphrase"
    await container.users.create_admin(ADMIN_EMAIL, admin_password)
    env = {**server_env(database_url), "WORKERS": "1", "LOG_FORMAT": "json", "LOG_LEVEL": "DEBUG"}
    responses: list[httpx.Response] = []
    secrets: list[str] = []

    async with running("serve", env, tmp_path) as server:

        async def send(method: str, path: str, **kwargs: Any) -> httpx.Response:
            response = await server.request(method, path, **kwargs)
            assert response.status_code < 500, response.text
            responses.append(response)
            return response

        await send("POST", "/api/v1/auth/sign-up", json={"email": "ada@example.com", "password": old})
        for email, password in (("ada@example.com", guess), ("nobody@example.com", old)):
            assert (await send("POST", TOKENS, json={"email": email, "password": password})).status_code == 401
        tokens = (await send("POST", TOKENS, json={"email": "ada@example.com", "password": old})).json()
        form = {"username": "ada@example.com", "password": old}
        assert (await send("POST", "/api/v1/auth/token", data=form)).status_code == 200
        tokens = (await send("POST", REFRESH, json={"refresh_token": tokens["refresh_token"]})).json()
        await send("PATCH", ME, json={"first_name": "Ada", "meta": {"plan": "pro"}}, headers=bearer(tokens))
        wrong = {"current_password": guess, "new_password": new}
        assert (await send("POST", f"{ME}/password", json=wrong, headers=bearer(tokens))).status_code == 422
        right = {"current_password": old, "new_password": new}
        assert (await send("POST", f"{ME}/password", json=right, headers=bearer(tokens))).status_code == 204
        await send("GET", "/api/v1/auth/sessions", headers=bearer(tokens))
        created = (await send("POST", "/api/v1/api-keys", json={"name": "ci"}, headers=bearer(tokens))).json()
        await send("GET", "/api/v1/api-keys", headers=api_key(created))
        admin = (await send("POST", TOKENS, json={"email": ADMIN_EMAIL, "password": admin_password})).json()
        ada = (await send("GET", ME, headers=bearer(tokens))).json()
        await send("GET", f"/api/v1/users/{ada['id']}", headers=bearer(admin))
        await send("GET", "/api/v1/users", params={"email__ilike": "ada"}, headers=bearer(admin))
        admin_created = {"email": "grace@example.com", "password": guess + "!"}
        await send("POST", "/api/v1/users", json=admin_created, headers=bearer(admin))
        secrets += [tokens["refresh_token"], created["key"], admin["refresh_token"]]

    passwords = [old, new, guess, admin_password, admin_created["password"]]
    for response in responses:
        where = f"{response.request.method} {response.request.url.path}"
        for leak in ["$argon2", "password_hash", *passwords]:
            assert leak not in response.text, f"{leak!r} in the body of {where}"
    log = (tmp_path / "serve.log").read_text()
    assert '"event": "request"' in log, "the flow left no log lines: nothing was checked"
    for leak in ["$argon2", *passwords, *secrets]:
        assert leak not in log, f"{leak!r} in the log: {[line for line in log.splitlines() if leak in line][:3]}"


# --- Timing ---------------------------------------------------------------------------------------


#: Tries per kind of failed sign-in. Each costs one deployed-cost hash (~0.1-0.3 s here).
TIMING_ROUNDS = 20
#: The contract says "similar timing"; medians within this factor of each other.
TIMING_TOLERANCE = 1.25


@pytest.mark.alone
async def test_sign_in_failures_take_as_long_whatever_the_reason(
    database_url: str, container: Container, record_property: Callable[[str, object], None]
) -> None:
    """Unknown email, wrong password and deactivated account: median times within 25%.

    With the deployed argon2 cost (not the suite's cheap one, under which a hash takes a
    millisecond and any difference would drown in noise; a deployment's takes ~100x more,
    which is exactly what an attacker would measure). The kinds are interleaved, in a
    rotating order, so that load from other processes on this shared machine falls on all
    of them alike, and medians ignore the outliers it causes.
    """
    settings = make_settings(database_url, **deployed_hashing())
    async with in_process_client(build_container(settings)) as client:
        await sign_up(client, "ada@example.com")
        gone = await registered(client, "gone@example.com")
        assert (await client.delete(ME, headers=bearer(gone))).status_code == 204
        async with container.engine.connect() as connection:
            stored = (await connection.execute(select(UserModel.password_hash).limit(1))).scalar_one()
        assert stored is not None
        assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$"), "not the deployed cost"

        attempts = {
            "unknown email": {"email": "nobody@example.com", "password": PASSWORD},
            "wrong password": {"email": "ada@example.com", "password": "not the password"},
            "deactivated": {"email": "gone@example.com", "password": PASSWORD},
        }
        kinds = list(attempts)
        durations: dict[str, list[float]] = {kind: [] for kind in kinds}
        for round_ in range(TIMING_ROUNDS + 1):
            for kind in kinds[round_ % 3 :] + kinds[: round_ % 3]:
                started = time.perf_counter()
                response = await client.post(TOKENS, json=attempts[kind])
                elapsed = time.perf_counter() - started
                assert_problem(response, 401, "unauthorized")
                if round_:  # the first round warms up
                    durations[kind].append(elapsed)

    medians = {kind: statistics.median(times) for kind, times in durations.items()}
    record_property("median_ms", {kind: round(median * 1000) for kind, median in medians.items()})
    assert max(medians.values()) <= TIMING_TOLERANCE * min(medians.values()), medians
