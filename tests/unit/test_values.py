"""Value objects: an invalid email or password cannot be constructed at all."""

from __future__ import annotations

import re
import sys
import unicodedata

import pytest

from app.domain.users.values import (
    EMAIL_MAX_LENGTH,
    EMAIL_PATTERN,
    INVISIBLE_RANGES,
    PASSWORD_MAX_LENGTH,
    PASSWORD_MIN_LENGTH,
    Email,
    Password,
    Role,
    is_invisible,
)


def _email_of_length(length: int, local_length: int = 64) -> str:
    """A well-formed address exactly ``length`` characters long."""
    domain_length = length - local_length - 1 - len(".com")
    return f"{'a' * local_length}@{'d' * domain_length}.com"


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("ada@example.com", "ada@example.com"),
        ("Ada.Lovelace@Example.COM", "ada.lovelace@example.com"),
        ("  ada@example.com\n", "ada@example.com"),
        ("first+tag@mail.example.org", "first+tag@mail.example.org"),
    ],
)
def test_email_is_stored_trimmed_and_lower_cased(raw: str, stored: str) -> None:
    """Uniqueness is case-insensitive because every address is compared in one canonical form."""
    email = Email(raw)
    assert email.value == stored
    assert str(email) == stored


def test_emails_differing_only_in_case_are_equal() -> None:
    assert Email("ADA@example.com") == Email("ada@EXAMPLE.com")


def test_longest_allowed_email_is_accepted() -> None:
    assert len(Email(_email_of_length(EMAIL_MAX_LENGTH)).value) == EMAIL_MAX_LENGTH


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param("", id="empty"),
        pytest.param("   ", id="blank"),
        pytest.param("ada", id="no-at"),
        pytest.param("@example.com", id="no-local-part"),
        pytest.param("ada@", id="no-domain"),
        pytest.param("ada@example", id="no-dot-in-domain"),
        pytest.param("ada@example.c", id="one-letter-tld"),
        pytest.param("ada@@example.com", id="two-ats"),
        pytest.param("a@b@example.com", id="at-in-local-part"),
        pytest.param("ada lovelace@example.com", id="space"),
        pytest.param(f"{'a' * 65}@example.com", id="local-part-over-64"),
        pytest.param(_email_of_length(EMAIL_MAX_LENGTH + 1), id="over-254"),
    ],
)
def test_malformed_email_is_refused(raw: str) -> None:
    with pytest.raises(ValueError, match="email"):
        Email(raw)


@pytest.mark.parametrize(
    "character",
    [
        pytest.param("\x01", id="control"),
        pytest.param("\x1d", id="group-separator"),  # whitespace to Python's \s only
        pytest.param("\x85", id="next-line"),  # whitespace to Python's \s only
        pytest.param("\xa0", id="no-break-space"),
        pytest.param("\u2028", id="line-separator"),
        pytest.param("\ufeff", id="byte-order-mark"),  # whitespace to ECMAScript's \s only
    ],
)
@pytest.mark.parametrize("where", ["ad{}a@example.com", "ada@exa{}mple.com", "ada@example.c{}om"])
def test_email_with_a_control_or_space_character_is_refused(character: str, where: str) -> None:
    """Refused alike by the service and by a client checking the published pattern (an ECMAScript regex)."""
    with pytest.raises(ValueError, match="email"):
        Email(where.format(character))


@pytest.mark.parametrize(
    "length",
    [PASSWORD_MIN_LENGTH, PASSWORD_MAX_LENGTH],
    ids=["shortest", "longest"],
)
def test_password_at_the_length_bounds_is_accepted(length: int) -> None:
    assert Password("p" * length).value == "p" * length


@pytest.mark.parametrize(
    "length",
    [0, PASSWORD_MIN_LENGTH - 1, PASSWORD_MAX_LENGTH + 1],
    ids=["empty", "one-too-short", "one-too-long"],
)
def test_password_outside_the_length_bounds_is_refused(length: int) -> None:
    with pytest.raises(ValueError, match=f"{PASSWORD_MIN_LENGTH} to {PASSWORD_MAX_LENGTH} characters"):
        Password("p" * length)


def test_password_length_counts_characters_not_bytes() -> None:
    """Eight accented letters are 16 UTF-8 bytes but still exactly the minimum length."""
    assert Password("é" * PASSWORD_MIN_LENGTH)
    with pytest.raises(ValueError, match="characters"):
        Password("é" * (PASSWORD_MIN_LENGTH - 1))


def test_password_repr_never_shows_the_password() -> None:
    """Value objects end up in tracebacks and debug logs."""
    secret = "hunter2-hunter2"
    assert secret not in repr(Password(secret))
    assert secret not in f"{[Password(secret)]}"


def test_roles_are_the_wire_values() -> None:
    assert {role.value for role in Role} == {"user", "admin"}
    assert Role("admin") is Role.ADMIN


#: Characters that render as nothing or as a blank, named: the ones a look-alike address
#: uses first, and one of each other kind Unicode calls default-ignorable.
INVISIBLE_BY_NAME = [
    "\u200b",  # zero width space
    "\u200c",  # zero width non-joiner
    "\u200d",  # zero width joiner
    "\u2060",  # word joiner
    "\u00ad",  # soft hyphen
    "\ufeff",  # zero width no-break space (BOM)
    "\u034f",  # combining grapheme joiner (Mn, yet ignorable)
    "\u115f",  # Hangul choseong filler (Lo, yet ignorable)
    "\u3164",  # Hangul filler
    "\uffa0",  # halfwidth Hangul filler
    "\u17b4",  # Khmer vowel inherent aq
    "\u180b",  # Mongolian free variation selector one
    "\u180e",  # Mongolian vowel separator
    "\u061c",  # Arabic letter mark
    "\u202e",  # right-to-left override
    "\u2066",  # left-to-right isolate
    "\u2065",  # unassigned, reserved as ignorable
    "\ufe0f",  # variation selector 16
    "\U000e0001",  # language tag
    "\U000e007f",  # cancel tag
    "\U000e0100",  # variation selector 17
    "\U000e0fff",  # last of the reserved ignorable block
    "\U0001d173",  # musical symbol begin beam
    "\U000110bd",  # Kaithi number sign (Cf)
    "\x00",
    "\x1b",
    "\x85",
    "\u2028",
    "\u2029",
    "\u3000",
    "\ud800",  # a lone surrogate
]


@pytest.mark.parametrize("char", INVISIBLE_BY_NAME, ids=lambda char: f"U+{ord(char):04X}")
@pytest.mark.parametrize("place", ["a{}da@example.com", "ada{}@example.com", "ada@{}example.com", "ada@example.c{}om"])
def test_an_address_with_an_invisible_character_is_refused(char: str, place: str) -> None:
    with pytest.raises(ValueError, match=r"invisible|Not a valid email"):
        Email(place.format(char))


@pytest.mark.parametrize("category", ["Cc", "Cf", "Cs", "Zs", "Zl", "Zp"])
def test_every_control_format_surrogate_and_separator_is_invisible(category: str) -> None:
    chars = [chr(code) for code in range(sys.maxunicode + 1) if unicodedata.category(chr(code)) == category]

    assert chars
    assert all(map(is_invisible, chars))


@pytest.mark.parametrize("category", ["Lu", "Ll", "Lo", "Nd", "Pd", "Sm", "So", "Mn"])
def test_visible_characters_are_not_invisible(category: str) -> None:
    """Outside the ignorable ranges, letters, digits, punctuation, symbols and marks all show."""
    ignorable = {0x034F, 0x115F, 0x1160, 0x17B4, 0x17B5, 0x180B, 0x180C, 0x180D, 0x180F, 0x3164, 0xFFA0}
    chars = [
        chr(code)
        for code in range(0xE0000)
        if unicodedata.category(chr(code)) == category and code not in ignorable and not 0xFE00 <= code <= 0xFE0F
    ]

    assert chars
    assert not any(map(is_invisible, chars))


def test_the_published_email_pattern_excludes_exactly_the_invisible_characters() -> None:
    """The pattern clients read (``INVISIBLE_RANGES``) and the service's own rule agree on every code point."""
    published = {code for low, high in INVISIBLE_RANGES for code in range(low, high + 1)}
    refused = {code for code in range(sys.maxunicode + 1) if not 0xD800 <= code <= 0xDFFF and is_invisible(chr(code))}

    assert published == refused
    for code in (0x41, 0xE9, 0x1F600, *sorted(refused)[::97]):
        address = f"a{chr(code)}b@example.com"
        assert bool(re.match(EMAIL_PATTERN, address)) is (code not in refused), f"U+{code:04X}"
