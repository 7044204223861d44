"""The last active admin stays: every way of demoting, deactivating or deleting one is refused
with 409 when it would leave none, alone, in bulk and when two admins remove each other at once.

(The inbound ``user.deactivate`` of the last admin is in ``test_consumer``.)
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import msgspec
import pytest
from httpx import Response
from sqlalchemy.engine import make_url

from app.application.users.dto import AdminUserPatch, UserRead
from app.domain.errors import Conflict
from app.infrastructure.config import Settings
from tests.conftest import embedded_container
from tests.e2e.conftest import ADMIN_EMAIL
from tests.e2e.helpers import PASSWORD, Client, assert_problem, bearer, create, sign_in
from tests.support.waiting import until

Tokens = dict[str, Any]
#: One way to remove ``target`` as an admin, sent by ``actor``.
Removal = Callable[[Client, Tokens, str], Awaitable[Response]]

DEMOTIONS: dict[str, dict[str, Any]] = {
    "role": {"role": "user"},
    "is_active": {"is_active": False},
    "both": {"role": "user", "is_active": False},
    "with a profile change": {"is_active": False, "first_name": "Last"},
}


def patch_one(changes: dict[str, Any]) -> Removal:
    def send(client: Client, actor: Tokens, target: str) -> Awaitable[Response]:
        return client.patch(f"/api/v1/users/{target}", json=changes, headers=bearer(actor))

    return send


def patch_bulk(changes: dict[str, Any]) -> Removal:
    def send(client: Client, actor: Tokens, target: str) -> Awaitable[Response]:
        return client.patch("/api/v1/users/bulk", json={"items": [{"id": target, **changes}]}, headers=bearer(actor))

    return send


def delete(client: Client, actor: Tokens, target: str) -> Awaitable[Response]:
    return client.delete(f"/api/v1/users/{target}", headers=bearer(actor))


def close_own_account(client: Client, actor: Tokens, target: str) -> Awaitable[Response]:
    return client.delete("/api/v1/users/me", headers=bearer(actor))


#: Every route that removes an admin, by any user with the right to use it.
REMOVALS: dict[str, Removal] = {
    **{f"PATCH /users/{{id}} {name}": patch_one(changes) for name, changes in DEMOTIONS.items()},
    **{f"PATCH /users/bulk {name}": patch_bulk(changes) for name, changes in DEMOTIONS.items()},
    "DELETE /users/{id}": delete,
}
#: The removals an admin can make of themselves: the above, and closing their own account.
SELF_REMOVALS: dict[str, Removal] = {**REMOVALS, "DELETE /users/me": close_own_account}


async def own_id(client: Client, tokens: Tokens) -> str:
    me = await client.get("/api/v1/users/me", headers=bearer(tokens))
    assert me.status_code == 200, me.text
    return str(me.json()["id"])


async def another_admin(client: Client, admin: Tokens, email: str = "second@example.com") -> Tokens:
    await create(client, admin, email=email, password=PASSWORD, role="admin")
    return await sign_in(client, email)


async def assert_still_admin(client: Client, tokens: Tokens) -> None:
    """Still signed in, active and allowed to administer."""
    listed = await client.get("/api/v1/users", headers=bearer(tokens))
    assert listed.status_code == 200, listed.text


def assert_refused(response: Response) -> None:
    body = assert_problem(response, 409, "conflict")
    assert "last active admin" in body["detail"], body


async def active_admins(client: Client, tokens: Tokens) -> list[str]:
    listed = await client.get(
        "/api/v1/users", params={"role": "admin", "is_active": "true", "limit": "100"}, headers=bearer(tokens)
    )
    assert listed.status_code == 200, listed.text
    return sorted(user["email"] for user in listed.json()["items"])


@pytest.mark.parametrize("removal", SELF_REMOVALS.values(), ids=SELF_REMOVALS.keys())
async def test_the_last_admin_cannot_remove_themselves(client: Client, admin: Tokens, removal: Removal) -> None:
    assert_refused(await removal(client, admin, await own_id(client, admin)))
    await assert_still_admin(client, admin)
    await sign_in(client, ADMIN_EMAIL)


@pytest.mark.parametrize("removal", REMOVALS.values(), ids=REMOVALS.keys())
async def test_an_admin_may_remove_another_but_not_then_the_last(
    client: Client, admin: Tokens, removal: Removal
) -> None:
    second = await another_admin(client, admin)
    removed = await removal(client, admin, await own_id(client, second))
    assert removed.status_code in (200, 204), removed.text
    assert await active_admins(client, admin) == [ADMIN_EMAIL]

    assert_refused(await removal(client, admin, await own_id(client, admin)))
    await assert_still_admin(client, admin)


@pytest.mark.parametrize("changes", DEMOTIONS.values(), ids=DEMOTIONS.keys())
async def test_a_bulk_change_that_removes_every_admin_changes_nothing(
    client: Client, admin: Tokens, changes: dict[str, Any]
) -> None:
    second = await another_admin(client, admin)
    ids = [await own_id(client, admin), await own_id(client, second)]
    items = [{"id": user_id, **changes} for user_id in ids]

    assert_refused(await client.patch("/api/v1/users/bulk", json={"items": items}, headers=bearer(admin)))
    assert await active_admins(client, admin) == [ADMIN_EMAIL, "second@example.com"]
    await assert_still_admin(client, second)


async def test_a_bulk_change_may_hand_administration_over(client: Client, admin: Tokens) -> None:
    """Demoting oneself while promoting someone else in the same request leaves an admin."""
    heir = await create(client, admin, email="heir@example.com", password=PASSWORD)
    items = [{"id": await own_id(client, admin), "role": "user"}, {"id": heir["id"], "role": "admin"}]

    response = await client.patch("/api/v1/users/bulk", json={"items": items}, headers=bearer(admin))

    assert response.status_code == 200, response.text
    assert await active_admins(client, await sign_in(client, "heir@example.com")) == ["heir@example.com"]


async def test_an_inactive_or_deleted_admin_does_not_count(client: Client, admin: Tokens) -> None:
    for email, changes in (("inactive@example.com", {"is_active": False}), ("deleted@example.com", None)):
        other = await create(client, admin, email=email, password=PASSWORD, role="admin")
        if changes is None:
            assert (await delete(client, admin, other["id"])).status_code == 204
        else:
            assert (await patch_one(changes)(client, admin, other["id"])).status_code == 200

    assert_refused(await patch_one({"role": "user"})(client, admin, await own_id(client, admin)))


def dsn(settings: Settings) -> str:
    return make_url(settings.database_url).set(drivername="postgresql").render_as_string(hide_password=False)


@contextlib.asynccontextmanager
async def rows_held(settings: Settings, *user_ids: str) -> AsyncIterator[None]:
    """Lock these users' rows until the block ends: the requests sent meanwhile wait, then race."""
    connection = await asyncpg.connect(dsn(settings))
    try:
        async with connection.transaction():
            await connection.execute("SELECT 1 FROM users WHERE id = ANY($1::uuid[]) FOR UPDATE", list(user_ids))
            yield
    finally:
        await connection.close()


WAITING_FOR_A_LOCK = (
    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
)


async def waiting_for_rows(settings: Settings, count: int) -> None:
    """Until ``count`` transactions wait for a lock (the held rows)."""
    observer = await asyncpg.connect(dsn(settings))

    async def waiting() -> bool:
        return bool(await observer.fetchval(WAITING_FOR_A_LOCK) >= count)

    try:
        await until(waiting, f"{count} requests waiting for the held rows", within=10)
    finally:
        await observer.close()


# Each pair: how the first admin removes the second, and how the second removes the first.
PAIRS = list(
    itertools.product(["PATCH /users/{id} role", "PATCH /users/bulk is_active", "DELETE /users/{id}"], repeat=2)
)


@pytest.mark.parametrize(("first_way", "second_way"), PAIRS)
async def test_two_admins_removing_each_other_at_once_leave_one(
    client: Client, admin: Tokens, settings: Settings, first_way: str, second_way: str
) -> None:
    second = await another_admin(client, admin)
    ids = [await own_id(client, admin), await own_id(client, second)]

    async with rows_held(settings, *ids):
        both = asyncio.gather(
            REMOVALS[first_way](client, admin, ids[1]),
            REMOVALS[second_way](client, second, ids[0]),
        )
        await waiting_for_rows(settings, 2)  # both requests are past authentication, at their target's row
    first, second_response = await both

    outcomes = sorted((first.status_code, second_response.status_code))
    assert outcomes in ([200, 409], [204, 409]), (first.text, second_response.text)
    assert_refused(first if first.status_code == 409 else second_response)
    winner = admin if first.status_code != 409 else second
    assert len(await active_admins(client, winner)) == 1


async def test_two_admins_closing_their_own_accounts_at_once_leave_one(
    client: Client, admin: Tokens, settings: Settings
) -> None:
    second = await another_admin(client, admin)
    ids = [await own_id(client, admin), await own_id(client, second)]

    async with rows_held(settings, *ids):
        both = asyncio.gather(close_own_account(client, admin, ids[0]), close_own_account(client, second, ids[1]))
        await waiting_for_rows(settings, 2)
    responses = await both

    assert sorted(r.status_code for r in responses) == [204, 409], [r.text for r in responses]
    remaining = admin if responses[1].status_code == 204 else second
    await assert_still_admin(client, remaining)


SQLITE_ROUNDS = 5


async def test_on_embedded_sqlite_two_admins_demoting_each_other_at_once_leave_one(tmp_path: Path) -> None:
    """The development database has no advisory locks; its one write lock serializes the check instead."""
    demote = msgspec.convert({"role": "user"}, AdminUserPatch)
    async with embedded_container(tmp_path / "embedded.db") as container:
        survivor: UserRead | None = None
        for round_ in range(SQLITE_ROUNDS):
            pair = [(await container.users.create_admin(f"{n}{round_}@example.com", PASSWORD))[0] for n in "ab"]
            if survivor is not None:
                await container.administration.update(survivor.id, demote)
            outcomes = await asyncio.gather(
                *(container.administration.update(admin.id, demote) for admin in pair), return_exceptions=True
            )
            assert sorted(type(outcome).__name__ for outcome in outcomes) == ["Conflict", "UserRead"], outcomes
            survivor = pair[[isinstance(outcome, Conflict) for outcome in outcomes].index(True)]
            page = await container.administration.list_users({"role": ["admin"], "is_active": ["true"]})
            assert [user.id for user in page.items] == [survivor.id]
