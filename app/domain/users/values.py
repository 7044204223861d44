"""Value objects of the user aggregate: they validate on construction, so an invalid one cannot exist.

They raise ``ValueError``: which input field a value came from is the caller's knowledge,
so the application layer names the field when it turns the error into ``ValidationFailed``.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum

EMAIL_MAX_LENGTH = 254
# Control characters and whitespace, spelled out for a regex character class. Not `\s`: the
# patterns are published in the OpenAPI document, where JSON Schema reads them as ECMAScript
# regexes, and ECMAScript's `\s` is not Python's (\x1c-\x1f and \x85 are whitespace to Python
# only, \ufeff to ECMAScript only). Spelled out, a client and the service refuse the same text.
INVISIBLE = r"\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
#: Every code point :func:`is_invisible` refuses, surrogates aside, as ranges: what the
#: published email pattern excludes, so that a client validating against the OpenAPI document
#: refuses the same addresses as the service. Derived from Unicode's data once, and held to
#: :func:`is_invisible` by a test over every code point (a newer Unicode fails it until updated).
INVISIBLE_RANGES = (
    (0x0000, 0x0020), (0x007F, 0x00A0), (0x00AD, 0x00AD), (0x034F, 0x034F), (0x0600, 0x0605),
    (0x061C, 0x061C), (0x06DD, 0x06DD), (0x070F, 0x070F), (0x0890, 0x0891), (0x08E2, 0x08E2),
    (0x115F, 0x1160), (0x1680, 0x1680), (0x17B4, 0x17B5), (0x180B, 0x180F), (0x2000, 0x200F),
    (0x2028, 0x202F), (0x205F, 0x206F), (0x3000, 0x3000), (0x3164, 0x3164), (0xFE00, 0xFE0F),
    (0xFEFF, 0xFEFF), (0xFFA0, 0xFFA0), (0xFFF0, 0xFFFB), (0x110BD, 0x110BD), (0x110CD, 0x110CD),
    (0x13430, 0x13438), (0x1BCA0, 0x1BCA3), (0x1D173, 0x1D17A), (0xE0000, 0xE0FFF),
)  # fmt: skip


def _class_item(code: int) -> str:
    """One end of a character-class range that ECMAScript and Python read alike: a ``\\uXXXX``
    escape inside the Basic Multilingual Plane; beyond it the character itself, since Python
    has no escape ECMAScript shares (JSON carries it as a surrogate pair, a ``u``-mode regex
    as one code point)."""
    return f"\\u{code:04x}" if code <= 0xFFFF else chr(code)


_INVISIBLE_CLASS = "".join(
    _class_item(low) if low == high else f"{_class_item(low)}-{_class_item(high)}" for low, high in INVISIBLE_RANGES
)
# Deliberately simple: one "@", nothing invisible, a dot in the domain. Deliverability is proven
# by sending mail, not by a regex; this only rejects what can never be an address.
EMAIL_PATTERN = rf"^[^@{_INVISIBLE_CLASS}]{{1,64}}@[^@{_INVISIBLE_CLASS}]+\.[^@.{_INVISIBLE_CLASS}]{{2,}}$"
_EMAIL_RE = re.compile(EMAIL_PATTERN)

#: The two contributory properties of Unicode's Default_Ignorable_Code_Point, as ranges from
#: PropList.txt (Unicode 15.1). The derived property is ``Other_Default_Ignorable_Code_Point
#: + Cf + Variation_Selector - White_Space - a few Cf exceptions``; every Cf and white-space
#: character is refused anyway, so these ranges complete the set. They include code points
#: not yet assigned: Unicode reserves them as ignorable, so they render as nothing.
_DEFAULT_IGNORABLE_RANGES = (
    (0x034F, 0x034F),  # combining grapheme joiner
    (0x115F, 0x1160),  # Hangul choseong and jungseong fillers
    (0x17B4, 0x17B5),  # Khmer inherent vowels
    (0x180B, 0x180D),  # Mongolian free variation selectors
    (0x180F, 0x180F),
    (0x2065, 0x2065),
    (0x3164, 0x3164),  # Hangul filler
    (0xFE00, 0xFE0F),  # variation selectors
    (0xFFA0, 0xFFA0),  # halfwidth Hangul filler
    (0xFFF0, 0xFFF8),
    (0xE0000, 0xE0FFF),  # tags, variation selectors supplement, reserved
)
#: General categories that never show as a glyph of their own: controls, format characters
#: (U+200B-U+200F, U+2060-U+2064, U+00AD, U+FEFF…), lone surrogates, and separators.
_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zs", "Zl", "Zp"})


def is_invisible(char: str) -> bool:
    """Whether ``char`` can sit in a text without being seen: a default-ignorable code point,
    a control, format or surrogate code point, or a space or separator.

    Two addresses differing only by such a character read as the same address, so one
    containing any is refused: it could only serve to impersonate another account.
    """
    code = ord(char)
    return unicodedata.category(char) in _INVISIBLE_CATEGORIES or any(
        low <= code <= high for low, high in _DEFAULT_IGNORABLE_RANGES
    )


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
        if any(map(is_invisible, normalized)):
            raise ValueError("Must not contain invisible characters (controls, format characters, default-ignorables)")
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
