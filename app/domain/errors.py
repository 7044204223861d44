"""Errors the domain and application raise; every interface maps them to its own status codes.

Each error carries a stable ``code`` slug so that transports need one lookup table, not
``isinstance`` chains scattered through handlers.
"""

from __future__ import annotations

from dataclasses import dataclass


class DomainError(Exception):
    """Base of every error a client may be told about."""

    code = "domain_error"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class NotFound(DomainError):
    code = "not_found"


class Conflict(DomainError):
    code = "conflict"


class EmailAlreadyRegistered(Conflict):
    def __init__(self, email: str | None = None) -> None:
        super().__init__(f"Email {email} is already registered" if email else "Email is already registered")


class Unauthorized(DomainError):
    """Credentials are missing, wrong, expired or revoked; deliberately vague towards clients."""

    code = "unauthorized"


class Forbidden(DomainError):
    code = "forbidden"


class EmailNotVerified(Forbidden):
    """The right password, but the service requires a verified address (``REQUIRE_VERIFIED_EMAIL``)."""

    code = "email_not_verified"

    def __init__(self) -> None:
        super().__init__("Verify your email address before signing in")


@dataclass(frozen=True, slots=True)
class FieldError:
    field: str
    message: str


class ValidationFailed(DomainError):
    """Well-formed input that breaks a rule; names every offending field."""

    code = "validation_failed"

    def __init__(self, errors: list[FieldError], detail: str = "Validation failed") -> None:
        super().__init__(detail)
        self.errors = errors

    @classmethod
    def single(cls, field: str, message: str) -> ValidationFailed:
        return cls([FieldError(field, message)], detail=message)
