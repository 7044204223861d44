"""The accounts, credentials and listing position the loads use, made the way clients make them.

Only the administrator is made in-process (as ``just create-admin`` does, there being no
HTTP route for the first one); everything else goes through the running service's API,
so the credentials are exactly what real clients hold.
"""

from __future__ import annotations

import asyncio

import httpx
import msgspec

from app.bootstrap import build_container
from app.infrastructure.config import Settings

ADMIN = ("bench-admin@example.com", "bench admin password")
USER = ("bench-user@example.com", "bench user password")

_TIMEOUT_SECONDS = 60.0  # an offset page deep in a million rows takes a while, by design


class Credentials(msgspec.Struct, frozen=True):
    user_token: str
    api_key: str
    admin_token: str
    login_body: str
    deep_cursor: str


def create_admin(settings: Settings) -> None:
    async def create() -> None:
        container = build_container(settings)
        try:
            await container.users.create_admin(*ADMIN)
        finally:
            await container.close()

    asyncio.run(create())


def credentials(service_url: str, cursor_depth: int) -> Credentials:
    """Sign up and sign in the user, sign in the admin, make an API key and find a deep cursor."""
    with httpx.Client(base_url=service_url, timeout=_TIMEOUT_SECONDS) as client:
        email, password = USER
        _ok(client.post("/api/v1/auth/sign-up", json={"email": email, "password": password}))
        login = {"email": email, "password": password}
        user_token = _ok(client.post("/api/v1/auth/tokens", json=login))["access_token"]
        admin = {"email": ADMIN[0], "password": ADMIN[1]}
        admin_token = _ok(client.post("/api/v1/auth/tokens", json=admin))["access_token"]
        key = _ok(client.post("/api/v1/api-keys", json={"name": "bench"}, headers=_bearer(user_token)))["key"]
        # The cursor a client holds after paging to ``cursor_depth``, found with one offset page
        # (cursors ignore offset and limit) instead of walking thousands of pages.
        params = {"order_by": "-created_at", "with_total": "false", "offset": str(cursor_depth - 1), "limit": "1"}
        page = _ok(client.get("/api/v1/users", params=params, headers=_bearer(admin_token)))
    return Credentials(
        user_token=user_token,
        api_key=key,
        admin_token=admin_token,
        login_body=msgspec.json.encode(login).decode(),
        deep_cursor=page["next_cursor"],
    )


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _ok(response: httpx.Response) -> dict[str, str]:
    if response.status_code >= 300:
        raise RuntimeError(
            f"{response.request.method} {response.request.url.path}: {response.status_code} {response.text}"
        )
    body: dict[str, str] = response.json()
    return body
