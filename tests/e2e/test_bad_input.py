"""Hostile and malformed input on every route of the auth and self-service scope.

Whatever a client sends, the answer is one of the contract's problems (400, 401, 404,
405, 413 or 422 with ``application/problem+json``), never a 500, and no response body
ever shows internals. Every request here goes through :func:`call`, which checks that
much on each response, so each test only states what is specific to its case.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import jwt
import pytest
from httpx import Response

from app.infrastructure.config import Settings
from tests.e2e.helpers import (
    FORGED_ACCESS_TOKENS,
    PASSWORD,
    Client,
    assert_problem,
    bearer,
    error_fields,
    registered,
    sign_in,
    token_claims,
)

Tokens = dict[str, Any]

EMAIL = "ada@example.com"
NEW_PASSWORD = "a brand new passphrase"
TEN_KB = "a" * 10_240
ONE_MIB = 1_048_576
JSON = {"content-type": "application/json"}
FORM = {"content-type": "application/x-www-form-urlencoded"}

#: Strings that must never appear in a response body: they betray internals.
INTERNALS = ("password_hash", "traceback", "sqlalchemy")


@pytest.fixture
async def ada(client: Client) -> Tokens:
    """A signed-up, signed-in user: the caller of every protected route."""
    return await registered(client, EMAIL)


def assert_no_internals(response: Response) -> None:
    body = response.text.lower()
    for leak in INTERNALS:
        assert leak not in body, f"{leak!r} in {response.request.method} {response.request.url.path}: {response.text}"


async def call(client: Client, method: str, path: str, **kwargs: Any) -> Response:
    """Send one request and check what holds for every response: no 500, no internals."""
    response = await client.request(method, path, **kwargs)
    assert_no_internals(response)
    assert response.status_code < 500, f"{method} {path} -> {response.status_code}: {response.text}"
    return response


# --- The routes --------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    protected: bool = False
    body: str | None = None  # "json", "form" or None
    success: int = 200

    def __str__(self) -> str:
        return f"{self.method} {self.path}"

    def url(self, tokens: Tokens, *, slash: bool = False) -> str:
        return self.path.format(session_id=tokens["session_id"]) + ("/" if slash else "")

    def auth(self, tokens: Tokens) -> dict[str, str]:
        return bearer(tokens) if self.protected else {}

    def valid_body(self, tokens: Tokens) -> dict[str, Any]:
        """A body that would succeed, so that a test can spoil exactly one thing about it."""
        return _VALID_BODIES[self.path](tokens) if self.body else {}

    def send_body(self, body: Any) -> dict[str, Any]:
        """``httpx`` keyword arguments sending ``body`` the way this route expects it."""
        if self.body is None:
            return {}
        return {"data": body} if self.body == "form" else {"json": body}


_VALID_BODIES: dict[str, Callable[[Tokens], dict[str, Any]]] = {
    "/api/v1/auth/sign-up": lambda _: {"email": "grace@example.com", "password": PASSWORD},
    "/api/v1/auth/tokens": lambda _: {"email": EMAIL, "password": PASSWORD},
    "/api/v1/auth/token": lambda _: {"username": EMAIL, "password": PASSWORD},
    "/api/v1/auth/tokens/refresh": lambda tokens: {"refresh_token": tokens["refresh_token"]},
    "/api/v1/users/me": lambda _: {"first_name": "Ada"},
    "/api/v1/users/me/password": lambda _: {"current_password": PASSWORD, "new_password": NEW_PASSWORD},
}

SIGN_UP = Route("POST", "/api/v1/auth/sign-up", body="json", success=201)
TOKENS = Route("POST", "/api/v1/auth/tokens", body="json")
TOKEN_FORM = Route("POST", "/api/v1/auth/token", body="form")
REFRESH = Route("POST", "/api/v1/auth/tokens/refresh", body="json")
LOGOUT = Route("POST", "/api/v1/auth/logout", protected=True, success=204)
SESSIONS = Route("GET", "/api/v1/auth/sessions", protected=True)
REVOKE_SESSION = Route("DELETE", "/api/v1/auth/sessions/{session_id}", protected=True, success=204)
READ_ME = Route("GET", "/api/v1/users/me", protected=True)
PATCH_ME = Route("PATCH", "/api/v1/users/me", protected=True, body="json")
DELETE_ME = Route("DELETE", "/api/v1/users/me", protected=True, success=204)
CHANGE_PASSWORD = Route("POST", "/api/v1/users/me/password", protected=True, body="json", success=204)

ROUTES = [
    SIGN_UP,
    TOKENS,
    TOKEN_FORM,
    REFRESH,
    LOGOUT,
    SESSIONS,
    REVOKE_SESSION,
    READ_ME,
    PATCH_ME,
    DELETE_ME,
    CHANGE_PASSWORD,
]
JSON_ROUTES = [route for route in ROUTES if route.body == "json"]
BODY_ROUTES = [route for route in ROUTES if route.body]
PROTECTED_ROUTES = [route for route in ROUTES if route.protected]


def _deeply_nested(depth: int) -> bytes:
    """Well-formed JSON nested deeper than a recursive decoder's stack allows: ~10 KB for 5,000 levels."""
    return b'{"email": ' + b"[" * depth + b"]" * depth + b"}"


# --- 400: the body is not JSON -------------------------------------------------------------

_UNPARSEABLE_JSON = {
    "not JSON": b"this is not json",
    "truncated": b'{"email": "ada@exa',
    "single quotes": b"{'email': 'ada@example.com'}",
    "trailing comma": b'{"email": "ada@example.com",}',
    "bare NaN": b'{"meta": NaN}',
}


def _unparseable_cases() -> list[Any]:
    cases = [
        pytest.param(route, body, id=f"{route}-{name}")
        for route in JSON_ROUTES
        for name, body in _UNPARSEABLE_JSON.items()
    ]
    for route in JSON_ROUTES:
        cases.append(pytest.param(route, b"", id=f"{route}-empty"))
        cases.append(
            pytest.param(
                route,
                b'{"email": "\xff\xfe", "first_name": "\xc3\x28"}',
                id=f"{route}-invalid UTF-8",
            )
        )
    return cases


@pytest.mark.parametrize(("route", "body"), _unparseable_cases())
async def test_a_body_that_is_not_json_is_a_bad_request(client: Client, ada: Tokens, route: Route, body: bytes) -> None:
    response = await call(client, route.method, route.url(ada), content=body, headers={**JSON, **route.auth(ada)})

    assert_problem(response, 400, "bad_request")


@pytest.mark.parametrize("route", JSON_ROUTES, ids=str)
async def test_deeply_nested_json_is_rejected_not_a_crash(client: Client, ada: Tokens, route: Route) -> None:
    response = await call(
        client, route.method, route.url(ada), content=_deeply_nested(5_000), headers={**JSON, **route.auth(ada)}
    )

    assert response.status_code in (400, 422)
    assert response.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"username=%zz&password=%", id="bad percent-encoding"),
        pytest.param(b"\xff\xfe\x00garbage", id="binary"),
        pytest.param(b'{"username": "ada@example.com", "password": "correct horse battery"}', id="JSON"),
        pytest.param(
            b'--b\r\nContent-Disposition: form-data; name="username"\r\n\r\nada@example.com\r\n--b--\r\n',
            id="multipart",
        ),
    ],
)
async def test_garbage_form_is_a_client_error(client: Client, ada: Tokens, body: bytes) -> None:
    """URL-encoded parsing is total: any bytes are *some* form, usually without the fields.

    So garbage may be answered as "not a form" (400), as missing and unknown fields (422,
    what the service does for most of these) or, when it happens to yield a username and a
    password (``%zz`` and ``%`` are kept literally), as a failed sign-in (401). Either way
    a problem, never a crash and never tokens.
    """
    response = await call(client, "POST", TOKEN_FORM.path, content=body, headers=FORM)

    codes = {400: "bad_request", 401: "unauthorized", 422: "validation_failed"}
    assert response.status_code in codes, response.text
    problem = assert_problem(response, response.status_code, codes[response.status_code])
    if response.status_code == 422:
        assert {"username", "password"} & error_fields(problem)


# --- 422: well-formed but invalid ----------------------------------------------------------


@pytest.mark.parametrize("route", JSON_ROUTES, ids=str)
@pytest.mark.parametrize("body", [pytest.param([], id="array"), "ada", 42, True, None, [{"email": EMAIL}]], ids=repr)
async def test_json_that_is_not_an_object_is_invalid(client: Client, ada: Tokens, route: Route, body: Any) -> None:
    content = json.dumps(body).encode()  # not json=: httpx sends no body at all for json=None
    response = await call(client, route.method, route.url(ada), content=content, headers={**JSON, **route.auth(ada)})

    problem = assert_problem(response, 422, "validation_failed")
    assert error_fields(problem) == {"body"}


@dataclass(frozen=True)
class Invalid:
    """A request body and every field the 422 must name."""

    route: Route
    body: dict[str, Any]
    fields: set[str]


_INVALID_BODIES: dict[str, Invalid] = {
    # POST /auth/sign-up
    "sign-up: bad email, short password, unknown field": Invalid(
        SIGN_UP, {"email": "not-an-email", "password": "7 chars", "nickname": "ada"}, {"email", "password", "nickname"}
    ),
    "sign-up: nothing": Invalid(SIGN_UP, {}, {"email", "password"}),
    "sign-up: missing password": Invalid(SIGN_UP, {"email": EMAIL}, {"password"}),
    "sign-up: wrong types": Invalid(
        SIGN_UP,
        {"email": 42, "password": ["x"], "first_name": {"a": 1}, "last_name": True},
        {"email", "password", "first_name", "last_name"},
    ),
    "sign-up: nulls for required": Invalid(SIGN_UP, {"email": None, "password": None}, {"email", "password"}),
    "sign-up: 10 KB strings": Invalid(
        SIGN_UP,
        {"email": TEN_KB + "@example.com", "password": TEN_KB, "first_name": TEN_KB, "last_name": TEN_KB},
        {"email", "password", "first_name", "last_name"},
    ),
    "sign-up: 129-char password": Invalid(SIGN_UP, {"email": EMAIL, "password": "p" * 129}, {"password"}),
    "sign-up: 7-char password": Invalid(SIGN_UP, {"email": EMAIL, "password": "p" * 7}, {"password"}),
    "sign-up: role and is_active are not sign-up fields": Invalid(
        SIGN_UP, {"email": EMAIL, "password": PASSWORD, "role": "admin", "is_active": True}, {"role", "is_active"}
    ),
    # POST /auth/tokens: any string is a possible email here (a malformed one is just unknown: 401)
    "tokens: nothing": Invalid(TOKENS, {}, {"email", "password"}),
    "tokens: wrong types and an unknown field": Invalid(
        TOKENS, {"email": 1, "password": None, "remember_me": True}, {"email", "password", "remember_me"}
    ),
    "tokens: 10 KB strings": Invalid(TOKENS, {"email": TEN_KB, "password": TEN_KB}, {"email", "password"}),
    "tokens: 129-char password": Invalid(TOKENS, {"email": EMAIL, "password": "p" * 129}, {"password"}),
    "tokens: empty strings": Invalid(TOKENS, {"email": "", "password": ""}, {"email", "password"}),
    # POST /auth/token (form)
    "token form: nothing": Invalid(TOKEN_FORM, {}, {"username", "password"}),
    "token form: 10 KB strings and an unknown field": Invalid(
        TOKEN_FORM,
        {"username": TEN_KB, "password": TEN_KB, "remember_me": "1"},
        {"username", "password", "remember_me"},
    ),
    "token form: another grant type": Invalid(
        TOKEN_FORM, {"username": EMAIL, "password": PASSWORD, "grant_type": "client_credentials"}, {"grant_type"}
    ),
    # POST /auth/tokens/refresh
    "refresh: nothing": Invalid(REFRESH, {}, {"refresh_token"}),
    "refresh: wrong type and an unknown field": Invalid(
        REFRESH, {"refresh_token": 1, "session_id": "x"}, {"refresh_token", "session_id"}
    ),
    "refresh: 10 KB token": Invalid(REFRESH, {"refresh_token": TEN_KB}, {"refresh_token"}),
    # PATCH /users/me
    "patch me: every field wrong": Invalid(
        PATCH_ME,
        {
            "first_name": 1,
            "last_name": TEN_KB,
            "phone": "call me maybe",
            "birthday": "yesterday",
            "photo_url": "javascript:alert(1)",
            "address": {"zip_code": 12345},
            "meta": ["not", "an", "object"],
        },
        {"first_name", "last_name", "phone", "birthday", "photo_url", "address.zip_code", "meta"},
    ),
    "patch me: meta over 64 keys": Invalid(PATCH_ME, {"meta": {str(key): key for key in range(65)}}, {"meta"}),
    "patch me: meta null": Invalid(PATCH_ME, {"meta": None}, {"meta"}),
    "patch me: address not an object": Invalid(PATCH_ME, {"address": "10 Downing St"}, {"address"}),
    "patch me: impossible date": Invalid(PATCH_ME, {"birthday": "2024-02-30"}, {"birthday"}),
    # POST /users/me/password
    "password: nothing": Invalid(CHANGE_PASSWORD, {}, {"current_password", "new_password"}),
    "password: wrong type and short new password": Invalid(
        CHANGE_PASSWORD, {"current_password": 1, "new_password": "7 chars"}, {"current_password", "new_password"}
    ),
    "password: 129-char new password": Invalid(
        CHANGE_PASSWORD, {"current_password": PASSWORD, "new_password": "p" * 129}, {"new_password"}
    ),
    "password: 10 KB strings and an unknown field": Invalid(
        CHANGE_PASSWORD,
        {"current_password": TEN_KB, "new_password": TEN_KB, "confirm": TEN_KB},
        {"current_password", "new_password", "confirm"},
    ),
}


def _invalid_cases() -> list[Any]:
    cases = [pytest.param(case, id=name) for name, case in _INVALID_BODIES.items()]
    cases.append(
        pytest.param(
            Invalid(
                PATCH_ME, {"address": {"zip_code": 12345, "planet": "Mars"}}, {"address.zip_code", "address.planet"}
            ),
            id="patch me: two errors inside address",
        )
    )
    return cases


@pytest.mark.parametrize("case", _invalid_cases())
async def test_every_offending_field_is_named(client: Client, ada: Tokens, case: Invalid) -> None:
    route = case.route
    response = await call(client, route.method, route.url(ada), headers=route.auth(ada), **route.send_body(case.body))

    problem = assert_problem(response, 422, "validation_failed")
    assert error_fields(problem) == case.fields
    assert all(error["message"] for error in problem["errors"])


@pytest.mark.parametrize(
    "email",
    [
        "plain",
        "ada@",
        "@example.com",
        "ada@example",
        "ada@example.c",
        "ada example@example.com",
        "ada@@example.com",
        "ada@exa mple.com",
        "",
        " ",
        "a" * 65 + "@example.com",
        "ada@" + "a" * 250 + ".com",
        pytest.param(
            "ada\x00@example.com",
        ),
    ],
    ids=repr,
)
async def test_sign_up_rejects_an_invalid_email(client: Client, email: str) -> None:
    response = await call(client, "POST", SIGN_UP.path, json={"email": email, "password": PASSWORD})

    assert error_fields(assert_problem(response, 422, "validation_failed")) == {"email"}


@pytest.mark.parametrize(("length", "status"), [(7, 422), (8, 201), (128, 201), (129, 422)])
async def test_sign_up_password_length_bounds(client: Client, length: int, status: int) -> None:
    """Exactly 8 to 128 characters: both bounds are inclusive, their neighbours are not."""
    response = await call(client, "POST", SIGN_UP.path, json={"email": "grace@example.com", "password": "p" * length})

    assert response.status_code == status, response.text
    if status == 422:
        assert error_fields(assert_problem(response, 422, "validation_failed")) == {"password"}


@pytest.mark.parametrize(("length", "status"), [(7, 422), (8, 204), (128, 204), (129, 422)])
async def test_new_password_length_bounds(client: Client, ada: Tokens, length: int, status: int) -> None:
    body = {"current_password": PASSWORD, "new_password": "p" * length}
    response = await call(client, "POST", CHANGE_PASSWORD.path, json=body, headers=bearer(ada))

    assert response.status_code == status, response.text
    if status == 422:
        assert error_fields(assert_problem(response, 422, "validation_failed")) == {"new_password"}


_NOT_SELF_SERVICE = {
    "role": "admin",
    "is_active": False,
    "email": "eve@example.com",
    "password": "a new password",
    "id": "00000000-0000-7000-8000-000000000000",
}


@pytest.mark.parametrize(("field", "value"), list(_NOT_SELF_SERVICE.items()))
async def test_patch_me_refuses_a_field_that_is_not_self_service(
    client: Client, ada: Tokens, field: str, value: Any
) -> None:
    before = (await call(client, "GET", READ_ME.path, headers=bearer(ada))).json()

    response = await call(client, "PATCH", PATCH_ME.path, json={field: value, "first_name": "Ada"}, headers=bearer(ada))

    assert error_fields(assert_problem(response, 422, "validation_failed")) == {field}
    after = (await call(client, "GET", READ_ME.path, headers=bearer(ada))).json()
    assert after == before, "a rejected PATCH must change nothing, not even the valid fields"


async def test_patch_me_names_all_refused_fields_at_once(client: Client, ada: Tokens) -> None:
    response = await call(client, "PATCH", PATCH_ME.path, json=_NOT_SELF_SERVICE, headers=bearer(ada))

    assert error_fields(assert_problem(response, 422, "validation_failed")) == set(_NOT_SELF_SERVICE)


# --- Values the database cannot hold and other hostile values -----------------------------


@pytest.mark.parametrize(
    ("route", "body", "statuses"),
    [
        pytest.param(
            SIGN_UP,
            {"email": "grace@example.com", "password": PASSWORD, "first_name": "Gr\x00ce"},
            {422},
            id="sign-up first_name",
        ),
        pytest.param(TOKENS, {"email": "ada\x00@example.com", "password": PASSWORD}, {401, 422}, id="tokens email"),
        pytest.param(
            TOKEN_FORM, {"username": "ada\x00@example.com", "password": PASSWORD}, {401, 422}, id="token form username"
        ),
        pytest.param(PATCH_ME, {"first_name": "A\x00da"}, {422}, id="patch me first_name"),
        pytest.param(PATCH_ME, {"address": {"city": "Lon\x00don"}}, {422}, id="patch me address.city"),
        pytest.param(PATCH_ME, {"meta": {"theme": "da\x00rk"}}, {422}, id="patch me meta value"),
        pytest.param(PATCH_ME, {"meta": {"the\x00me": "dark"}}, {422}, id="patch me meta key"),
    ],
)
async def test_nul_characters_are_rejected_not_a_crash(
    client: Client, ada: Tokens, route: Route, body: dict[str, Any], statuses: set[int]
) -> None:
    response = await call(client, route.method, route.url(ada), headers=route.auth(ada), **route.send_body(body))

    assert response.status_code in statuses, response.text
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_nul_in_a_refresh_token_is_just_an_unknown_token(client: Client) -> None:
    response = await call(client, "POST", REFRESH.path, json={"refresh_token": "abc\x00def"})

    assert_problem(response, 401, "unauthorized")


@pytest.mark.parametrize(
    "body",
    [
        {
            "first_name": "Ada",
            "meta": {"big": 2**53 - 1, "negative": -1.5, "nested": {"list": [None, True, "x", -(2**53 - 1)]}},
        },
        {"first_name": "\u202eadA", "last_name": "\U0001f600" * 100},
        {"first_name": "<script>alert(1)</script>", "last_name": "'; DROP TABLE users; --"},
        {"birthday": "0001-01-01"},
        {"birthday": "9999-12-31"},
    ],
    ids=["largest numbers and nesting in meta", "exotic unicode", "markup and SQL", "earliest date", "latest date"],
)
async def test_odd_but_valid_profile_values_are_stored_verbatim(
    client: Client, ada: Tokens, body: dict[str, Any]
) -> None:
    response = await call(client, "PATCH", PATCH_ME.path, json=body, headers=bearer(ada))

    assert response.status_code == 200, response.text
    stored = (await call(client, "GET", READ_ME.path, headers=bearer(ada))).json()
    assert {key: response.json()[key] for key in body} == {key: stored[key] for key in body} == body


# --- 413: over the body limit ---------------------------------------------------------------


def _oversized(route: Route) -> bytes:
    """Just over 1 MiB, otherwise well-formed for the route."""
    if route.body == "form":
        return b"username=" + b"a" * ONE_MIB + b"&password=x"
    return b'{"first_name": "' + b"a" * ONE_MIB + b'"}'


@pytest.mark.parametrize("route", BODY_ROUTES, ids=str)
async def test_a_body_over_one_mib_is_too_large(client: Client, ada: Tokens, route: Route) -> None:
    content_type = FORM if route.body == "form" else JSON
    response = await call(
        client, route.method, route.url(ada), content=_oversized(route), headers={**content_type, **route.auth(ada)}
    )

    assert_problem(response, 413, "payload_too_large")


async def test_a_streamed_body_over_one_mib_is_too_large(client: Client) -> None:
    """Without Content-Length (chunked), the limit must still hold while the body is read."""

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"first_name": "'
        for _ in range(17):
            yield b"a" * 65_536
        yield b'"}'

    response = await call(client, "POST", SIGN_UP.path, content=chunks(), headers=JSON)

    assert_problem(response, 413, "payload_too_large")


async def test_a_body_just_under_the_limit_is_read(client: Client) -> None:
    """The limit is on size alone: a large but allowed body is parsed and validated (422)."""
    body = b'{"email": "' + b"a" * (ONE_MIB - 100) + b'", "password": "correct horse battery"}'
    response = await call(client, "POST", SIGN_UP.path, content=body, headers=JSON)

    assert error_fields(assert_problem(response, 422, "validation_failed")) == {"email"}


# --- 401: credentials -------------------------------------------------------------------------


async def _revoked(client: Client, tokens: Tokens, _settings: Settings) -> dict[str, Any]:
    """The access token of a second session of the same user, logged out."""
    other = await sign_in(client, EMAIL)
    logout = await call(client, "POST", LOGOUT.path, headers=bearer(other))
    assert logout.status_code == 204, logout.text
    return bearer(other)


async def _no_header(_client: Client, _tokens: Tokens, _settings: Settings) -> dict[str, Any]:
    return {}


Credential = Callable[[Client, Tokens, Settings], Awaitable[dict[str, Any]]]


def _authorization(make: Callable[[Tokens, Settings], str | bytes]) -> Credential:
    """A credential that is just an ``Authorization`` header built from the caller's tokens."""

    async def build(_client: Client, tokens: Tokens, settings: Settings) -> dict[str, Any]:
        return {"Authorization": make(tokens, settings)}

    return build


def _forged(forge: Callable[[Tokens, str], str]) -> Credential:
    """A forged access token presented as a Bearer token."""
    return _authorization(lambda tokens, settings: f"Bearer {forge(tokens, settings.secret_key)}")


_BASIC = base64.b64encode(f"{EMAIL}:{PASSWORD}".encode()).decode()

CREDENTIALS: dict[str, Credential] = {
    "no Authorization": _no_header,
    "Bearer with nothing": _authorization(lambda _t, _s: "Bearer"),
    "Bearer with blanks": _authorization(lambda _t, _s: "Bearer    "),
    "Basic xxx": _authorization(lambda _t, _s: "Basic xxx"),
    "Basic with the right email and password": _authorization(lambda _t, _s: f"Basic {_BASIC}"),
    "token without a scheme": _authorization(lambda tokens, _s: tokens["access_token"]),
    "another scheme with the token": _authorization(lambda tokens, _s: f"Token {tokens['access_token']}"),
    "malformed JWT": _authorization(lambda _t, _s: "Bearer not-a-jwt"),
    "three garbage segments": _authorization(lambda _t, _s: "Bearer aaa.bbb.ccc"),
    "10 KB token": _authorization(lambda _t, _s: f"Bearer {TEN_KB}"),
    "non-ASCII bytes": _authorization(lambda _t, _s: b"Bearer \xc3\xa9t\xc3\xa9\xff"),
    **{name: _forged(forge) for name, forge in FORGED_ACCESS_TOKENS.items()},
    "revoked session": _revoked,
}


@pytest.mark.parametrize("route", PROTECTED_ROUTES, ids=str)
@pytest.mark.parametrize("credential", list(CREDENTIALS), ids=str)
async def test_bad_credentials_are_unauthorized(
    client: Client, ada: Tokens, settings: Settings, route: Route, credential: str
) -> None:
    headers = await CREDENTIALS[credential](client, ada, settings)

    response = await call(
        client, route.method, route.url(ada), headers=headers, **route.send_body(route.valid_body(ada))
    )

    assert_problem(response, 401, "unauthorized")  # also checks WWW-Authenticate: Bearer
    still_signed_in = await call(client, "GET", READ_ME.path, headers=bearer(ada))
    assert still_signed_in.status_code == 200, "a rejected request must not act on the account"


@pytest.mark.parametrize(
    "claims",
    [
        pytest.param({"sub": "not-a-uuid"}, id="sub not a UUID"),
        pytest.param({"sub": str(uuid.uuid4())}, id="sub unknown user"),
        pytest.param({"sid": "not-a-uuid"}, id="sid not a UUID"),
        pytest.param({"typ": None}, id="typ missing"),
        pytest.param({"jti": None}, id="jti missing"),
        pytest.param({"exp": None}, id="exp missing"),
        pytest.param({"exp": "tomorrow"}, id="exp not a number"),
        pytest.param(
            {"sid": 12345},
            id="sid a number",
        ),
        pytest.param(
            {"sid": {"a": 1}},
            id="sid an object",
        ),
    ],
)
async def test_a_validly_signed_token_with_bad_claims_is_unauthorized(
    client: Client, ada: Tokens, settings: Settings, claims: dict[str, Any]
) -> None:
    """Defence in depth: even a token bearing the service's signature is checked claim by claim.

    Forging one needs the key, so the crashes here matter less than the 401s above, but a
    key leak or a bug issuing tokens must not turn into 500s.
    """
    payload = {key: value for key, value in {**token_claims(ada), **claims}.items() if value is not None}
    token = jwt.encode(payload, settings.secret_key, "HS256")

    response = await call(client, "GET", READ_ME.path, headers=bearer(token))

    assert_problem(response, 401, "unauthorized")


@pytest.mark.parametrize(
    "refresh_token",
    [
        pytest.param(
            "access",
            id="an access token",
        ),
        pytest.param("not-a-refresh-token", id="garbage"),
        pytest.param("x" * 256, id="256 characters"),
    ],
)
async def test_a_wrong_refresh_token_is_unauthorized(client: Client, ada: Tokens, refresh_token: str) -> None:
    token = ada["access_token"] if refresh_token == "access" else refresh_token

    response = await call(client, "POST", REFRESH.path, json={"refresh_token": token})

    assert_problem(response, 401, "unauthorized")


# --- 404 and 405 --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "session_id",
    [
        "not-a-uuid",
        "123",
        "0192",
        "01a200a1-4756-7563-ad46-93d903b80c58x",
        "01a200a1-4756-7563-ad46",
        "%00",
        "%27%20OR%201%3D1%20--",
        "..%2F..%2Fusers%2Fme",
    ],
)
async def test_a_session_id_that_is_not_a_uuid_is_not_found(client: Client, ada: Tokens, session_id: str) -> None:
    """The route is declared as ``/sessions/{session_id:uuid}``: a segment that is not a
    UUID matches no route at all, so the service answers 404 not_found (rather than 422
    naming ``session_id``). Either is a contract problem; 404 is what it does.
    """
    response = await call(client, "DELETE", f"/api/v1/auth/sessions/{session_id}", headers=bearer(ada))

    assert response.status_code == 404, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == "not_found"


async def test_an_unknown_session_uuid_is_not_found(client: Client, ada: Tokens) -> None:
    response = await call(client, "DELETE", f"/api/v1/auth/sessions/{uuid.uuid4()}", headers=bearer(ada))

    assert_problem(response, 404, "not_found")


@pytest.mark.parametrize("method", ["GET", "POST", "DELETE"])
@pytest.mark.parametrize(
    "path",
    ["/", "/api", "/api/v1", "/api/v1/nope", "/api/v2/users/me", "/api/v1/users/me/nope", "/api/v1/auth/sessions/x/y"],
)
async def test_an_unknown_route_is_not_found(client: Client, method: str, path: str) -> None:
    response = await call(client, method, path)

    assert_problem(response, 404, "not_found")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", SIGN_UP.path),
        ("PUT", SIGN_UP.path),
        ("GET", TOKENS.path),
        ("DELETE", TOKENS.path),
        ("GET", TOKEN_FORM.path),
        ("GET", REFRESH.path),
        ("GET", LOGOUT.path),
        ("POST", SESSIONS.path),
        ("DELETE", SESSIONS.path),
        ("GET", "/api/v1/auth/sessions/01a200a1-4756-7563-ad46-93d903b80c58"),
        ("PATCH", "/api/v1/auth/sessions/01a200a1-4756-7563-ad46-93d903b80c58"),
        ("POST", READ_ME.path),
        ("PUT", READ_ME.path),
        ("GET", CHANGE_PASSWORD.path),
        ("PATCH", CHANGE_PASSWORD.path),
        ("TRACE", READ_ME.path),
    ],
)
async def test_a_wrong_method_is_not_allowed(client: Client, ada: Tokens, method: str, path: str) -> None:
    response = await call(client, method, path, headers=bearer(ada))

    assert_problem(response, 405, "method_not_allowed")
    allowed = {name.strip() for name in response.headers["allow"].split(",")}  # RFC 9110: a 405 lists them
    assert allowed
    assert method not in allowed


@pytest.mark.parametrize(
    ("path", "methods"),
    [
        (READ_ME.path, {"GET", "PATCH", "DELETE"}),
        ("/api/v1/users/me/", {"GET", "PATCH", "DELETE"}),
        ("/api/v1/users", {"GET", "POST"}),
        ("/api/v1/users/bulk", {"POST", "PATCH"}),
        ("/api/v1/users/01a200a1-4756-7563-ad46-93d903b80c58", {"GET", "PATCH", "DELETE"}),
        ("/api/v1/api-keys", {"GET", "POST"}),
        (LOGOUT.path, {"POST"}),
    ],
)
async def test_options_names_every_method_of_the_path(
    client: Client, admin: Tokens, path: str, methods: set[str]
) -> None:
    """Each path has several handlers; the answer names them all, not only the first registered."""
    response = await call(client, "OPTIONS", path, headers=bearer(admin))

    assert response.status_code == 204, response.text
    assert {name.strip() for name in response.headers["allow"].split(",")} == {*methods, "OPTIONS"}


# --- Trailing slashes ---------------------------------------------------------------------------


@pytest.mark.parametrize("route", ROUTES, ids=str)
async def test_a_trailing_slash_reaches_the_same_route(client: Client, ada: Tokens, route: Route) -> None:
    response = await call(
        client,
        route.method,
        route.url(ada, slash=True),
        headers=route.auth(ada),
        **route.send_body(route.valid_body(ada)),
    )

    assert response.status_code == route.success, response.text


def _same_problem(plain: Response, slashed: Response) -> None:
    """The same status, code and errors. ``instance`` is the normalized path (without the
    slash) in both, which ``assert_problem`` would flag for the slashed request."""
    assert (slashed.status_code, slashed.headers["content-type"]) == (plain.status_code, plain.headers["content-type"])
    a, b = plain.json(), slashed.json()
    assert {key: a.get(key) for key in ("code", "title", "errors")} == {
        key: b.get(key) for key in ("code", "title", "errors")
    }
    assert b["instance"].rstrip("/") == a["instance"]


@pytest.mark.parametrize("route", PROTECTED_ROUTES, ids=str)
async def test_a_trailing_slash_gives_the_same_401(client: Client, ada: Tokens, route: Route) -> None:
    plain = await call(client, route.method, route.url(ada))
    slashed = await call(client, route.method, route.url(ada, slash=True))

    assert_problem(plain, 401, "unauthorized")
    _same_problem(plain, slashed)
    assert slashed.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("route", JSON_ROUTES, ids=str)
async def test_a_trailing_slash_gives_the_same_422(client: Client, ada: Tokens, route: Route) -> None:
    body = {"unknown": True}
    plain = await call(client, route.method, route.url(ada), json=body, headers=route.auth(ada))
    slashed = await call(client, route.method, route.url(ada, slash=True), json=body, headers=route.auth(ada))

    assert_problem(plain, 422, "validation_failed")
    _same_problem(plain, slashed)


# --- X-Request-ID -------------------------------------------------------------------------------

_REQUESTS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "200": ("GET", "/health/live", {}),
    "400": ("POST", SIGN_UP.path, {"content": b"{", "headers": JSON}),
    "401": ("GET", READ_ME.path, {}),
    "404": ("GET", "/api/v1/nope", {}),
    "405": ("PUT", READ_ME.path, {}),
    "422": ("POST", SIGN_UP.path, {"json": {}}),
}


@pytest.mark.parametrize("status", list(_REQUESTS))
async def test_the_request_id_is_echoed(client: Client, status: str) -> None:
    method, path, kwargs = _REQUESTS[status]
    headers = {**kwargs.get("headers", {}), "X-Request-ID": "client-chosen.id:42"}

    response = await call(client, method, path, **{**kwargs, "headers": headers})

    assert str(response.status_code) == status
    assert response.headers["x-request-id"] == "client-chosen.id:42"


@pytest.mark.parametrize("status", list(_REQUESTS))
async def test_a_request_id_is_generated_when_none_is_sent(client: Client, status: str) -> None:
    method, path, kwargs = _REQUESTS[status]

    first = await call(client, method, path, **kwargs)
    second = await call(client, method, path, **kwargs)

    assert str(first.status_code) == status
    assert first.headers["x-request-id"]
    assert first.headers["x-request-id"] != second.headers["x-request-id"]


# --- No internals -----------------------------------------------------------------------------


async def test_successful_bodies_hold_no_secrets(client: Client, ada: Tokens) -> None:
    """``call`` checks error bodies throughout; here the bodies that carry a user."""
    responses = [
        await call(client, "POST", SIGN_UP.path, json={"email": "grace@example.com", "password": PASSWORD}),
        await call(client, "GET", READ_ME.path, headers=bearer(ada)),
        await call(client, "PATCH", PATCH_ME.path, json={"first_name": "Ada"}, headers=bearer(ada)),
        await call(client, "GET", SESSIONS.path, headers=bearer(ada)),
        await call(client, "POST", TOKENS.path, json={"email": EMAIL, "password": PASSWORD}),
    ]

    assert all(response.status_code in (200, 201) for response in responses)
    for response in responses:
        assert PASSWORD not in response.text
