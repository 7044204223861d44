"""A user's fields are written once per layer; these tests hold the layers to one list.

The entity (domain), the table (``models``), the response body (``UserRead``) and the gRPC
message each declare the fields they carry, and every conversion between them goes by name
(``app.infrastructure.db.mapping``, ``UserRead.from_entity``). A field added to one layer
and forgotten in another fails here, not as a silently missing value at run time.
"""

from __future__ import annotations

from dataclasses import fields
from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace
from typing import Any
from uuid import UUID

import msgspec
import pytest
from sqlalchemy.orm import DeclarativeBase

from app.application.auth.dto import SessionRead
from app.application.tasks.dto import TaskRead
from app.application.users.dto import AddressBody, AddressRead, AdminUserCreate, UserRead
from app.domain.auth.model import AccountToken, ApiKey, RefreshToken, Session, TokenPurpose
from app.domain.organizations.membership import Membership
from app.domain.organizations.model import Invitation, Organization
from app.domain.tasks.model import Task
from app.domain.tasks.values import TaskPriority, TaskStatus
from app.domain.users.model import PROFILE_FIELDS, User
from app.domain.users.values import Address, Role
from app.infrastructure.db.mapping import from_row, to_row
from app.infrastructure.db.models import AccountTokenModel, ApiKeyModel, RefreshTokenModel, SessionModel, UserModel
from app.infrastructure.db.organizations.models import InvitationModel, MembershipModel, OrganizationModel
from app.infrastructure.db.tasks.models import TaskModel
from app.interfaces.grpc.v1 import users_pb2

#: What an entity holds that is no column: the events it has yet to hand to the unit of work.
NOT_STORED = {"_events"}
#: What a user's body leaves out: the hash is never shown, a deleted user is never shown.
NOT_SHOWN = {"password_hash", "deleted_at", "_events"}
NOW = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)


def _names(entity: type[Any]) -> set[str]:
    return {field.name for field in fields(entity)}


def _columns(model: type[DeclarativeBase]) -> set[str]:
    # advanced-alchemy's bases add a sentinel column for SQLAlchemy's bulk inserts.
    return set(model.__table__.columns.keys()) - {"sa_orm_sentinel"}


@pytest.mark.parametrize(
    ("entity", "model"),
    [
        (User, UserModel),
        (Session, SessionModel),
        (ApiKey, ApiKeyModel),
        (RefreshToken, RefreshTokenModel),
        (AccountToken, AccountTokenModel),
        (Organization, OrganizationModel),
        (Membership, MembershipModel),
        (Invitation, InvitationModel),
        (Task, TaskModel),
    ],
)
def test_every_stored_field_of_an_entity_is_a_column_of_its_table(
    entity: type[Any], model: type[DeclarativeBase]
) -> None:
    assert _names(entity) - NOT_STORED == _columns(model)


def test_the_user_body_and_message_carry_the_entity_s_fields_but_the_hidden_ones() -> None:
    shown = _names(User) - NOT_SHOWN
    assert set(UserRead.__struct_fields__) == shown
    assert {field.name for field in users_pb2.User.DESCRIPTOR.fields} == shown


def test_the_task_body_carries_the_entity_s_fields_but_its_deletion() -> None:
    assert set(TaskRead.__struct_fields__) == _names(Task) - {"deleted_at", "_events"}


def test_a_task_comes_back_from_its_row_as_it_went_in() -> None:
    task = Task.create(
        id=UUID(int=3),
        organization_id=UUID(int=4),
        created_by=UUID(int=5),
        now=NOW,
        fields={"title": "T", "status": TaskStatus.DONE, "priority": TaskPriority.URGENT, "assignee_id": UUID(int=6),
                "due_at": NOW + timedelta(days=1), "tags": ("a", "b"), "meta": {"k": [1, "x"]}},
    )  # fmt: skip
    task.pull_events()
    row = to_row(task, tuple(_columns(TaskModel)))
    assert type(row["status"]) is str
    assert from_row(SimpleNamespace(**row), Task) == task


def test_an_address_has_one_field_list_in_every_layer() -> None:
    names = _names(Address)
    assert set(AddressRead.__struct_fields__) == names
    assert set(AddressBody.__struct_fields__) == names
    assert {field.name for field in users_pb2.Address.DESCRIPTOR.fields} == names


def test_a_session_body_shows_the_session_and_whether_it_is_the_caller_s() -> None:
    assert set(SessionRead.__struct_fields__) == _names(Session) - {"user_id", "revoked_at"} | {"current"}


def _user(**changes: Any) -> User:
    return User(
        id=UUID(int=1),
        email="ada@example.com",
        password_hash="hash",
        created_at=NOW,
        updated_at=NOW + timedelta(seconds=1),
        **changes,
    )


@pytest.mark.parametrize(
    "user",
    [
        _user(),
        _user(
            first_name="Ada",
            last_name="Lovelace",
            phone="+44 20 1234",
            birthday=date(1815, 12, 10),
            photo_url="https://example.com/ada.png",
            address=Address(street="1 St James's Square", city="London", country="GB"),
            meta={"nested": {"list": [1, 2.5, None, True, "x"]}},
            role=Role.ADMIN,
            is_active=False,
            email_verified=True,
            deleted_at=NOW + timedelta(days=1),
        ),
    ],
    ids=["bare", "every-field"],
)
def test_a_user_comes_back_from_its_row_as_it_went_in(user: User) -> None:
    row = to_row(user, tuple(_columns(UserModel)))
    # What the table takes: JSON objects for value objects, strings for enums.
    assert row["address"] is None or isinstance(row["address"], dict)
    assert type(row["role"]) is str
    assert from_row(SimpleNamespace(**row), User) == user


def test_a_session_comes_back_from_its_row_as_it_went_in() -> None:
    session = Session.start(
        id=UUID(int=2), user_id=UUID(int=1), now=NOW, lifetime=timedelta(days=1), user_agent="curl", ip="::1"
    )
    session.revoke(NOW)
    assert from_row(SimpleNamespace(**to_row(session, tuple(_columns(SessionModel)))), Session) == session


def test_an_account_token_goes_to_its_row_with_its_purpose_as_the_string_the_table_checks() -> None:
    token = AccountToken(
        id=UUID(int=3),
        user_id=UUID(int=1),
        purpose=TokenPurpose.PASSWORD_RESET,
        token_hash="h" * 64,
        created_at=NOW,
        expires_at=NOW + timedelta(hours=1),
    )
    row = to_row(token, tuple(_columns(AccountTokenModel)))
    assert row["purpose"] == "password_reset"
    assert type(row["purpose"]) is str
    assert from_row(SimpleNamespace(**row), AccountToken) == token


def test_an_admin_created_user_s_profile_is_every_profile_field_of_the_body() -> None:
    body = msgspec.convert(
        {"email": "ada@example.com", "first_name": "Ada", "address": {"city": "London"}, "meta": {"a": 1}},
        AdminUserCreate,
    )
    profile = body.profile()
    assert set(profile) == PROFILE_FIELDS
    assert profile["first_name"] == "Ada"
    assert profile["address"] == Address(city="London")
    assert profile["meta"] == {"a": 1}
