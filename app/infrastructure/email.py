"""Email adapters: SMTP (aiosmtplib) when ``SMTP_URL`` is set, else a log line per message.

The log adapter is what embedded mode and local development use: the message is in the
log, whole, and nothing leaves the machine.
"""

from __future__ import annotations

import email.message
import email.utils

import aiosmtplib
import structlog

from app.application.notifications import EmailMessage, EmailSender
from app.application.ports import DependencyUnavailable
from app.infrastructure.config import Settings
from app.infrastructure.setting_values import SmtpEndpoint, smtp_endpoint

log = structlog.get_logger("app.email")


class SmtpEmailSender:
    """Sends through one SMTP server, one connection per message, every wait bounded by ``timeout``.

    Failures that may pass (the server unreachable or slow, a 4xx answer) are raised as
    ``DependencyUnavailable("mail server")``, which the job's retries are for; a 5xx
    answer (a permanent refusal) is raised as it is.
    """

    def __init__(self, endpoint: SmtpEndpoint, sender: str, timeout: float) -> None:
        self._endpoint = endpoint
        self._sender = sender
        self._timeout = timeout

    async def send(self, message: EmailMessage) -> None:
        endpoint = self._endpoint
        try:
            await aiosmtplib.send(
                mime_message(message, self._sender),
                hostname=endpoint.host,
                port=endpoint.port,
                username=endpoint.username,
                password=endpoint.password,
                use_tls=endpoint.implicit_tls,
                # smtp://: upgrade with STARTTLS whenever the server offers it.
                start_tls=False if endpoint.implicit_tls else None,
                timeout=self._timeout,
            )
        except (aiosmtplib.SMTPException, OSError) as exc:
            if _is_temporary(exc):
                raise DependencyUnavailable("mail server") from exc
            raise


def _is_temporary(error: BaseException) -> bool:
    if isinstance(error, aiosmtplib.SMTPResponseException):
        return 400 <= error.code < 500
    if isinstance(error, aiosmtplib.SMTPRecipientsRefused):
        return all(400 <= refused.code < 500 for refused in error.recipients)
    return isinstance(error, OSError | TimeoutError)  # ConnectionError included, as are aiosmtplib's


class LogEmailSender:
    """Writes each message to the log (``email_logged``) instead of sending it."""

    def __init__(self, sender: str) -> None:
        self._sender = sender

    async def send(self, message: EmailMessage) -> None:
        log.info(
            "email_logged",
            to=message.to,
            sender=self._sender,
            subject=message.subject,
            text=message.text,
            message_id=_message_id(message, self._sender),
        )


def mime_message(message: EmailMessage, sender: str) -> email.message.EmailMessage:
    mime = email.message.EmailMessage()
    mime["From"] = sender
    mime["To"] = message.to
    mime["Subject"] = message.subject
    mime["Date"] = email.utils.formatdate(usegmt=True)
    mime["Message-ID"] = _message_id(message, sender)
    mime.set_content(message.text)
    mime.add_alternative(message.html, subtype="html")  # multipart/alternative: text first, HTML preferred
    return mime


def _message_id(message: EmailMessage, sender: str) -> str:
    """``<reference@sender's domain>``: the same for every copy of one message."""
    domain = email.utils.parseaddr(sender)[1].rpartition("@")[2] or "localhost"
    return f"<{message.reference}@{domain}>"


def create_email_sender(settings: Settings) -> EmailSender:
    if settings.smtp_url is None:
        return LogEmailSender(settings.email_from)
    return SmtpEmailSender(smtp_endpoint(settings.smtp_url), settings.email_from, settings.smtp_timeout_seconds)
