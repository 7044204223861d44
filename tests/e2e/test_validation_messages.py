"""A 422 (or INVALID_ARGUMENT) says what is wrong in words: a client reads a sentence, not a regex.

Every transport that takes a body reports a value failing its field's pattern the same way.
"""

from __future__ import annotations

import grpc
import pytest

from app.interfaces.grpc.v1 import auth_pb2
from tests.e2e.grpc_helpers import Stubs, assert_status
from tests.e2e.helpers import PASSWORD, Client, assert_problem, bearer

BAD_EMAILS = ["plain", "ada@example", "ada@@example.com", "ada example@example.com", "ada@exa\u00a0mple.com"]
EMAIL_MESSAGE = "Not a valid email address (expected name@domain.tld, with no invisible characters)"


def assert_in_words(message: str) -> None:
    assert "regex" not in message
    assert "\\x" not in message
    assert "^" not in message


@pytest.mark.parametrize("email", BAD_EMAILS, ids=repr)
async def test_sign_up_names_a_bad_email_in_words(client: Client, email: str) -> None:
    response = await client.post("/api/v1/auth/sign-up", json={"email": email, "password": PASSWORD})

    [error] = assert_problem(response, 422, "validation_failed")["errors"]
    assert error == {"field": "email", "message": EMAIL_MESSAGE}


@pytest.mark.parametrize("email", BAD_EMAILS, ids=repr)
async def test_an_admin_creating_a_user_reads_the_same_words(client: Client, admin: dict[str, str], email: str) -> None:
    response = await client.post("/api/v1/users", json={"email": email}, headers=bearer(admin))

    [error] = assert_problem(response, 422, "validation_failed")["errors"]
    assert error == {"field": "email", "message": EMAIL_MESSAGE}


@pytest.mark.parametrize("email", BAD_EMAILS, ids=repr)
async def test_grpc_sign_up_names_a_bad_email_in_words(rpc: Stubs, email: str) -> None:
    rich = await assert_status(
        rpc.auth.SignUp(auth_pb2.SignUp(email=email, password=PASSWORD)),
        grpc.StatusCode.INVALID_ARGUMENT,
        "validation_failed",
        fields={"email"},
    )

    assert rich.violations["email"] == EMAIL_MESSAGE


@pytest.mark.parametrize("control", ["\x00", "\x07", "\n", "\x7f", "\x85", "\u2028", "\u2029"])
async def test_a_control_in_a_name_is_named_and_other_patterns_say_the_format_is_wrong(
    client: Client, control: str
) -> None:
    sign_up = {"email": "ada@example.com", "password": PASSWORD, "first_name": f"A{control}da"}
    [error] = assert_problem(await client.post("/api/v1/auth/sign-up", json=sign_up), 422, "validation_failed")[
        "errors"
    ]
    assert error == {
        "field": "first_name",
        "message": "Contains a control character (such as NUL) or a line or paragraph separator",
    }

    await client.post("/api/v1/auth/sign-up", json={"email": "ada@example.com", "password": PASSWORD})
    signed_in = await client.post("/api/v1/auth/tokens", json={"email": "ada@example.com", "password": PASSWORD})
    response = await client.patch(
        "/api/v1/users/me", json={"phone": "call me", "photo_url": "ftp://x"}, headers=bearer(signed_in.json())
    )
    errors = assert_problem(response, 422, "validation_failed")["errors"]
    assert {error["field"]: error["message"] for error in errors} == {
        "phone": "Not in the expected format",
        "photo_url": "Not in the expected format",
    }
    for error in errors:
        assert_in_words(error["message"])
