"""The SMTP adapter against a real SMTP server (aiosmtpd): what arrives, and how failures are told apart."""

from __future__ import annotations

import aiosmtplib
import pytest

from app.application.notifications import EmailMessage
from app.application.ports import DependencyUnavailable
from app.infrastructure.email import SmtpEmailSender
from app.infrastructure.setting_values import smtp_endpoint
from tests.support.processes import free_port
from tests.support.smtp import SmtpSink

MESSAGE = EmailMessage(
    to="ada@example.com",
    subject="Welcome aboard",
    text="Hello Ada,\n\nwelcome!\n",
    html="<p>Hello Ada,</p><p>welcome!</p>",
    reference="welcome.42",
)


def sender(url: str) -> SmtpEmailSender:
    return SmtpEmailSender(smtp_endpoint(url), "App <no-reply@app.example>", timeout=5.0)


async def test_a_message_arrives_whole(smtp: SmtpSink) -> None:
    await sender(smtp.url).send(MESSAGE)

    (received,) = smtp.messages
    assert received["From"] == "App <no-reply@app.example>"
    assert received["To"] == "ada@example.com"
    assert received["Subject"] == "Welcome aboard"
    assert received["Message-ID"] == "<welcome.42@app.example>"
    assert received["Date"]
    assert received.get_content_type() == "multipart/alternative"
    text, html = received.get_body(("plain",)), received.get_body(("html",))
    assert text is not None
    assert html is not None
    assert text.get_content() == "Hello Ada,\n\nwelcome!\n"
    assert html.get_content() == "<p>Hello Ada,</p><p>welcome!</p>\n"


async def test_a_server_asking_to_try_later_is_unavailable_for_now(smtp: SmtpSink) -> None:
    smtp.refuse(1)

    with pytest.raises(DependencyUnavailable, match="mail server"):
        await sender(smtp.url).send(MESSAGE)
    await sender(smtp.url).send(MESSAGE)

    assert (smtp.attempts, len(smtp.messages)) == (2, 1)


async def test_a_server_that_is_not_there_is_unavailable_for_now() -> None:
    with pytest.raises(DependencyUnavailable, match="mail server"):
        await sender(f"smtp://127.0.0.1:{free_port()}").send(MESSAGE)


async def test_a_permanent_refusal_is_not_mistaken_for_an_outage(smtp: SmtpSink) -> None:
    smtp.reject(1)

    with pytest.raises(aiosmtplib.SMTPDataError) as refused:
        await sender(smtp.url).send(MESSAGE)

    assert refused.value.code == 550
    assert not isinstance(refused.value, DependencyUnavailable)
