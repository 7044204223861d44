"""User administration rules, on in-memory fakes: all-or-nothing batches and what each change implies."""

from __future__ import annotations

import uuid

import pytest

from app.application.users.dto import AdminUserCreate, AdminUserPatch, BulkUserUpdate
from app.domain.errors import Conflict, NotFound, Unauthorized, ValidationFailed
from app.domain.users.values import Role
from tests.unit.fakes import BULK_MAX_PASSWORDS, PASSWORD, Harness


async def test_create_many_names_taken_and_repeated_emails_and_writes_nothing() -> None:
    h = Harness()
    await h.sign_up("taken@example.com")
    items = [
        AdminUserCreate(email=e) for e in ("new@example.com", "TAKEN@example.com", "x@example.com", "X@example.com")
    ]

    with pytest.raises(Conflict) as raised:
        await h.administration.create_many(items)

    assert "taken@example.com" in raised.value.detail
    assert "x@example.com" in raised.value.detail
    assert all(u.email != "new@example.com" for u in h.db.users.values())


async def test_create_many_names_each_invalid_item_by_index() -> None:
    h = Harness()
    items = [AdminUserCreate(email="ok@example.com"), AdminUserCreate(email="bad", password="short")]

    with pytest.raises(ValidationFailed) as raised:
        await h.administration.create_many(items)

    assert {e.field for e in raised.value.errors} == {"items.1.email", "items.1.password"}


async def test_created_passwords_are_hashed_and_absent_ones_block_sign_in() -> None:
    h = Harness()
    await h.administration.create_many(
        [AdminUserCreate(email="a@example.com", password=PASSWORD), AdminUserCreate(email="b@example.com")]
    )

    await h.sign_in("a@example.com")
    with pytest.raises(Unauthorized):
        await h.sign_in("b@example.com")


@pytest.mark.parametrize("without_password", [0, 5])
async def test_create_many_refuses_more_passwords_than_the_limit_before_hashing_any(without_password: int) -> None:
    h = Harness()
    with_password = [AdminUserCreate(email=f"p{i}@example.com", password=PASSWORD) for i in range(BULK_MAX_PASSWORDS)]
    without = [AdminUserCreate(email=f"n{i}@example.com") for i in range(without_password)]

    with pytest.raises(ValidationFailed) as raised:
        await h.administration.create_many(
            [*with_password, *without, AdminUserCreate(email="x@example.com", password=PASSWORD)]
        )

    assert [e.field for e in raised.value.errors] == ["items"]
    assert f"At most {BULK_MAX_PASSWORDS} items" in raised.value.errors[0].message
    assert (h.hasher.hash_calls, h.db.users) == ([], {})

    created = await h.administration.create_many([*with_password, *without])
    assert len(created) == BULK_MAX_PASSWORDS + without_password
    assert len(h.hasher.hash_calls) == BULK_MAX_PASSWORDS


async def test_update_many_names_unknown_ids_and_changes_nothing() -> None:
    h = Harness()
    user = await h.sign_up()
    unknown = uuid.uuid4()

    with pytest.raises(NotFound) as raised:
        await h.administration.update_many(
            [BulkUserUpdate(id=user.id, first_name="Changed"), BulkUserUpdate(id=unknown, first_name="X")]
        )

    assert str(unknown) in raised.value.detail
    assert (await h.administration.get(user.id)).first_name is None


async def test_deactivation_and_deletion_end_sessions() -> None:
    h = Harness()
    user = await h.sign_up()
    first, _ = await h.sign_in()
    await h.administration.update(user.id, AdminUserPatch(is_active=False))
    with pytest.raises(Unauthorized):
        await h.auth_queries.authenticate(first.access_token)

    await h.administration.update(user.id, AdminUserPatch(is_active=True))
    second, _ = await h.sign_in()
    await h.administration.delete(user.id)
    with pytest.raises(Unauthorized):
        await h.auth_queries.authenticate(second.access_token)
    with pytest.raises(NotFound):
        await h.administration.get(user.id)
    assert (await h.administration.get(user.id, include_deleted=True)).email == user.email


async def test_role_change_is_seen_by_the_next_authentication() -> None:
    h = Harness()
    user = await h.sign_up()
    pair, _ = await h.sign_in()

    changed = await h.administration.update(user.id, AdminUserPatch(role=Role.ADMIN))

    assert changed.role is Role.ADMIN
    assert (await h.auth_queries.authenticate(pair.access_token)).user.role is Role.ADMIN
