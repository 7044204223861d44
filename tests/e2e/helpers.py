"""Client-side steps the end-to-end tests repeat: sign up, sign in, authenticate, forge a token."""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import jwt
from httpx import AsyncClient, Response
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from app.infrastructure.config import Settings
from tests.support.waiting import ANSWER_WITHIN_SECONDS

Client = AsyncClient

PASSWORD = "correct horse battery"


async def sign_up(client: Client, email: str, password: str = PASSWORD, **profile: Any) -> dict[str, Any]:
    response = await client.post("/api/v1/auth/sign-up", json={"email": email, "password": password, **profile})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def sign_in(client: Client, email: str, password: str = PASSWORD, **headers: str) -> dict[str, Any]:
    response = await client.post("/api/v1/auth/tokens", json={"email": email, "password": password}, headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def registered(client: Client, email: str, password: str = PASSWORD) -> dict[str, Any]:
    """A signed-up user's token pair."""
    await sign_up(client, email, password)
    return await sign_in(client, email, password)


def bearer(tokens: dict[str, Any] | str) -> dict[str, str]:
    token = tokens if isinstance(tokens, str) else tokens["access_token"]
    return {"Authorization": f"Bearer {token}"}


# --- Forged access tokens ------------------------------------------------------------------

#: A signing key that is not the service's (but as long and random as one).
OTHER_KEY = "not-the-service-key-but-just-as-long-and-random-0123456789"


def token_claims(tokens: dict[str, Any]) -> dict[str, Any]:
    """The claims of a token pair's access token, read without checking its signature."""
    claims: dict[str, Any] = jwt.decode(tokens["access_token"], options={"verify_signature": False})
    return claims


def signed_token(tokens: dict[str, Any], key: str, algorithm: str = "HS256", **claims: Any) -> str:
    """The access token's claims, changed by ``claims``, signed with ``key``."""
    return jwt.encode({**token_claims(tokens), **claims}, key, algorithm)


def flip_signature(token: str) -> str:
    """Change a character in the middle of the signature.

    Not the last one: its low bits are base64 padding, so changing it may leave the
    decoded signature (and the token's validity) unchanged.
    """
    header, payload, signature = token.split(".")
    middle = len(signature) // 2
    flipped = "A" if signature[middle] != "A" else "B"
    return ".".join((header, payload, signature[:middle] + flipped + signature[middle + 1 :]))


def unsigned_token(claims: dict[str, Any]) -> str:
    """An ``alg: none`` token: no signature at all."""

    def segment(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    return f"{segment(json.dumps({'alg': 'none', 'typ': 'JWT'}).encode())}.{segment(json.dumps(claims).encode())}."


#: What an attacker holding a real token pair (and, for some, the service's key) can present
#: as an access token; the service must refuse every one. Each takes the pair and the key.
FORGED_ACCESS_TOKENS: dict[str, Callable[[dict[str, Any], str], str]] = {
    "flipped signature": lambda tokens, _key: flip_signature(tokens["access_token"]),
    "alg none": lambda tokens, _key: unsigned_token(token_claims(tokens)),
    "signed with another key": lambda tokens, _key: signed_token(tokens, OTHER_KEY),
    "another algorithm, right key": lambda tokens, key: signed_token(tokens, key, "HS512"),
    "expired": lambda tokens, key: signed_token(tokens, key, iat=int(time.time()) - 3_600, exp=int(time.time()) - 60),
    "typ refresh": lambda tokens, key: signed_token(tokens, key, typ="refresh"),
    "unknown session": lambda tokens, key: signed_token(tokens, key, sid=str(uuid.uuid4())),
    "refresh token as bearer": lambda tokens, _key: str(tokens["refresh_token"]),
}


def api_key(key: dict[str, Any] | str) -> dict[str, str]:
    """The header that authenticates with an API key (as created, or its text)."""
    return {"X-API-Key": key if isinstance(key, str) else key["key"]}


async def new_key(client: Client, tokens: dict[str, Any], **body: Any) -> dict[str, Any]:
    """A new API key of the tokens' owner, as created (``key`` is shown only here)."""
    response = await client.post("/api/v1/api-keys", json={"name": "ci", **body}, headers=bearer(tokens))
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def assert_problem(response: Response, status: int, code: str) -> dict[str, Any]:
    """The contract's error shape: problem+json with code, error_id echoed in X-Error-Id."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["code"] == code
    assert body["type"] == "about:blank"
    assert body["title"]
    assert body["instance"] == response.request.url.path
    assert body["error_id"]
    assert response.headers["x-error-id"] == body["error_id"]
    assert "traceback" not in body
    if status == 401:
        assert response.headers["www-authenticate"] == "Bearer"
    return body


def assert_unavailable(response: Response, elapsed: float) -> None:
    """The answer while a dependency is down: a 503 problem with ``Retry-After``, within the contract's bound."""
    assert_problem(response, 503, "service_unavailable")
    assert response.headers["retry-after"] == "1"
    assert elapsed < ANSWER_WITHIN_SECONDS, f"{response.request.url.path} took {elapsed:.2f} s"


def error_fields(body: dict[str, Any]) -> set[str]:
    return {error["field"] for error in body.get("errors", [])}


async def create(client: Client, admin: dict[str, str], **body: Any) -> dict[str, Any]:
    """Create a user through the admin API."""
    response = await client.post("/api/v1/users", json=body, headers=bearer(admin))
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


@contextmanager
def counted_statements(engine: AsyncEngine) -> Iterator[list[str]]:
    """Record every statement sent to the database (an executemany counts once)."""
    statements: list[str] = []

    def record(*args: Any) -> None:
        statements.append(args[2])

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)


def deployed_hashing() -> dict[str, str]:
    """The argon2 cost of a deployment: the settings' defaults (the suite's own are far cheaper)."""
    defaults = Settings()
    return {
        "PASSWORD_HASH_TIME_COST": str(defaults.password_hash_time_cost),
        "PASSWORD_HASH_MEMORY_KIB": str(defaults.password_hash_memory_kib),
        "PASSWORD_HASH_PARALLELISM": str(defaults.password_hash_parallelism),
    }
