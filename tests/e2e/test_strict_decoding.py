"""Bodies are decoded as strictly as the OpenAPI document describes them.

A boolean is ``true`` or ``false``, not ``0``, ``1`` or ``"false"``; a date-time is an
RFC 3339 string, not a Unix timestamp in a number or a string; a date is ``YYYY-MM-DD``.
Every lenient spelling is a 422 naming the field, on every route that takes the field,
bulk items included. Query strings are text and keep parsing ``true``/``false``.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.e2e.helpers import Client, assert_problem, bearer, create, error_fields, registered

USERS = "/api/v1/users"

NOT_BOOLEANS = [0, 1, 0.0, 1.0, "false", "true", "0", "1", "yes", "", [], {}]
NOT_DATE_TIMES = [4102444800, 4102444800.5, "4102444800", "4102444800.5", "", True, "2100-01-01 00:00:00Z x"]
NOT_DATES = [946684800, "946684800", 946684800.0, "2000-1-1", "20000101", True]


@pytest.mark.parametrize("value", NOT_BOOLEANS, ids=repr)
async def test_a_boolean_is_true_or_false_only(client: Client, admin: dict[str, str], value: Any) -> None:
    users = [await create(client, admin, email=f"{uuid.uuid4().hex[:10]}@example.com") for _ in range(2)]
    cases = [
        (client.patch(f"{USERS}/{users[0]['id']}", json={"is_active": value}, headers=bearer(admin)), "is_active"),
        (
            client.patch(
                f"{USERS}/bulk",
                json={"items": [{"id": users[0]["id"]}, {"id": users[1]["id"], "is_active": value}]},
                headers=bearer(admin),
            ),
            "items.1.is_active",
        ),
    ]
    for call, field in cases:
        assert error_fields(assert_problem(await call, 422, "validation_failed")) == {field}

    for user in users:
        assert (await client.get(f"{USERS}/{user['id']}", headers=bearer(admin))).json()["is_active"] is True


@pytest.mark.parametrize("value", NOT_DATE_TIMES, ids=repr)
async def test_a_date_time_is_an_rfc_3339_string_only(client: Client, value: Any) -> None:
    tokens = await registered(client, "ada@example.com")

    response = await client.post("/api/v1/api-keys", json={"name": "ci", "expires_at": value}, headers=bearer(tokens))

    assert error_fields(assert_problem(response, 422, "validation_failed")) == {"expires_at"}


@pytest.mark.parametrize("value", NOT_DATES, ids=repr)
async def test_a_date_is_yyyy_mm_dd_only(client: Client, admin: dict[str, str], value: Any) -> None:
    tokens = await registered(client, "ada@example.com")
    cases = [
        (client.patch("/api/v1/users/me", json={"birthday": value}, headers=bearer(tokens)), "birthday"),
        (client.post(USERS, json={"email": "b@example.com", "birthday": value}, headers=bearer(admin)), "birthday"),
        (
            client.post(
                f"{USERS}/bulk",
                json={"items": [{"email": "c@example.com"}, {"email": "d@example.com", "birthday": value}]},
                headers=bearer(admin),
            ),
            "items.1.birthday",
        ),
    ]
    for call, field in cases:
        assert error_fields(assert_problem(await call, 422, "validation_failed")) == {field}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "ada@example.com", "password": 12345678}, "password"),
        ({"email": ["ada@example.com"], "password": "correct horse battery"}, "email"),
        ({"email": "ada@example.com", "password": "correct horse battery", "first_name": 1}, "first_name"),
    ],
)
async def test_a_string_is_a_json_string_only(client: Client, body: dict[str, Any], field: str) -> None:
    response = await client.post("/api/v1/auth/sign-up", json=body)

    assert error_fields(assert_problem(response, 422, "validation_failed")) == {field}


async def test_every_strict_failure_of_a_body_is_named_at_once(client: Client, admin: dict[str, str]) -> None:
    user = await create(client, admin, email="ada@example.com")

    response = await client.patch(
        f"{USERS}/{user['id']}", json={"is_active": 0, "birthday": 0, "role": 1, "nope": 1}, headers=bearer(admin)
    )

    assert error_fields(assert_problem(response, 422, "validation_failed")) == {"is_active", "birthday", "role", "nope"}


async def test_true_and_false_still_work_in_bodies_and_query_strings(client: Client, admin: dict[str, str]) -> None:
    user = await create(client, admin, email="ada@example.com")

    response = await client.patch(f"{USERS}/{user['id']}", json={"is_active": False}, headers=bearer(admin))
    assert response.status_code == 200, response.text
    assert response.json()["is_active"] is False
    assert (await client.delete(f"{USERS}/{user['id']}", headers=bearer(admin))).status_code == 204

    hidden = await client.get(f"{USERS}/{user['id']}", params={"include_deleted": "false"}, headers=bearer(admin))
    shown = await client.get(f"{USERS}/{user['id']}", params={"include_deleted": "true"}, headers=bearer(admin))
    listed = await client.get(USERS, params={"is_active": "false", "include_deleted": "true"}, headers=bearer(admin))
    assert hidden.status_code == 404
    assert shown.status_code == 200
    assert [item["email"] for item in listed.json()["items"]] == ["ada@example.com"]
