"""Email verification and password reset end to end: the token read from the email the SMTP server received.

The API runs in-process with its lifespan (its outbox relay starts the welcome email's
job) and without Redis, so jobs run in the API process, as in embedded mode; the mail
goes to a real SMTP server (``smtp``).
"""

from __future__ import annotations

import asyncio
import email.message
import re
import statistics
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import grpc
import pytest
from httpx import ASGITransport, AsyncClient
from sqlalchemy import select, update

from app.bootstrap import Container, build_container
from app.infrastructure.db.models import AccountTokenModel, UserModel
from app.infrastructure.outbox.model import OutboxModel
from app.interfaces.grpc.v1 import auth_pb2, users_pb2
from app.interfaces.http.app import create_app
from tests.conftest import make_settings
from tests.e2e.grpc_helpers import assert_status, bearer_metadata, serving
from tests.e2e.helpers import PASSWORD, assert_problem, bearer, sign_in, sign_up
from tests.support.smtp import SmtpSink

PUBLIC_URL = "https://accounts.example.org/app"
EMAIL = "ada@example.com"
NEW_PASSWORD = "a brand new passphrase"
VERIFY = "/api/v1/auth/email-verification"
VERIFY_CONFIRM = "/api/v1/auth/email-verification/confirm"
RESET = "/api/v1/auth/password-reset"
RESET_CONFIRM = "/api/v1/auth/password-reset/confirm"
ME = "/api/v1/users/me"
MAIL_WITHIN_SECONDS = 30.0
LINK = re.compile(re.escape(PUBLIC_URL) + r"(/[a-z-]+)\?token=([A-Za-z0-9_-]+)")


@asynccontextmanager
async def lifecycle_api(
    database_url: str, smtp: SmtpSink, **overrides: str
) -> AsyncIterator[tuple[Container, AsyncClient]]:
    settings = make_settings(database_url, SMTP_URL=smtp.url, PUBLIC_URL=PUBLIC_URL, **overrides)
    container = build_container(settings)
    app = create_app(settings, container)
    async with app.lifespan():
        transport = ASGITransport(app=app)  # type: ignore[arg-type]  # see tests/conftest.py
        async with AsyncClient(transport=transport, base_url="http://testserver.local") as client:
            yield container, client


async def next_email(smtp: SmtpSink, count: int) -> email.message.EmailMessage:
    """The ``count``-th message the server kept (1-based), once it arrived."""
    messages = await smtp.wait_for(count, within=MAIL_WITHIN_SECONDS)
    assert len(messages) >= count, f"{len(messages)} emails, expected {count}"
    return messages[count - 1]


def token_of(message: email.message.EmailMessage, path: str) -> str:
    """The link's token; the plain-text and the HTML alternative carry the same link to ``PUBLIC_URL``."""
    assert message.get_content_type() == "multipart/alternative"
    text, html = message.get_body(("plain",)), message.get_body(("html",))
    assert text is not None
    assert html is not None
    found = LINK.search(text.get_content())
    assert found is not None, text.get_content()
    assert found.group(1) == path
    assert f'href="{found.group(0)}"' in html.get_content()
    token = found.group(2)
    assert len(token) >= 32
    return token


async def welcome_token(smtp: SmtpSink, client: AsyncClient, address: str = EMAIL) -> str:
    await sign_up(client, address)
    message = await next_email(smtp, len(smtp.messages) + 1)
    assert message["To"] == address
    return token_of(message, "/verify-email")


async def reset_token(smtp: SmtpSink, client: AsyncClient, address: str = EMAIL) -> str:
    before = len(smtp.messages)
    response = await client.post(RESET, json={"email": address})
    assert response.status_code == 202, response.text
    message = await next_email(smtp, before + 1)
    assert message["To"] == address
    return token_of(message, "/reset-password")


async def stored_token_hashes(container: Container) -> list[str]:
    async with container.engine.connect() as connection:
        return list((await connection.scalars(select(AccountTokenModel.token_hash))).all())


async def test_verification_from_the_welcome_email(database_url: str, smtp: SmtpSink) -> None:
    async with lifecycle_api(database_url, smtp) as (container, client):
        token = await welcome_token(smtp, client)
        assert token not in await stored_token_hashes(container)  # only its hash is
        tokens = await sign_in(client, EMAIL)
        assert (await client.get(ME, headers=bearer(tokens))).json()["email_verified"] is False

        confirmed = await client.post(VERIFY_CONFIRM, json={"token": token})

        assert confirmed.status_code == 200, confirmed.text
        assert confirmed.json()["email_verified"] is True
        assert confirmed.json()["email"] == EMAIL
        assert (await client.get(ME, headers=bearer(tokens))).json()["email_verified"] is True
        body = assert_problem(await client.post(VERIFY_CONFIRM, json={"token": token}), 422, "validation_failed")
        assert [error["field"] for error in body["errors"]] == ["token"]
        async with container.engine.connect() as connection:
            types = (await connection.scalars(select(OutboxModel.type))).all()
        assert types.count("user.email_verified") == 1
        assert_problem(await client.post(VERIFY, headers=bearer(tokens)), 409, "conflict")


async def test_a_resend_mails_a_fresh_link_and_the_earlier_stays_valid(database_url: str, smtp: SmtpSink) -> None:
    async with lifecycle_api(database_url, smtp) as (_, client):
        welcome = await welcome_token(smtp, client)
        tokens = await sign_in(client, EMAIL)

        for _ in range(2):
            response = await client.post(VERIFY, headers=bearer(tokens))
            assert response.status_code == 202, response.text
        fresh = [token_of(await next_email(smtp, count), "/verify-email") for count in (2, 3)]

        assert len({welcome, *fresh}) == 3
        assert (await client.post(VERIFY_CONFIRM, json={"token": welcome})).status_code == 200
        assert_problem(await client.post(VERIFY, headers=bearer(tokens)), 409, "conflict")
        assert_problem(await client.post(VERIFY), 401, "unauthorized")


async def test_password_reset_sets_the_password_and_revokes_every_session(database_url: str, smtp: SmtpSink) -> None:
    async with lifecycle_api(database_url, smtp) as (_, client):
        await welcome_token(smtp, client)
        sessions = [await sign_in(client, EMAIL) for _ in range(2)]
        token, other = await reset_token(smtp, client), await reset_token(smtp, client)

        weak = await client.post(RESET_CONFIRM, json={"token": token, "new_password": "short"})
        assert [e["field"] for e in assert_problem(weak, 422, "validation_failed")["errors"]] == ["new_password"]
        response = await client.post(RESET_CONFIRM, json={"token": token, "new_password": NEW_PASSWORD})
        assert response.status_code == 204, response.text

        for tokens in sessions:
            assert_problem(await client.get(ME, headers=bearer(tokens)), 401, "unauthorized")
            refreshed = await client.post(
                "/api/v1/auth/tokens/refresh", json={"refresh_token": tokens["refresh_token"]}
            )
            assert_problem(refreshed, 401, "unauthorized")
        old = await client.post("/api/v1/auth/tokens", json={"email": EMAIL, "password": PASSWORD})
        assert_problem(old, 401, "unauthorized")
        await sign_in(client, EMAIL, NEW_PASSWORD)
        for spent in (token, other):  # reused, and outstanding when the password changed
            again = await client.post(RESET_CONFIRM, json={"token": spent, "new_password": "yet another passphrase"})
            assert [e["field"] for e in assert_problem(again, 422, "validation_failed")["errors"]] == ["token"]


async def test_a_password_change_spends_outstanding_reset_links(database_url: str, smtp: SmtpSink) -> None:
    async with lifecycle_api(database_url, smtp) as (_, client):
        await welcome_token(smtp, client)
        tokens = await sign_in(client, EMAIL)
        token = await reset_token(smtp, client)

        changed = await client.post(
            f"{ME}/password", json={"current_password": PASSWORD, "new_password": NEW_PASSWORD}, headers=bearer(tokens)
        )
        assert changed.status_code == 204, changed.text

        late = await client.post(RESET_CONFIRM, json={"token": token, "new_password": "yet another passphrase"})
        assert_problem(late, 422, "validation_failed")


@pytest.mark.parametrize(("setting", "confirm"), [("EMAIL_VERIFICATION", "verify"), ("PASSWORD_RESET", "reset")])
async def test_an_expired_link_is_refused(database_url: str, smtp: SmtpSink, setting: str, confirm: str) -> None:
    async with lifecycle_api(database_url, smtp, **{f"{setting}_TTL_SECONDS": "1"}) as (_, client):
        token = await welcome_token(smtp, client)
        if confirm == "reset":
            token = await reset_token(smtp, client)
        await asyncio.sleep(1.2)

        if confirm == "verify":
            response = await client.post(VERIFY_CONFIRM, json={"token": token})
        else:
            response = await client.post(RESET_CONFIRM, json={"token": token, "new_password": NEW_PASSWORD})
        assert [e["field"] for e in assert_problem(response, 422, "validation_failed")["errors"]] == ["token"]


@pytest.mark.parametrize("confirm", ["verify", "reset"])
async def test_of_concurrent_confirmations_of_one_token_exactly_one_succeeds(
    database_url: str, smtp: SmtpSink, confirm: str
) -> None:
    async with lifecycle_api(database_url, smtp) as (_, client):
        token = await welcome_token(smtp, client)
        if confirm == "reset":
            token = await reset_token(smtp, client)
            calls = [
                client.post(RESET_CONFIRM, json={"token": token, "new_password": f"new passphrase {n}"})
                for n in range(8)
            ]
        else:
            calls = [client.post(VERIFY_CONFIRM, json={"token": token}) for _ in range(8)]

        statuses = sorted(response.status_code for response in await asyncio.gather(*calls))

        assert statuses == sorted([200 if confirm == "verify" else 204] + [422] * 7)


async def test_only_a_real_active_account_gets_a_reset_email_and_the_answers_are_alike(
    database_url: str, smtp: SmtpSink
) -> None:
    async with lifecycle_api(database_url, smtp) as (container, client):
        await welcome_token(smtp, client)
        await welcome_token(smtp, client, "gone@example.com")
        gone = await sign_in(client, "gone@example.com")
        assert (await client.delete(ME, headers=bearer(gone))).status_code == 204
        welcomed = len(smtp.messages)

        answers = [
            await client.post(RESET, json={"email": address})
            for address in ("nobody@example.com", "gone@example.com", EMAIL)
        ]

        assert {(r.status_code, r.content) for r in answers} == {(202, b"")}
        varying = {"x-request-id", "date"}  # per response, whatever it answers
        assert len({tuple(sorted((k, v) for k, v in r.headers.items() if k not in varying)) for r in answers}) == 1
        message = await next_email(smtp, welcomed + 1)
        await container.jobs.broker.wait_all()  # type: ignore[attr-defined]  # the in-process broker's
        assert len(smtp.messages) == welcomed + 1
        assert message["To"] == EMAIL


async def test_the_reset_email_goes_out_once_when_its_job_runs_twice(database_url: str, smtp: SmtpSink) -> None:
    async with lifecycle_api(database_url, smtp) as (container, client):
        await welcome_token(smtp, client)
        welcomed = len(smtp.messages)
        request_id = "0192f000-0000-7000-8000-000000000001"

        runs = [await container.jobs.send_password_reset.kiq(EMAIL, request_id) for _ in range(2)]
        results = [(await run.wait_result(timeout=MAIL_WITHIN_SECONDS)).return_value for run in runs]

        assert sorted(results) == [False, True]
        assert len(smtp.messages) == welcomed + 1
        token = token_of(smtp.messages[-1], "/reset-password")
        assert (
            await client.post(RESET_CONFIRM, json={"token": token, "new_password": NEW_PASSWORD})
        ).status_code == 204


#: Requests per kind of address; each is a few milliseconds, so many, interleaved.
TIMING_ROUNDS = 60
#: As the sign-in timing test: medians within this factor of each other.
TIMING_TOLERANCE = 1.25


@pytest.mark.alone
async def test_a_reset_request_takes_as_long_whatever_the_address(
    database_url: str, record_property: Callable[[str, object], None]
) -> None:
    """Unknown, deactivated and real accounts: median times within 25%.

    The request only enqueues the job, whoever asked; the job (which does differ) runs
    after the answer, and is let finish before the next request so that it loads none of
    them. Kinds interleave in a rotating order, as in the sign-in timing test.
    """
    container = build_container(make_settings(database_url))
    app = create_app(container.settings, container)
    async with app.lifespan():
        transport = ASGITransport(app=app)  # type: ignore[arg-type]  # see tests/conftest.py
        async with AsyncClient(transport=transport, base_url="http://testserver.local") as client:
            await sign_up(client, EMAIL)
            await sign_up(client, "gone@example.com")
            gone = await sign_in(client, "gone@example.com")
            assert (await client.delete(ME, headers=bearer(gone))).status_code == 204
            addresses = {"unknown": "nobody@example.com", "deactivated": "gone@example.com", "real": EMAIL}
            kinds = list(addresses)
            durations: dict[str, list[float]] = {kind: [] for kind in kinds}
            for round_ in range(TIMING_ROUNDS + 1):
                for kind in kinds[round_ % 3 :] + kinds[: round_ % 3]:
                    started = time.perf_counter()
                    response = await client.post(RESET, json={"email": addresses[kind]})
                    elapsed = time.perf_counter() - started
                    assert response.status_code == 202
                    await container.jobs.broker.wait_all()  # type: ignore[attr-defined]
                    if round_:
                        durations[kind].append(elapsed)

    medians = {kind: statistics.median(times) for kind, times in durations.items()}
    record_property("median_ms", {kind: round(median * 1000, 2) for kind, median in medians.items()})
    assert max(medians.values()) <= TIMING_TOLERANCE * min(medians.values()), medians


async def test_the_four_routes_share_the_auth_rate_limit(database_url: str, smtp: SmtpSink) -> None:
    async with lifecycle_api(database_url, smtp, RATE_LIMIT_AUTH="5/day") as (_, client):
        await sign_up(client, EMAIL)  # 1
        tokens = await sign_in(client, EMAIL)  # 2
        assert (await client.post(VERIFY, headers=bearer(tokens))).status_code == 202  # 3
        assert (await client.post(RESET, json={"email": EMAIL})).status_code == 202  # 4
        assert_problem(await client.post(VERIFY_CONFIRM, json={"token": "x" * 43}), 422, "validation_failed")  # 5

        for path, body in [
            (RESET_CONFIRM, {"token": "x" * 43, "new_password": NEW_PASSWORD}),
            (RESET, {"email": EMAIL}),
            (VERIFY_CONFIRM, {"token": "x" * 43}),
            ("/api/v1/auth/tokens", {"email": EMAIL, "password": PASSWORD}),
        ]:
            limited = await client.post(path, json=body)
            assert_problem(limited, 429, "rate_limited")
            assert int(limited.headers["retry-after"]) > 0
        assert_problem(await client.post(VERIFY, headers=bearer(tokens)), 429, "rate_limited")


async def test_with_require_verified_email_an_unverified_address_cannot_sign_in(
    database_url: str, smtp: SmtpSink
) -> None:
    async with lifecycle_api(database_url, smtp, REQUIRE_VERIFIED_EMAIL="true") as (container, client):
        token = await welcome_token(smtp, client)
        credentials = {"email": EMAIL, "password": PASSWORD}

        body = assert_problem(await client.post("/api/v1/auth/tokens", json=credentials), 403, "email_not_verified")
        assert "verif" in body["detail"].lower()
        form = await client.post("/api/v1/auth/token", data={"username": EMAIL, "password": PASSWORD})
        assert_problem(form, 403, "email_not_verified")
        wrong = await client.post("/api/v1/auth/tokens", json={"email": EMAIL, "password": "not the password"})
        assert_problem(wrong, 401, "unauthorized")
        async with serving(container.settings, container) as stubs:
            await assert_status(
                stubs.auth.IssueTokens(auth_pb2.IssueTokens(**credentials)),
                grpc.StatusCode.PERMISSION_DENIED,
                "email_not_verified",
            )
            assert (await client.post(VERIFY_CONFIRM, json={"token": token})).status_code == 200
            pair = await stubs.auth.IssueTokens(auth_pb2.IssueTokens(**credentials))
            assert pair.access_token
        await sign_in(client, EMAIL)


async def test_the_user_carries_email_verified_in_rest_and_grpc(database_url: str, smtp: SmtpSink) -> None:
    async with lifecycle_api(database_url, smtp) as (container, client):
        await sign_up(client, EMAIL)
        async with container.engine.begin() as connection:
            await connection.execute(update(UserModel).values(email_verified=True))
        tokens = await sign_in(client, EMAIL)
        assert (await client.get(ME, headers=bearer(tokens))).json()["email_verified"] is True
        async with serving(container.settings, container) as stubs:
            me = await stubs.users.GetMe(users_pb2.GetMe(), metadata=bearer_metadata(tokens))
        assert me.email_verified is True


async def test_the_openapi_document_names_the_four_operations_and_their_answers(client: AsyncClient) -> None:
    paths = (await client.get("/schema/openapi.json")).json()["paths"]
    expected = {
        VERIFY: ("requestEmailVerification", {"202", "401", "409", "429"}),
        VERIFY_CONFIRM: ("confirmEmailVerification", {"200", "400", "413", "422", "429"}),
        RESET: ("requestPasswordReset", {"202", "400", "413", "422", "429"}),
        RESET_CONFIRM: ("confirmPasswordReset", {"204", "400", "413", "422", "429"}),
    }
    for path, (operation_id, statuses) in expected.items():
        operation = paths[path]["post"]
        assert operation["operationId"] == operation_id
        assert statuses <= set(operation["responses"]), path  # (500 and 503 are on every operation)
    sign_in_answers = paths["/api/v1/auth/tokens"]["post"]["responses"]
    assert "403" in sign_in_answers  # email_not_verified
