"""Email verification and password reset over in-memory fakes: links, single use, expiry, what a reset ends."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import timedelta

import pytest

from app.application.notifications import EmailMessage
from app.domain.auth.model import TokenPurpose
from app.domain.errors import Conflict, EmailNotVerified, Unauthorized, ValidationFailed
from tests.unit.fakes import EMAIL, LINKS, PASSWORD, POLICY, Harness

NEW_PASSWORD = "a brand new passphrase"
LINK = re.compile(r"(https://app\.example/(?:verify-email|reset-password))\?token=([A-Za-z0-9_-]+)\n")


@pytest.fixture
def h() -> Harness:
    return Harness()


def token_in(message: EmailMessage, path: str) -> str:
    """The token of the message's link, checking that text and HTML carry the same link."""
    match = LINK.search(message.text)
    assert match is not None, message.text
    assert match.group(1) == f"{LINKS.public_url}{path}"
    token = match.group(2)
    assert len(token) >= 32
    assert f'href="{match.group(0).strip()}"' in message.html
    return token


def field_of(error: pytest.ExceptionInfo[ValidationFailed]) -> list[str]:
    return [item.field for item in error.value.errors]


async def reset_token(h: Harness, email: str = EMAIL) -> str:
    """Request a reset and run its job, as the worker would; the token from the email."""
    await h.lifecycle.request_password_reset(email)
    requested_email, request_id = h.email_jobs.resets[-1]
    assert await h.lifecycle.send_password_reset(requested_email, request_id) is True
    return token_in(h.emails.sent[-1], "/reset-password")


class TestEmailVerification:
    async def test_the_welcome_email_carries_a_link_that_verifies_once(self, h: Harness) -> None:
        user = await h.sign_up()
        assert await h.welcome_emails.send(user.id)
        token = token_in(h.emails.sent[0], "/verify-email")
        assert user.email_verified is False

        verified = await h.lifecycle.confirm_email_verification(token)

        assert verified.email_verified is True
        assert h.db.user_by_email(EMAIL).email_verified is True
        with pytest.raises(ValidationFailed) as again:
            await h.lifecycle.confirm_email_verification(token)
        assert field_of(again) == ["token"]

    async def test_only_the_hash_of_a_token_is_stored(self, h: Harness) -> None:
        user = await h.sign_up()
        await h.welcome_emails.send(user.id)
        token = token_in(h.emails.sent[0], "/verify-email")

        (stored,) = h.db.account_tokens.values()
        assert token not in repr(stored)
        assert stored.purpose is TokenPurpose.EMAIL_VERIFICATION

    async def test_a_resend_mails_a_fresh_link_and_the_earlier_one_stays_valid(self, h: Harness) -> None:
        user = await h.sign_up()
        await h.welcome_emails.send(user.id)
        _, principal = await h.sign_in()

        await h.lifecycle.request_email_verification(principal)
        ((user_id, request_id),) = h.email_jobs.verifications
        assert await h.lifecycle.send_email_verification(user_id, request_id) is True
        assert await h.lifecycle.send_email_verification(user_id, request_id) is False  # once per request

        first, second = (token_in(m, "/verify-email") for m in h.emails.sent)
        assert first != second
        assert (await h.lifecycle.confirm_email_verification(first)).email_verified
        with pytest.raises(Conflict):
            await h.lifecycle.request_email_verification(principal)

    async def test_an_expired_link_is_refused(self, h: Harness) -> None:
        user = await h.sign_up()
        await h.welcome_emails.send(user.id)
        token = token_in(h.emails.sent[0], "/verify-email")

        h.clock.advance(LINKS.ttls[TokenPurpose.EMAIL_VERIFICATION])

        with pytest.raises(ValidationFailed) as expired:
            await h.lifecycle.confirm_email_verification(token)
        assert field_of(expired) == ["token"]

    async def test_a_reset_token_does_not_verify_an_address(self, h: Harness) -> None:
        await h.sign_up()
        token = await reset_token(h)

        with pytest.raises(ValidationFailed):
            await h.lifecycle.confirm_email_verification(token)


class TestPasswordReset:
    @pytest.mark.parametrize("email", ["nobody@example.com", "not an email", ""])
    async def test_a_request_is_only_enqueued_and_an_unknown_address_gets_nothing(self, h: Harness, email: str) -> None:
        await h.lifecycle.request_password_reset(email)

        ((requested, request_id),) = h.email_jobs.resets
        assert await h.lifecycle.send_password_reset(requested, request_id) is False
        assert h.emails.sent == []
        assert h.db.account_tokens == {}

    async def test_a_deactivated_account_gets_nothing(self, h: Harness) -> None:
        await h.sign_up()
        _, principal = await h.sign_in()
        await h.users.deactivate(principal)

        await h.lifecycle.request_password_reset(EMAIL)
        ((requested, request_id),) = h.email_jobs.resets
        assert await h.lifecycle.send_password_reset(requested, request_id) is False
        assert h.emails.sent == []

    async def test_the_email_goes_out_once_per_request_however_often_the_job_runs(self, h: Harness) -> None:
        await h.sign_up()
        await h.lifecycle.request_password_reset(" Ada@Example.COM ")
        ((requested, request_id),) = h.email_jobs.resets
        assert requested == EMAIL

        results = [await h.lifecycle.send_password_reset(requested, request_id) for _ in range(3)]

        assert results == [True, False, False]
        (message,) = h.emails.sent
        assert message.reference == f"password_reset.{request_id}"

    async def test_confirming_sets_the_password_spends_every_reset_link_and_ends_every_session(
        self, h: Harness
    ) -> None:
        await h.sign_up()
        pair, _ = await h.sign_in()
        first, second = await reset_token(h), await reset_token(h)

        await h.lifecycle.confirm_password_reset(first, NEW_PASSWORD)

        with pytest.raises(Unauthorized):
            await h.auth_queries.authenticate(pair.access_token)
        with pytest.raises(Unauthorized):
            await h.auth.refresh(pair.refresh_token)
        with pytest.raises(Unauthorized):
            await h.sign_in(password=PASSWORD)
        await h.sign_in(password=NEW_PASSWORD)
        for spent in (first, second):
            with pytest.raises(ValidationFailed) as again:
                await h.lifecycle.confirm_password_reset(spent, "yet another passphrase")
            assert field_of(again) == ["token"]

    @pytest.mark.parametrize("weak", ["short", "", "x" * 129])
    async def test_a_weak_password_names_new_password_and_leaves_the_token_usable(self, h: Harness, weak: str) -> None:
        await h.sign_up()
        token = await reset_token(h)

        with pytest.raises(ValidationFailed) as weak_error:
            await h.lifecycle.confirm_password_reset(token, weak)

        assert field_of(weak_error) == ["new_password"]
        await h.lifecycle.confirm_password_reset(token, NEW_PASSWORD)

    @pytest.mark.parametrize("token", ["", "unknown", "x" * 43])
    async def test_an_unknown_token_names_token(self, h: Harness, token: str) -> None:
        await h.sign_up()
        with pytest.raises(ValidationFailed) as unknown:
            await h.lifecycle.confirm_password_reset(token, NEW_PASSWORD)
        assert field_of(unknown) == ["token"]

    async def test_an_expired_link_is_refused(self, h: Harness) -> None:
        await h.sign_up()
        token = await reset_token(h)
        h.clock.advance(LINKS.ttls[TokenPurpose.PASSWORD_RESET] + timedelta(seconds=1))

        with pytest.raises(ValidationFailed):
            await h.lifecycle.confirm_password_reset(token, NEW_PASSWORD)

    async def test_a_password_change_spends_outstanding_reset_links(self, h: Harness) -> None:
        await h.sign_up()
        _, principal = await h.sign_in()
        token = await reset_token(h)

        await h.users.change_password(principal, PASSWORD, NEW_PASSWORD)

        with pytest.raises(ValidationFailed):
            await h.lifecycle.confirm_password_reset(token, "yet another passphrase")

    async def test_a_link_of_an_account_deactivated_since_is_refused(self, h: Harness) -> None:
        await h.sign_up()
        _, principal = await h.sign_in()
        token = await reset_token(h)
        await h.users.deactivate(principal)

        with pytest.raises(ValidationFailed):
            await h.lifecycle.confirm_password_reset(token, NEW_PASSWORD)


class TestRequireVerifiedEmail:
    @pytest.fixture
    def strict(self) -> Harness:
        return Harness(policy=replace(POLICY, require_verified_email=True))

    async def test_the_right_password_of_an_unverified_address_is_refused_as_such(self, strict: Harness) -> None:
        user = await strict.sign_up()

        with pytest.raises(EmailNotVerified):
            await strict.sign_in()
        with pytest.raises(Unauthorized):  # a wrong password learns nothing about verification
            await strict.sign_in(password="not the password")

        await strict.welcome_emails.send(user.id)
        await strict.lifecycle.confirm_email_verification(token_in(strict.emails.sent[0], "/verify-email"))
        await strict.sign_in()

    async def test_off_by_default(self, h: Harness) -> None:
        await h.sign_up()
        await h.sign_in()
