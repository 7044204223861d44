"""Value objects of the user aggregate: they validate on construction, so an invalid one cannot exist.

They raise ``ValueError``: which input field a value came from is the caller's knowledge,
so the application layer names the field when it turns the error into ``ValidationFailed``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

EMAIL_MAX_LENGTH = 254
# Control characters and whitespace, spelled out for a regex character class. Not `\s`: the
# patterns are published in the OpenAPI document, where JSON Schema reads them as ECMAScript
# regexes, and ECMAScript's `\s` is not Python's (\x1c-\x1f and \x85 are whitespace to Python
# only, \ufeff to ECMAScript only). Spelled out, a client and the service refuse the same text.
INVISIBLE = r"\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
# Deliberately simple: one "@", no spaces, a dot in the domain. Deliverability is proven by
# sending mail, not by a regex; this only rejects what can never be an address.
EMAIL_PATTERN = rf"^[^@{INVISIBLE}]{{1,64}}@[^@{INVISIBLE}]+\.[^@.{INVISIBLE}]{{2,}}$"
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
