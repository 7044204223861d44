"""The jobs' use cases over in-memory fakes: the welcome email goes out once, the purge takes only ended sessions."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app.application.auth.dto import ClientInfo
from app.application.ports import DependencyUnavailable
from app.domain.errors import Unauthorized
from tests.unit.fakes import EMAIL, PASSWORD, Harness


@pytest.fixture
def h() -> Harness:
    return Harness()


class TestWelcomeEmail:
    async def test_goes_to_the_new_user_once_however_often_the_job_runs(self, h: Harness) -> None:
        user = await h.sign_up(first_name="Ada")

        assert await h.welcome_emails.send(user.id) is True
        assert await h.welcome_emails.send(user.id) is False
        assert await h.welcome_emails.send(user.id) is False

        (message,) = h.emails.sent
        assert message.to == EMAIL
        assert message.text.startswith("Hello Ada,")
        assert message.reference == f"welcome.{user.id}"
        assert h.db.sent_emails == {(user.id, "welcome"): h.clock.now}

    async def test_a_failed_send_claims_nothing_so_the_retry_sends(self, h: Harness) -> None:
        user = await h.sign_up()
        h.emails.failures = 2

        for _ in range(2):
            with pytest.raises(DependencyUnavailable):
                await h.welcome_emails.send(user.id)
        assert h.db.sent_emails == {}

        assert await h.welcome_emails.send(user.id) is True
        assert await h.welcome_emails.send(user.id) is False
        assert len(h.emails.sent) == 1

    async def test_each_user_gets_their_own(self, h: Harness) -> None:
        ada = await h.sign_up("ada@example.com")
        bob = await h.sign_up("bob@example.com")

        assert await h.welcome_emails.send(ada.id)
        assert await h.welcome_emails.send(bob.id)

        assert [m.to for m in h.emails.sent] == ["ada@example.com", "bob@example.com"]

    async def test_nobody_is_welcomed_once_gone_or_deactivated(self, h: Harness) -> None:
        gone = await h.sign_up("gone@example.com")
        await h.administration.delete(gone.id)
        closed = await h.sign_up("closed@example.com")
        _, principal = await h.sign_in("closed@example.com")
        await h.users.deactivate(principal)

        assert await h.welcome_emails.send(gone.id) is False
        assert await h.welcome_emails.send(closed.id) is False
        assert await h.welcome_emails.send(h.ids()) is False  # never existed
        assert h.emails.sent == []
        assert h.db.sent_emails == {}


class TestOwedWelcomeEmails:
    """The sweep's question: who signed up between a day and ten minutes ago and has no welcome email yet."""

    async def test_are_the_users_past_the_grace_without_one_oldest_first(self, h: Harness) -> None:
        first = await h.sign_up("first@example.com")
        h.clock.advance(timedelta(minutes=1))
        welcomed = await h.sign_up("welcomed@example.com")
        await h.welcome_emails.send(welcomed.id)
        h.clock.advance(timedelta(minutes=1))
        second = await h.sign_up("second@example.com")
        h.clock.advance(timedelta(minutes=11))
        recent = await h.sign_up("recent@example.com")

        assert await h.welcome_emails.owed() == [first.id, second.id]  # not welcomed, not recent
        h.clock.advance(timedelta(minutes=11))
        assert await h.welcome_emails.owed() == [first.id, second.id, recent.id]

    @pytest.mark.parametrize(("age", "owed"), [(timedelta(minutes=9), False), (timedelta(hours=23), True),
                                               (timedelta(days=1, minutes=1), False)])  # fmt: skip
    async def test_only_within_the_window(self, h: Harness, age: timedelta, owed: bool) -> None:
        user = await h.sign_up()
        h.clock.advance(age)
        assert await h.welcome_emails.owed() == ([user.id] if owed else [])

    async def test_leave_out_users_who_are_gone(self, h: Harness) -> None:
        await h.sign_up()
        _, principal = await h.sign_in()
        await h.users.deactivate(principal)
        h.clock.advance(timedelta(hours=1))
        assert await h.welcome_emails.owed() == []


class TestSessionPurge:
    async def test_deletes_sessions_ended_over_an_hour_ago_with_their_tokens_and_nothing_else(self, h: Harness) -> None:
        await h.sign_up()
        for _ in range(3):  # three sessions that will expire: more than one batch (2)
            await h.sign_in()
        h.clock.advance(timedelta(days=7))
        _, revoked = await h.sign_in()
        await h.auth.logout(revoked)
        live, _ = await h.sign_in()
        refreshed = await h.auth.refresh(live.refresh_token)  # spends a token, which must stay for reuse detection
        h.clock.advance(h.policy.refresh_ttl - timedelta(days=7) + timedelta(hours=1, seconds=1))

        assert await h.session_purge.purge() == 4

        assert set(h.db.sessions) == {live.session_id}
        assert {t.session_id for t in h.db.refresh_tokens.values()} == {live.session_id}
        assert len(h.db.refresh_tokens) == 2
        assert await h.session_purge.purge() == 0
        # The live session still works, and its spent token is still recognised as reuse.
        await h.auth.refresh(refreshed.refresh_token)
        with pytest.raises(Unauthorized, match="reuse"):
            await h.auth.refresh(live.refresh_token)

    async def test_keeps_a_session_for_an_hour_after_it_ended(self, h: Harness) -> None:
        await h.sign_up()
        pair, principal = await h.sign_in()
        await h.auth.logout(principal)

        h.clock.advance(timedelta(minutes=59))
        assert await h.session_purge.purge() == 0
        with pytest.raises(Unauthorized, match="no longer valid"):  # still found: the precise answer
            await h.auth.refresh(pair.refresh_token)

        h.clock.advance(timedelta(minutes=2))
        assert await h.session_purge.purge() == 1
        assert h.db.sessions == {}

    async def test_users_are_left_alone(self, h: Harness) -> None:
        user = await h.sign_up()
        await h.auth.issue_tokens(EMAIL, PASSWORD, ClientInfo())
        h.clock.advance(h.policy.refresh_ttl + timedelta(hours=2))

        assert await h.session_purge.purge() == 1
        assert list(h.db.users) == [user.id]
