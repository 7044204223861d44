"""Repositories and the unit of work against real PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
import uuid_utils.compat as uuid_utils

from app.application.ports import DependencyUnavailable
from app.bootstrap import Container, build_container
from app.domain.auth.model import RefreshToken, Session
from app.domain.errors import EmailAlreadyRegistered
from app.domain.users.model import User
from app.domain.users.values import Address
from app.infrastructure.auth_cache import NoPrincipalCache
from app.infrastructure.db.engine import create_session_factory
from app.infrastructure.db.uow import SqlAlchemyUnitOfWork
from tests.conftest import make_settings
from tests.support.factories import build_user

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def new_user(email: str = "ada@example.com") -> User:
    return build_user(email=email, now=NOW)


def new_session(user: User, *, lifetime: timedelta = timedelta(days=1)) -> Session:
    return Session.start(
        id=uuid_utils.uuid7(), user_id=user.id, now=NOW, lifetime=lifetime, user_agent="pytest", ip="127.0.0.1"
    )


def unit_of_work(container: Container) -> SqlAlchemyUnitOfWork:
    return SqlAlchemyUnitOfWork(create_session_factory(container.engine), NoPrincipalCache(), container.relay)


async def persisted(container: Container, user: User, *sessions: Session) -> None:
    async with unit_of_work(container) as uow:
        await uow.users.add(user)
        for session in sessions:
            await uow.sessions.add(session)
        await uow.commit()


async def test_user_round_trip_keeps_every_field(container: Container) -> None:
    user = new_user()
    user.update_profile(
        {
            "first_name": "Ada",
            "phone": "+44 20 7946 0000",
            "address": Address(city="London", country="GB"),
            "meta": {"plan": "pro", "nested": {"a": [1, 2]}},
        },
        NOW,
    )
    await persisted(container, user)

    async with unit_of_work(container) as uow:
        by_id = await uow.users.get(user.id)
        by_email = await uow.users.get_by_email("ADA@example.com")

    assert by_id == user
    assert by_email == user


async def test_uncommitted_work_is_rolled_back(container: Container) -> None:
    user = new_user()
    async with unit_of_work(container) as uow:
        await uow.users.add(user)

    async with unit_of_work(container) as uow:
        assert await uow.users.get(user.id) is None


@pytest.mark.parametrize("second_email", ["ada@example.com", "ADA@Example.COM"])
async def test_taken_email_is_a_domain_conflict(container: Container, second_email: str) -> None:
    await persisted(container, new_user("ada@example.com"))
    duplicate = new_user("ada@example.com")
    duplicate.email = second_email  # as another writer might store it, bypassing normalization

    with pytest.raises(EmailAlreadyRegistered):
        await persisted(container, duplicate)


async def test_concurrent_sign_ups_with_one_email_admit_exactly_one(container: Container) -> None:
    async def attempt() -> bool:
        try:
            await persisted(container, new_user("race@example.com"))
        except EmailAlreadyRegistered:
            return False
        return True

    outcomes = await asyncio.gather(*(attempt() for _ in range(5)))
    assert outcomes.count(True) == 1


async def test_soft_deleted_users_are_invisible(container: Container) -> None:
    user = new_user()
    session = new_session(user)
    user.deleted_at = NOW
    await persisted(container, user, session)

    async with unit_of_work(container) as uow:
        assert await uow.users.get(user.id) is None
        assert await uow.users.get_by_email(user.email) is None
        assert await uow.sessions.get_with_user(session.id) is None


async def test_session_with_user_in_one_lookup(container: Container) -> None:
    user = new_user()
    session = new_session(user)
    await persisted(container, user, session)

    async with unit_of_work(container) as uow:
        found = await uow.sessions.get_with_user(session.id)

    assert found == (session, user)


async def test_revoke_all_keeps_the_named_session(container: Container) -> None:
    user, other = new_user(), new_user("other@example.com")
    kept, revoked = new_session(user), new_session(user)
    others = new_session(other)
    await persisted(container, user, kept, revoked)
    await persisted(container, other, others)
    later = NOW + timedelta(minutes=1)

    async with unit_of_work(container) as uow:
        await uow.sessions.revoke_all([user.id], later, keep=kept.id)
        await uow.commit()

    async with unit_of_work(container) as uow:
        assert [s.id for s in await uow.sessions.list_active(user.id, later)] == [kept.id]
        assert [s.id for s in await uow.sessions.list_active(other.id, later)] == [others.id]


async def test_list_active_leaves_out_expired_and_revoked(container: Container) -> None:
    user = new_user()
    active, expired, revoked = new_session(user), new_session(user, lifetime=timedelta(seconds=1)), new_session(user)
    revoked.revoke(NOW)
    await persisted(container, user, active, expired, revoked)

    async with unit_of_work(container) as uow:
        listed = await uow.sessions.list_active(user.id, NOW + timedelta(minutes=1))

    assert [s.id for s in listed] == [active.id]


async def test_refresh_token_is_spent_once_even_under_concurrency(container: Container) -> None:
    user = new_user()
    session = new_session(user)
    await persisted(container, user, session)
    async with unit_of_work(container) as uow:
        await uow.refresh_tokens.add(RefreshToken(token_hash="h" * 64, session_id=session.id))
        await uow.commit()

    async def spend() -> RefreshToken | None:
        async with unit_of_work(container) as uow:
            token = await uow.refresh_tokens.spend("h" * 64, NOW)
            await uow.commit()
            return token

    results = await asyncio.gather(*(spend() for _ in range(4)))

    fresh = [r for r in results if r is not None and r.spent_at is None]
    reused = [r for r in results if r is not None and r.spent_at is not None]
    assert len(fresh) == 1
    assert len(reused) == 3
    assert all(r.session_id == session.id for r in results if r is not None)


async def test_unknown_refresh_token(container: Container) -> None:
    async with unit_of_work(container) as uow:
        assert await uow.refresh_tokens.spend("0" * 64, NOW) is None


async def test_unreachable_database_is_reported_as_unavailable() -> None:
    """A dead database must surface as DependencyUnavailable (HTTP 503), fast."""
    settings = make_settings("postgresql+asyncpg://app:app@127.0.0.1:9/app", DATABASE_TIMEOUT_SECONDS="0.5")
    container = build_container(settings)
    try:
        async with asyncio.timeout(5):
            with pytest.raises(DependencyUnavailable):
                async with unit_of_work(container) as uow:
                    await uow.users.get(uuid_utils.uuid7())
    finally:
        await container.close()


async def test_the_users_owed_an_email_are_those_registered_in_the_window_without_a_claim(container: Container) -> None:
    """The welcome sweep's query, on SQL: the window's bounds, claims, deactivation and deletion all count."""
    users = [
        build_user(email=f"u{i}@example.com", password_hash=None, now=at)
        for i, at in enumerate(NOW + timedelta(minutes=m) for m in (-1, 0, 1, 2, 3, 4, 5))
    ]
    _before_window, first, claimed, deactivated, deleted, last, _after_window = users
    deactivated.is_active = False
    deleted.deleted_at = NOW
    for user in users:
        await persisted(container, user)
    async with unit_of_work(container) as uow:
        assert await uow.sent_emails.claim(claimed.id, "welcome", NOW)
        assert await uow.sent_emails.claim(last.id, "another kind", NOW)
        await uow.commit()

    async with unit_of_work(container) as uow:
        owed = await uow.sent_emails.owed(
            "welcome", registered_from=NOW, registered_before=NOW + timedelta(minutes=5), limit=10
        )
        assert await uow.sent_emails.owed(
            "welcome", registered_from=NOW, registered_before=NOW + timedelta(minutes=5), limit=1
        ) == [first.id]

    assert owed == [first.id, last.id]
