"""Value objects of the user aggregate: they validate on construction, so an invalid one cannot exist.

They raise ``ValueError``: which input field a value came from is the caller's knowledge,
so the application layer names the field when it turns the error into ``ValidationFailed``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

EMAIL_MAX_LENGTH = 254
# Deliberately simple: one "@", no spaces, a dot in the domain. Deliverability is proven by
# sending mail, not by a regex; this only rejects what can never be an address.
EMAIL_PATTERN = r"^[^@\s\x00]{1,64}@[^@\s\x00]+\.[^@\s.\x00]{2,}$"
_EMAIL_RE = re.compile(EMAIL_PATTERN)

PASSWORD_MIN_LENGTH = 8
PASSWORD_MAX_LENGTH = 128


class Role(StrEnum):
    USER = "user"
    ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class Email:
    """A syntactically valid address, lower-cased so that uniqueness is case-insensitive."""

    value: str

    def __post_init__(self) -> None:
        normalized = self.value.strip().lower()
        if len(normalized) > EMAIL_MAX_LENGTH or not _EMAIL_RE.match(normalized):
            raise ValueError("Not a valid email address")
        object.__setattr__(self, "value", normalized)

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, slots=True)
class Password:
    """A plain-text password that meets the length policy; never stored or logged."""

    value: str

    def __post_init__(self) -> None:
        if not PASSWORD_MIN_LENGTH <= len(self.value) <= PASSWORD_MAX_LENGTH:
            raise ValueError(f"Password must be {PASSWORD_MIN_LENGTH} to {PASSWORD_MAX_LENGTH} characters long")

    def __repr__(self) -> str:
        return "Password(***)"


@dataclass(frozen=True, slots=True)
class Address:
    street: str | None = None
    city: str | None = None
    state: str | None = None
    zip_code: str | None = None
    country: str | None = None
