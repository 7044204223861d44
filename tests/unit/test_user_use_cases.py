"""UserCommands and get_me over in-memory fakes: registration and self-service."""

from __future__ import annotations

from datetime import date, timedelta

import msgspec
import pytest

from app.application.auth.dto import ClientInfo
from app.application.users.dto import UserRead
from app.application.users.queries import get_me
from app.domain.errors import EmailAlreadyRegistered, Unauthorized, ValidationFailed
from app.domain.users.values import PASSWORD_MAX_LENGTH, Address, Role
from tests.unit.fakes import EMAIL, PASSWORD, Harness

NEW_PASSWORD = "a brand new passphrase"


@pytest.fixture
def h() -> Harness:
    return Harness()


def _fields(error: ValidationFailed) -> list[str]:
    return [e.field for e in error.errors]


async def _cannot_sign_in(h: Harness, password: str = PASSWORD) -> None:
    with pytest.raises(Unauthorized):
        await h.auth.issue_tokens(EMAIL, password, ClientInfo())


class TestSignUp:
    async def test_registers_an_active_user_with_a_lower_cased_email(self, h: Harness) -> None:
        user = await h.users.sign_up(" Ada@Example.COM ", PASSWORD, {"first_name": "Ada", "last_name": "Lovelace"})

        assert (user.email, user.first_name, user.last_name) == (EMAIL, "Ada", "Lovelace")
        assert (user.role, user.is_active) == (Role.USER, True)
        assert user.created_at == user.updated_at == h.clock.now
        _, principal = await h.sign_in()
        assert principal.user_id == user.id

    async def test_stores_a_hash_and_never_returns_it(self, h: Harness) -> None:
        user = await h.sign_up()

        assert h.db.user_by_email(EMAIL).password_hash == await h.hasher.hash(PASSWORD)
        assert "password_hash" not in msgspec.to_builtins(user)
        assert PASSWORD not in msgspec.json.encode(user).decode()

    async def test_reports_a_bad_email_and_a_short_password_together(self, h: Harness) -> None:
        """One round trip tells the client everything wrong with the form."""
        with pytest.raises(ValidationFailed) as failed:
            await h.users.sign_up("not-an-email", "short", {})

        assert _fields(failed.value) == ["email", "password"]
        assert all(e.message for e in failed.value.errors)
        assert h.db.users == {}

    @pytest.mark.parametrize(
        ("length", "accepted"),
        [(PASSWORD_MAX_LENGTH, True), (PASSWORD_MAX_LENGTH + 1, False)],
        ids=["128", "129"],
    )
    async def test_password_length_limit(self, h: Harness, length: int, accepted: bool) -> None:
        password = "p" * length
        if accepted:
            await h.sign_up(password=password)
            await h.sign_in(password=password)
            return
        with pytest.raises(ValidationFailed) as failed:
            await h.sign_up(password=password)
        assert _fields(failed.value) == ["password"]

    @pytest.mark.parametrize("again", [EMAIL, "ADA@example.com"])
    async def test_a_taken_email_is_a_conflict(self, h: Harness, again: str) -> None:
        first = await h.sign_up()

        with pytest.raises(EmailAlreadyRegistered):
            await h.sign_up(again, "another password")

        assert list(h.db.users) == [first.id]
        await h.sign_in()  # the first owner's password is untouched


class TestGetMe:
    async def test_is_the_authenticated_user(self, h: Harness) -> None:
        user = await h.sign_up(first_name="Ada")
        _, principal = await h.sign_in()
        assert get_me(principal) == user


async def _profile(h: Harness) -> UserRead:
    """The profile as the next request would see it."""
    return get_me((await h.sign_in())[1])


class TestUpdateProfile:
    async def test_returns_the_changes_and_leaves_absent_fields_alone(self, h: Harness) -> None:
        await h.sign_up(first_name="Ada", last_name="Lovelace")
        _, principal = await h.sign_in()
        h.clock.advance(timedelta(minutes=5))

        updated = await h.users.update_profile(
            principal, {"phone": "+44 20 7946 0000", "birthday": date(1815, 12, 10), "address": Address(city="London")}
        )

        assert (updated.first_name, updated.last_name) == ("Ada", "Lovelace")
        assert (updated.phone, updated.birthday) == ("+44 20 7946 0000", date(1815, 12, 10))
        assert updated.address is not None
        assert updated.address.city == "London"
        assert updated.updated_at == h.clock.now
        assert await _profile(h) == updated

    async def test_null_clears_a_field(self, h: Harness) -> None:
        await h.sign_up(first_name="Ada", last_name="Lovelace")
        _, principal = await h.sign_in()

        updated = await h.users.update_profile(principal, {"last_name": None})

        assert (updated.first_name, updated.last_name) == ("Ada", None)
        assert await _profile(h) == updated

    async def test_no_real_change_keeps_updated_at(self, h: Harness) -> None:
        user = await h.sign_up(first_name="Ada")
        _, principal = await h.sign_in()
        h.clock.advance(timedelta(minutes=5))

        updated = await h.users.update_profile(principal, {"first_name": "Ada"})

        assert updated.updated_at == user.updated_at


class TestChangePassword:
    async def test_wrong_current_password_names_that_field_and_changes_nothing(self, h: Harness) -> None:
        await h.sign_up()
        _, principal = await h.sign_in()

        with pytest.raises(ValidationFailed) as failed:
            await h.users.change_password(principal, "not the password", NEW_PASSWORD)

        assert _fields(failed.value) == ["current_password"]
        await h.sign_in()
        await _cannot_sign_in(h, NEW_PASSWORD)

    async def test_short_new_password_names_that_field(self, h: Harness) -> None:
        await h.sign_up()
        _, principal = await h.sign_in()

        with pytest.raises(ValidationFailed) as failed:
            await h.users.change_password(principal, PASSWORD, "short")

        assert _fields(failed.value) == ["new_password"]
        await h.sign_in()

    async def test_replaces_the_password_and_signs_out_other_devices_only(self, h: Harness) -> None:
        await h.sign_up()
        other, _ = await h.sign_in()
        current, principal = await h.sign_in()

        await h.users.change_password(principal, PASSWORD, NEW_PASSWORD)

        await h.auth_queries.authenticate(current.access_token)
        await h.auth.refresh(current.refresh_token)
        with pytest.raises(Unauthorized):
            await h.auth_queries.authenticate(other.access_token)
        await _cannot_sign_in(h, PASSWORD)
        await h.sign_in(password=NEW_PASSWORD)


class TestDeactivate:
    async def test_ends_every_session_and_blocks_sign_in(self, h: Harness) -> None:
        await h.sign_up()
        other, _ = await h.sign_in()
        current, principal = await h.sign_in()

        await h.users.deactivate(principal)

        assert await h.auth_queries.list_sessions(principal) == []  # reactivation would not revive them
        for pair in (current, other):
            with pytest.raises(Unauthorized):
                await h.auth_queries.authenticate(pair.access_token)
            with pytest.raises(Unauthorized):
                await h.auth.refresh(pair.refresh_token)
        await _cannot_sign_in(h)


class TestCreateAdmin:
    async def test_creates_an_admin_who_can_sign_in(self, h: Harness) -> None:
        admin, created = await h.users.create_admin("Root@Example.com", PASSWORD)

        assert created
        assert (admin.email, admin.role, admin.is_active) == ("root@example.com", Role.ADMIN, True)
        _, principal = await h.sign_in("root@example.com")
        assert principal.user.role is Role.ADMIN

    async def test_promotes_an_existing_user_keeping_their_password(self, h: Harness) -> None:
        user = await h.sign_up(first_name="Ada")

        admin, created = await h.users.create_admin("ADA@example.com", NEW_PASSWORD)

        assert not created
        assert (admin.id, admin.role, admin.first_name) == (user.id, Role.ADMIN, "Ada")
        assert list(h.db.users) == [user.id]
        _, principal = await h.sign_in()
        assert principal.user.role is Role.ADMIN
        await _cannot_sign_in(h, NEW_PASSWORD)

    async def test_reports_a_bad_email_and_a_short_password_together(self, h: Harness) -> None:
        with pytest.raises(ValidationFailed) as failed:
            await h.users.create_admin("root", "short")
        assert _fields(failed.value) == ["email", "password"]
