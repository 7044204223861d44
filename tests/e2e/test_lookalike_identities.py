"""An email with a character nobody sees is refused, so no account can pass for another.

Every default-ignorable, format, control, surrogate and separator code point, anywhere
inside the address, is a 422 naming ``email`` on every path that writes one: sign-up over
REST and gRPC, an administrator's create and bulk create, and ``create-admin``. Names
refuse control characters and line separators the same way.
"""

from __future__ import annotations

import sys
import unicodedata
from collections.abc import Iterator

import grpc
import pytest

from app.bootstrap import Container
from app.domain.errors import ValidationFailed
from app.domain.users.values import is_invisible
from app.interfaces.grpc.v1 import auth_pb2
from tests.e2e.grpc_helpers import Stubs, assert_status
from tests.e2e.helpers import PASSWORD, Client, assert_problem, bearer, error_fields, registered, sign_up

ADA = "ada@example.com"


def _runs() -> Iterator[tuple[int, int]]:
    """Each contiguous run of invisible code points, as (first, last)."""
    start = None
    for code in range(sys.maxunicode + 2):
        invisible = code <= sys.maxunicode and is_invisible(chr(code))
        if invisible and start is None:
            start = code
        elif not invisible and start is not None:
            yield start, code - 1
            start = None


#: The first and the last code point of every run: each category and range at its edges.
#: Not surrogates: no transport carries one alone (JSON decoding and protobuf refuse it as
#: text; the value object's own test covers them).
EDGES = sorted({code for run in _runs() for code in run if unicodedata.category(chr(code)) != "Cs"})
#: Where a character hides: inside the local part, at either side of "@", inside the domain.
PLACES = ["a{}da@example.com", "ada{}@example.com", "ada@{}example.com", "ada@exam{}ple.com", "ada@example.{}com"]


def _variants(codes: list[int]) -> Iterator[tuple[str, int]]:
    """Each code point hidden in an address, in turn at each place."""
    for index, code in enumerate(codes):
        yield PLACES[index % len(PLACES)].format(chr(code)), code


@pytest.fixture
async def ada(client: Client) -> None:
    await sign_up(client, ADA)


async def test_sign_up_refuses_every_invisible_character(client: Client, ada: None) -> None:
    for email, code in _variants(EDGES):
        response = await client.post("/api/v1/auth/sign-up", json={"email": email, "password": PASSWORD})

        assert error_fields(assert_problem(response, 422, "validation_failed")) == {"email"}, hex(code)


async def test_grpc_sign_up_refuses_every_invisible_character(rpc: Stubs, ada: None) -> None:
    for email, _ in _variants(EDGES):
        await assert_status(
            rpc.auth.SignUp(auth_pb2.SignUp(email=email, password=PASSWORD)),
            grpc.StatusCode.INVALID_ARGUMENT,
            "validation_failed",
            fields={"email"},
        )


async def test_administrators_cannot_create_a_lookalike_either(
    client: Client, admin: dict[str, str], container: Container, ada: None
) -> None:
    for email, _ in _variants(EDGES[::7]):
        single = await client.post("/api/v1/users", json={"email": email}, headers=bearer(admin))
        bulk = await client.post(
            "/api/v1/users/bulk", json={"items": [{"email": "b@example.com"}, {"email": email}]}, headers=bearer(admin)
        )

        assert error_fields(assert_problem(single, 422, "validation_failed")) == {"email"}
        assert error_fields(assert_problem(bulk, 422, "validation_failed")) == {"items.1.email"}
        with pytest.raises(ValidationFailed):
            await container.users.create_admin(email, PASSWORD)


@pytest.mark.parametrize("email", ["josé@example.com", "ünïcödé@bücher.de", "用户@例子.广告", "a.b+c@example.co.uk"])
async def test_visible_non_ascii_addresses_are_still_welcome(client: Client, email: str) -> None:
    assert (await client.post("/api/v1/auth/sign-up", json={"email": email, "password": PASSWORD})).status_code == 201


CONTROLS = [*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0), 0x2028, 0x2029]


async def test_names_refuse_control_characters_and_line_separators(
    client: Client, admin: dict[str, str], rpc: Stubs
) -> None:
    tokens = await registered(client, ADA)
    for index, code in enumerate(CONTROLS):
        name = f"A{chr(code)}da"
        field = ("first_name", "last_name")[index % 2]
        responses = [
            await client.post(
                "/api/v1/auth/sign-up", json={"email": f"n{index}@example.com", "password": PASSWORD, field: name}
            ),
            await client.patch("/api/v1/users/me", json={field: name}, headers=bearer(tokens)),
            await client.post(
                "/api/v1/users", json={"email": f"n{index}@example.com", field: name}, headers=bearer(admin)
            ),
        ]
        for response in responses:
            assert error_fields(assert_problem(response, 422, "validation_failed")) == {field}, hex(code)
        await assert_status(
            rpc.auth.SignUp(auth_pb2.SignUp(email=f"n{index}@example.com", password=PASSWORD, **{field: name})),
            grpc.StatusCode.INVALID_ARGUMENT,
            "validation_failed",
            fields={field},
        )
