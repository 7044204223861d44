"""Every route of the auth and self-service scope, driven as a client drives it."""

from __future__ import annotations

import asyncio

import pytest

from tests.e2e.helpers import PASSWORD, Client, assert_problem, bearer, registered, sign_in, sign_up

USER_FIELDS = {
    "id", "email", "email_verified", "first_name", "last_name", "phone", "birthday", "photo_url", "address", "meta",
    "role", "is_active", "created_at", "updated_at",
}  # fmt: skip


async def test_sign_up_returns_the_user(client: Client) -> None:
    user = await sign_up(client, "Ada@Example.com", first_name="Ada", last_name="Lovelace")

    assert set(user) == USER_FIELDS
    assert user["email"] == "ada@example.com"
    assert (user["first_name"], user["last_name"]) == ("Ada", "Lovelace")
    assert user["role"] == "user"
    assert user["is_active"] is True
    assert user["meta"] == {}
    assert user["created_at"].endswith("Z")


async def test_email_is_unique_whatever_its_case(client: Client) -> None:
    await sign_up(client, "ada@example.com")
    response = await client.post("/api/v1/auth/sign-up", json={"email": "ADA@example.com", "password": PASSWORD})
    assert_problem(response, 409, "conflict")


async def test_tokens_by_json_and_by_oauth2_form(client: Client) -> None:
    await sign_up(client, "ada@example.com")

    by_json = await sign_in(client, "ADA@example.com")
    by_form = await client.post(
        "/api/v1/auth/token", data={"grant_type": "password", "username": "ada@example.com", "password": PASSWORD}
    )

    assert by_form.status_code == 200, by_form.text
    for pair in (by_json, by_form.json()):
        assert pair["token_type"] == "bearer"
        assert pair["expires_in"] == 900
        assert pair["refresh_expires_in"] == 1_209_600
        me = await client.get("/api/v1/users/me", headers=bearer(pair))
        assert me.json()["email"] == "ada@example.com"
    assert by_json["session_id"] != by_form.json()["session_id"]


@pytest.mark.parametrize(
    ("email", "password"),
    [("nobody@example.com", PASSWORD), ("ada@example.com", "wrong password"), ("not-an-email", PASSWORD)],
)
async def test_bad_credentials_get_one_answer(client: Client, email: str, password: str) -> None:
    await sign_up(client, "ada@example.com")
    response = await client.post("/api/v1/auth/tokens", json={"email": email, "password": password})
    body = assert_problem(response, 401, "unauthorized")
    assert body["detail"] == "Invalid email or password"


async def test_deactivated_account_gets_the_same_answer(client: Client) -> None:
    tokens = await registered(client, "ada@example.com")
    assert (await client.delete("/api/v1/users/me", headers=bearer(tokens))).status_code == 204

    response = await client.post("/api/v1/auth/tokens", json={"email": "ada@example.com", "password": PASSWORD})
    assert assert_problem(response, 401, "unauthorized")["detail"] == "Invalid email or password"


async def test_refresh_rotates_and_reuse_revokes_the_session(client: Client) -> None:
    first = await registered(client, "ada@example.com")

    rotated = await client.post("/api/v1/auth/tokens/refresh", json={"refresh_token": first["refresh_token"]})
    assert rotated.status_code == 200, rotated.text
    second = rotated.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["session_id"] == first["session_id"]
    assert (await client.get("/api/v1/users/me", headers=bearer(second))).status_code == 200

    reuse = await client.post("/api/v1/auth/tokens/refresh", json={"refresh_token": first["refresh_token"]})
    assert_problem(reuse, 401, "unauthorized")

    # The whole session is gone: its newest access and refresh tokens too.
    assert_problem(await client.get("/api/v1/users/me", headers=bearer(second)), 401, "unauthorized")
    after = await client.post("/api/v1/auth/tokens/refresh", json={"refresh_token": second["refresh_token"]})
    assert_problem(after, 401, "unauthorized")


async def test_concurrent_refreshes_with_one_token_never_both_succeed(client: Client) -> None:
    tokens = await registered(client, "ada@example.com")

    responses = await asyncio.gather(
        *(client.post("/api/v1/auth/tokens/refresh", json={"refresh_token": tokens["refresh_token"]}) for _ in range(3))
    )

    assert sum(r.status_code == 200 for r in responses) <= 1
    assert all(r.status_code in {200, 401} for r in responses)


async def test_logout_revokes_access_and_refresh_at_once(client: Client) -> None:
    tokens = await registered(client, "ada@example.com")

    assert (await client.post("/api/v1/auth/logout", headers=bearer(tokens))).status_code == 204

    assert_problem(await client.get("/api/v1/users/me", headers=bearer(tokens)), 401, "unauthorized")
    refresh = await client.post("/api/v1/auth/tokens/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert_problem(refresh, 401, "unauthorized")


async def test_sessions_listing_and_revocation(client: Client) -> None:
    await sign_up(client, "ada@example.com")
    laptop = await sign_in(client, "ada@example.com", **{"User-Agent": "laptop"})
    phone = await sign_in(client, "ada@example.com", **{"User-Agent": "phone"})

    listed = await client.get("/api/v1/auth/sessions", headers=bearer(laptop))
    assert listed.status_code == 200
    sessions = {s["id"]: s for s in listed.json()}
    assert set(sessions) == {laptop["session_id"], phone["session_id"]}
    assert sessions[laptop["session_id"]]["current"] is True
    assert sessions[phone["session_id"]]["current"] is False
    assert sessions[phone["session_id"]]["user_agent"] == "phone"
    assert {"id", "created_at", "last_used_at", "expires_at", "user_agent", "ip", "current"} == set(
        sessions[phone["session_id"]]
    )

    revoked = await client.delete(f"/api/v1/auth/sessions/{phone['session_id']}", headers=bearer(laptop))
    assert revoked.status_code == 204
    assert_problem(await client.get("/api/v1/users/me", headers=bearer(phone)), 401, "unauthorized")
    remaining = await client.get("/api/v1/auth/sessions", headers=bearer(laptop))
    assert [s["id"] for s in remaining.json()] == [laptop["session_id"]]


async def test_another_users_session_is_not_found(client: Client) -> None:
    ada = await registered(client, "ada@example.com")
    eve = await registered(client, "eve@example.com")

    response = await client.delete(f"/api/v1/auth/sessions/{ada['session_id']}", headers=bearer(eve))

    assert_problem(response, 404, "not_found")
    assert (await client.get("/api/v1/users/me", headers=bearer(ada))).status_code == 200


async def test_profile_patch_changes_only_what_is_sent(client: Client) -> None:
    tokens = await registered(client, "ada@example.com")
    first = await client.patch(
        "/api/v1/users/me",
        headers=bearer(tokens),
        json={
            "first_name": "Ada",
            "phone": "+44 20 7946 0000",
            "birthday": "1815-12-10",
            "photo_url": "https://example.com/ada.png",
            "address": {"city": "London", "country": "GB"},
            "meta": {"plan": "pro"},
        },
    )
    assert first.status_code == 200, first.text

    second = await client.patch(
        "/api/v1/users/me", headers=bearer(tokens), json={"last_name": "Lovelace", "phone": None}
    )
    me = (await client.get("/api/v1/users/me", headers=bearer(tokens))).json()

    assert second.json() == me
    assert me["first_name"] == "Ada"
    assert me["last_name"] == "Lovelace"
    assert me["phone"] is None
    assert me["birthday"] == "1815-12-10"
    assert me["address"] == {"street": None, "city": "London", "state": None, "zip_code": None, "country": "GB"}
    assert me["meta"] == {"plan": "pro"}
    assert me["updated_at"] >= me["created_at"]


async def test_password_change_keeps_this_session_and_ends_the_others(client: Client) -> None:
    await sign_up(client, "ada@example.com")
    here = await sign_in(client, "ada@example.com")
    elsewhere = await sign_in(client, "ada@example.com")

    changed = await client.post(
        "/api/v1/users/me/password",
        headers=bearer(here),
        json={"current_password": PASSWORD, "new_password": "a brand new secret"},
    )

    assert changed.status_code == 204, changed.text
    assert (await client.get("/api/v1/users/me", headers=bearer(here))).status_code == 200
    assert_problem(await client.get("/api/v1/users/me", headers=bearer(elsewhere)), 401, "unauthorized")
    old = await client.post("/api/v1/auth/tokens", json={"email": "ada@example.com", "password": PASSWORD})
    assert_problem(old, 401, "unauthorized")
    await sign_in(client, "ada@example.com", "a brand new secret")


async def test_wrong_current_password_names_the_field(client: Client) -> None:
    tokens = await registered(client, "ada@example.com")
    response = await client.post(
        "/api/v1/users/me/password",
        headers=bearer(tokens),
        json={"current_password": "not my password", "new_password": "a brand new secret"},
    )
    body = assert_problem(response, 422, "validation_failed")
    assert [e["field"] for e in body["errors"]] == ["current_password"]


async def test_deactivation_revokes_every_session(client: Client) -> None:
    await sign_up(client, "ada@example.com")
    one, two = await sign_in(client, "ada@example.com"), await sign_in(client, "ada@example.com")

    assert (await client.delete("/api/v1/users/me", headers=bearer(one))).status_code == 204

    for tokens in (one, two):
        assert_problem(await client.get("/api/v1/users/me", headers=bearer(tokens)), 401, "unauthorized")
        refresh = await client.post("/api/v1/auth/tokens/refresh", json={"refresh_token": tokens["refresh_token"]})
        assert_problem(refresh, 401, "unauthorized")


async def test_health(client: Client) -> None:
    live = await client.get("/health/live")
    ready = await client.get("/health/ready")

    assert (live.status_code, live.json()) == (200, {"status": "ok"})
    assert (ready.status_code, ready.json()) == (200, {"status": "ok", "checks": {"database": "ok"}})
