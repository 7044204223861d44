"""Invitations end to end: the token read from the email the SMTP server received, accepted once by its addressee.

The API runs in-process with its lifespan and without Redis, so the invitation's job runs
in the API process, as in embedded mode; the mail goes to a real SMTP server (``smtp``).
"""

from __future__ import annotations

import asyncio
import email.message
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
from httpx import ASGITransport, AsyncClient
from sqlalchemy import select, update

from app.bootstrap import Container, build_container
from app.infrastructure.db.organizations.models import InvitationModel
from app.interfaces.http.app import create_app
from tests.conftest import make_settings
from tests.e2e.helpers import assert_problem, bearer, error_fields, registered
from tests.e2e.tenancy import ACCEPT, ORGS, add_member, events, new_organization, user_id
from tests.support.smtp import SmtpSink

PUBLIC_URL = "https://teams.example.org/app"
LINK = re.compile(re.escape(PUBLIC_URL) + r"/accept-invitation\?token=([A-Za-z0-9_-]+)")
SUBJECT = "You are invited to "
MAIL_WITHIN_SECONDS = 30.0

Api = tuple[Container, AsyncClient]


@asynccontextmanager
async def mailing_api(database_url: str, smtp: SmtpSink, **overrides: str) -> AsyncIterator[Api]:
    settings = make_settings(
        database_url, SMTP_URL=smtp.url, PUBLIC_URL=PUBLIC_URL, JOB_RETRY_BASE_SECONDS="0.1", **overrides
    )
    container = build_container(settings)
    app = create_app(settings, container)
    async with app.lifespan():
        transport = ASGITransport(app=app)  # type: ignore[arg-type]  # see tests/conftest.py
        async with AsyncClient(transport=transport, base_url="http://testserver.local") as client:
            yield container, client


async def acme(client: AsyncClient) -> tuple[dict[str, Any], dict[str, Any]]:
    """An organization's owner's tokens, and the organization."""
    owner = await registered(client, "owner@example.com")
    return owner, await new_organization(client, owner, "Acme")


def invitations_to(smtp: SmtpSink, address: str) -> list[email.message.EmailMessage]:
    return [m for m in smtp.messages if m["To"] == address and str(m["Subject"]).startswith(SUBJECT)]


async def emailed_token(smtp: SmtpSink, address: str, count: int = 1) -> str:
    """The token of the ``count``-th invitation emailed to ``address``, once it arrived."""
    for _ in range(round(MAIL_WITHIN_SECONDS / 0.05)):
        if len(invitations_to(smtp, address)) >= count:
            break
        await smtp.wait_for(len(smtp.messages) + 1, within=0.05)
    message = invitations_to(smtp, address)[count - 1]
    text, html = message.get_body(("plain",)), message.get_body(("html",))
    assert text is not None
    assert html is not None
    found = LINK.search(text.get_content())
    assert found is not None, text.get_content()
    assert f'href="{found.group(0)}"' in html.get_content()
    assert "Acme" in str(message["Subject"])
    return found.group(1)


async def invite(
    client: AsyncClient, tokens: dict[str, Any], org: dict[str, Any], address: str, role: str = "member"
) -> Any:
    return await client.post(
        f"{ORGS}/{org['id']}/invitations", json={"email": address, "role": role}, headers=bearer(tokens)
    )


async def invited(
    client: AsyncClient, tokens: dict[str, Any], org: dict[str, Any], address: str, role: str = "member"
) -> dict[str, Any]:
    response = await invite(client, tokens, org, address, role)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def accept(client: AsyncClient, tokens: dict[str, Any], token: str) -> Any:
    return await client.post(ACCEPT, json={"token": token}, headers=bearer(tokens))


async def test_an_invitation_is_emailed_once_and_accepted_once(database_url: str, smtp: SmtpSink) -> None:
    async with mailing_api(database_url, smtp) as (container, client):
        owner, org = await acme(client)

        invitation = await invited(client, owner, org, "Bob@Example.com", "admin")
        token = await emailed_token(smtp, "bob@example.com")

        assert set(invitation) == {"id", "organization_id", "email", "role", "created_at", "expires_at"}
        assert (invitation["organization_id"], invitation["email"], invitation["role"]) == (
            org["id"],
            "bob@example.com",
            "admin",
        )
        lifetime = datetime.fromisoformat(invitation["expires_at"]) - datetime.fromisoformat(invitation["created_at"])
        assert lifetime == timedelta(days=7)
        async with container.engine.connect() as connection:
            stored = (await connection.scalars(select(InvitationModel.token_hash))).all()
        assert len(stored) == 1
        assert token not in stored  # only its hash is
        # The job may run again (a retry, a redelivery): the email went out once.
        assert await container.invitations.send_email(UUID(invitation["id"])) is False
        await container.jobs.send_invitation_email.kiq(invitation["id"])
        assert len(invitations_to(smtp, "bob@example.com")) == 1

        bob = await registered(client, "bob@example.com")
        joined = await accept(client, bob, token)

        assert joined.status_code == 200, joined.text
        assert joined.json() == {**org, "role": "admin"}
        assert (await events(container.engine))[-1] == (
            "organization.member_joined",
            {"organization_id": org["id"], "user_id": await user_id(client, bob), "role": "admin"},
        )
        listed = await client.get(f"{ORGS}/{org['id']}/invitations", headers=bearer(owner))
        assert listed.json() == []
        again = await accept(client, bob, token)
        assert error_fields(assert_problem(again, 422, "validation_failed")) == {"token"}
        assert len(invitations_to(smtp, "bob@example.com")) == 1


async def test_only_the_invited_address_may_accept(database_url: str, smtp: SmtpSink) -> None:
    async with mailing_api(database_url, smtp) as (_, client):
        owner, org = await acme(client)
        await invited(client, owner, org, "bob@example.com")
        token = await emailed_token(smtp, "bob@example.com")

        carol = await registered(client, "carol@example.com")
        assert_problem(await accept(client, carol, token), 403, "forbidden")
        assert_problem(await client.get(f"{ORGS}/{org['id']}", headers=bearer(carol)), 404, "not_found")

        bob = await registered(client, "BOB@example.com")
        assert (await accept(client, bob, token)).status_code == 200  # the refusal spent nothing


async def test_a_revoked_invitation_stops_working(database_url: str, smtp: SmtpSink) -> None:
    async with mailing_api(database_url, smtp) as (_, client):
        owner, org = await acme(client)
        invitation = await invited(client, owner, org, "bob@example.com")
        token = await emailed_token(smtp, "bob@example.com")
        pending = await client.get(f"{ORGS}/{org['id']}/invitations", headers=bearer(owner))
        assert [item["id"] for item in pending.json()] == [invitation["id"]]

        revoked = await client.delete(f"{ORGS}/{org['id']}/invitations/{invitation['id']}", headers=bearer(owner))

        assert revoked.status_code == 204
        bob = await registered(client, "bob@example.com")
        assert error_fields(assert_problem(await accept(client, bob, token), 422, "validation_failed")) == {"token"}
        assert_problem(
            await client.delete(f"{ORGS}/{org['id']}/invitations/{invitation['id']}", headers=bearer(owner)),
            404,
            "not_found",
        )


async def test_inviting_again_replaces_the_invitation_and_its_token(database_url: str, smtp: SmtpSink) -> None:
    async with mailing_api(database_url, smtp) as (container, client):
        owner, org = await acme(client)
        first_invitation = await invited(client, owner, org, "bob@example.com")
        first = await emailed_token(smtp, "bob@example.com")

        second_invitation = await invited(client, owner, org, "BOB@example.com", "admin")
        second = await emailed_token(smtp, "bob@example.com", count=2)

        # A job of the replaced invitation that runs late sends nothing.
        assert await container.invitations.send_email(UUID(first_invitation["id"])) is False

        pending = (await client.get(f"{ORGS}/{org['id']}/invitations", headers=bearer(owner))).json()
        assert [item["id"] for item in pending] == [second_invitation["id"]]
        bob = await registered(client, "bob@example.com")
        assert error_fields(assert_problem(await accept(client, bob, first), 422, "validation_failed")) == {"token"}
        assert (await accept(client, bob, second)).json()["role"] == "admin"


async def test_an_expired_invitation_is_refused(database_url: str, smtp: SmtpSink) -> None:
    async with mailing_api(database_url, smtp) as (container, client):
        owner, org = await acme(client)
        await invited(client, owner, org, "bob@example.com")
        token = await emailed_token(smtp, "bob@example.com")
        async with container.engine.begin() as connection:
            await connection.execute(
                update(InvitationModel).values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
            )

        bob = await registered(client, "bob@example.com")

        assert error_fields(assert_problem(await accept(client, bob, token), 422, "validation_failed")) == {"token"}
        assert (await client.get(f"{ORGS}/{org['id']}/invitations", headers=bearer(owner))).json() == []


@pytest.mark.parametrize("token", ["not-a-token", "x" * 43])
async def test_an_unknown_token_is_refused_naming_it(database_url: str, smtp: SmtpSink, token: str) -> None:
    async with mailing_api(database_url, smtp) as (_, client):
        bob = await registered(client, "bob@example.com")

        assert error_fields(assert_problem(await accept(client, bob, token), 422, "validation_failed")) == {"token"}


async def test_an_invitation_to_a_deleted_organization_is_refused(database_url: str, smtp: SmtpSink) -> None:
    async with mailing_api(database_url, smtp) as (_, client):
        owner, org = await acme(client)
        await invited(client, owner, org, "bob@example.com")
        token = await emailed_token(smtp, "bob@example.com")
        assert (await client.delete(f"{ORGS}/{org['id']}", headers=bearer(owner))).status_code == 204

        bob = await registered(client, "bob@example.com")

        assert error_fields(assert_problem(await accept(client, bob, token), 422, "validation_failed")) == {"token"}


async def test_members_cannot_be_invited_nor_accept_twice(database_url: str, smtp: SmtpSink) -> None:
    async with mailing_api(database_url, smtp) as (container, client):
        owner, org = await acme(client)
        assert_problem(await invite(client, owner, org, "OWNER@example.com"), 409, "conflict")

        await invited(client, owner, org, "bob@example.com")
        token = await emailed_token(smtp, "bob@example.com")
        bob = await registered(client, "bob@example.com")
        await add_member(container.engine, org["id"], await user_id(client, bob), "member")

        assert_problem(await accept(client, bob, token), 409, "conflict")


@pytest.mark.parametrize(
    ("inviter_role", "role", "status"),
    [("admin", "owner", 403), ("admin", "admin", 201), ("admin", "member", 201), ("owner", "owner", 201)],
)
async def test_nobody_invites_to_a_role_above_their_own(
    database_url: str, smtp: SmtpSink, inviter_role: str, role: str, status: int
) -> None:
    async with mailing_api(database_url, smtp) as (container, client):
        owner, org = await acme(client)
        inviter = owner
        if inviter_role != "owner":
            inviter = await registered(client, "inviter@example.com")
            await add_member(container.engine, org["id"], await user_id(client, inviter), inviter_role)

        response = await invite(client, inviter, org, "bob@example.com", role)

        assert response.status_code == status, response.text


@pytest.mark.parametrize(
    ("body", "field"),
    [({"email": "not an address", "role": "member"}, "email"), ({"email": "a@example.com", "role": "king"}, "role")],
)
async def test_a_bad_invitation_is_refused_naming_the_field(
    database_url: str, smtp: SmtpSink, body: dict[str, str], field: str
) -> None:
    async with mailing_api(database_url, smtp) as (_, client):
        owner, org = await acme(client)

        response = await client.post(f"{ORGS}/{org['id']}/invitations", json=body, headers=bearer(owner))

        assert error_fields(assert_problem(response, 422, "validation_failed")) == {field}


async def test_a_refused_send_is_retried_and_still_sent_once(database_url: str, smtp: SmtpSink) -> None:
    async with mailing_api(database_url, smtp) as (_, client):
        owner, org = await acme(client)
        smtp.refuse(1)

        await invited(client, owner, org, "bob@example.com")
        token = await emailed_token(smtp, "bob@example.com")

        bob = await registered(client, "bob@example.com")
        assert (await accept(client, bob, token)).status_code == 200
        assert len(invitations_to(smtp, "bob@example.com")) == 1


async def test_a_token_accepted_twice_at_once_admits_once(database_url: str, smtp: SmtpSink) -> None:
    async with mailing_api(database_url, smtp) as (container, client):
        owner, org = await acme(client)
        await invited(client, owner, org, "bob@example.com")
        token = await emailed_token(smtp, "bob@example.com")
        bob = await registered(client, "bob@example.com")

        responses = await asyncio.gather(accept(client, bob, token), accept(client, bob, token))

        assert sorted(r.status_code for r in responses) == [200, 422]
        bob_id = await user_id(client, bob)
        joined = [data for kind, data in await events(container.engine) if kind == "organization.member_joined"]
        assert [data["user_id"] for data in joined].count(bob_id) == 1
