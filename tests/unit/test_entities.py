"""The User and Session entities: the rules that hold whatever the use case or storage."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest

from app.domain.auth.model import Session
from app.domain.users.model import User
from app.domain.users.values import Address, Email, Role

T0 = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
LATER = T0 + timedelta(hours=1)
LIFETIME = timedelta(days=14)


def _user(**overrides: Any) -> User:
    fields: dict[str, Any] = {"email": "ada@example.com", "password_hash": "hash", "created_at": T0, "updated_at": T0}
    return User(**{"id": UUID(int=1), **fields, **overrides})


def _session(**overrides: Any) -> Session:
    session = Session.start(id=UUID(int=2), user_id=UUID(int=1), now=T0, lifetime=LIFETIME, user_agent="ua", ip="::1")
    for name, value in overrides.items():
        setattr(session, name, value)
    return session


class TestUser:
    def test_register_stores_the_normalized_email_and_starts_active_as_a_user(self) -> None:
        user = User.register(id=UUID(int=1), email=Email("Ada@Example.COM"), password_hash="h", now=T0)

        assert user.email == "ada@example.com"
        assert (user.role, user.is_active, user.deleted_at) == (Role.USER, True, None)
        assert user.created_at == user.updated_at == T0
        assert user.meta == {}

    def test_register_applies_the_profile_and_role(self) -> None:
        user = User.register(
            id=UUID(int=1),
            email=Email("ada@example.com"),
            password_hash=None,
            now=T0,
            role=Role.ADMIN,
            profile={"first_name": "Ada", "birthday": date(1815, 12, 10)},
        )

        assert (user.first_name, user.birthday, user.role) == ("Ada", date(1815, 12, 10), Role.ADMIN)

    def test_meta_is_not_shared_between_users(self) -> None:
        """A mutable default shared by every instance would leak one user's meta into another's."""
        first, second = _user(), _user(id=UUID(int=9))
        first.meta["plan"] = "pro"
        assert second.meta == {}

    def test_update_profile_returns_only_what_really_changed(self) -> None:
        user = _user(first_name="Ada")

        changed = user.update_profile(
            {"first_name": "Ada", "last_name": "Lovelace", "address": Address(city="London")}, LATER
        )

        assert sorted(changed) == ["address", "last_name"]
        assert (user.first_name, user.last_name, user.address) == ("Ada", "Lovelace", Address(city="London"))
        assert user.updated_at == LATER

    def test_update_profile_without_a_real_change_keeps_updated_at(self) -> None:
        user = _user(first_name="Ada")
        assert user.update_profile({"first_name": "Ada", "meta": {}}, LATER) == []
        assert user.updated_at == T0

    def test_update_profile_can_clear_a_field(self) -> None:
        user = _user(phone="+44 20 7946 0000")
        assert user.update_profile({"phone": None}, LATER) == ["phone"]
        assert user.phone is None

    @pytest.mark.parametrize("name", ["email", "role", "is_active", "password_hash", "id", "deleted_at"])
    def test_update_profile_refuses_what_is_not_profile(self, name: str) -> None:
        """Self-service must not be a way to change one's role, email or password hash."""
        user = _user()
        before = getattr(user, name)
        with pytest.raises(ValueError, match=name):
            user.update_profile({name: "changed", "first_name": "Ada"}, LATER)
        assert getattr(user, name) == before
        assert user.first_name is None

    @pytest.mark.parametrize(
        ("overrides", "can_sign_in"),
        [
            pytest.param({}, True, id="active-with-password"),
            pytest.param({"password_hash": None}, False, id="no-password"),
            pytest.param({"is_active": False}, False, id="deactivated"),
            pytest.param({"deleted_at": T0}, False, id="deleted"),
        ],
    )
    def test_who_can_sign_in(self, overrides: dict[str, Any], can_sign_in: bool) -> None:
        assert _user(**overrides).can_sign_in is can_sign_in

    def test_change_password_replaces_the_hash(self) -> None:
        user = _user()
        user.change_password("new-hash", LATER)
        assert (user.password_hash, user.updated_at) == ("new-hash", LATER)

    @pytest.mark.parametrize(
        ("act", "attribute", "expected"),
        [
            pytest.param(User.promote_to_admin, "role", Role.ADMIN, id="promote"),
            pytest.param(User.deactivate, "is_active", False, id="deactivate"),
        ],
    )
    def test_state_changes_are_idempotent(
        self, act: Callable[[User, datetime], None], attribute: str, expected: object
    ) -> None:
        """Doing it again changes nothing, not even ``updated_at``."""
        user = _user()

        act(user, LATER)
        assert (getattr(user, attribute), user.updated_at) == (expected, LATER)

        act(user, LATER + timedelta(hours=1))
        assert (getattr(user, attribute), user.updated_at) == (expected, LATER)


class TestSession:
    def test_start_lasts_the_lifetime(self) -> None:
        session = _session()
        assert session.created_at == session.last_used_at == T0
        assert session.expires_at == T0 + LIFETIME
        assert (session.user_agent, session.ip, session.revoked_at) == ("ua", "::1", None)

    @pytest.mark.parametrize(
        ("at", "active"),
        [
            pytest.param(T0, True, id="at-start"),
            pytest.param(T0 + LIFETIME - timedelta(microseconds=1), True, id="just-before-expiry"),
            pytest.param(T0 + LIFETIME, False, id="at-expiry"),
        ],
    )
    def test_is_active_until_it_expires(self, at: datetime, active: bool) -> None:
        assert _session().is_active(at) is active

    def test_a_revoked_session_is_not_active(self) -> None:
        session = _session()
        session.revoke(LATER)
        assert not session.is_active(LATER)

    def test_revoking_again_keeps_the_first_revocation_time(self) -> None:
        session = _session()
        session.revoke(LATER)
        session.revoke(LATER + timedelta(hours=1))
        assert session.revoked_at == LATER

    def test_extend_slides_the_expiry_from_now(self) -> None:
        session = _session()
        used = T0 + LIFETIME - timedelta(minutes=1)

        session.extend(used, LIFETIME)

        assert (session.last_used_at, session.expires_at) == (used, used + LIFETIME)
        assert session.is_active(T0 + LIFETIME + timedelta(days=1))
