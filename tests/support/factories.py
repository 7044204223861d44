"""Test data factories (polyfactory): valid request bodies and user entities, varied per build.

Each factory fills a body as a client could send it: a unique address, a password within
the bounds, names from Faker. Fields whose rules are patterns (phone, URL) are left out
unless a test asks for them, since a random string would rarely match. Tests pass any value
they assert on (``SignUpBodyFactory.build(email="ada@example.com")``).
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

import uuid_utils.compat as uuid_utils
from polyfactory import Use
from polyfactory.factories.msgspec_factory import MsgspecFactory

from app.application.users.dto import AdminUserCreate, SignUpBody
from app.domain.users.model import User
from app.domain.users.values import Email, Role

PASSWORD = "correct horse battery staple"
_serial = itertools.count(1)


def unique_email() -> str:
    """Distinct for the whole test run, whatever the case folding."""
    return f"user{next(_serial)}@example.com"


class SignUpBodyFactory(MsgspecFactory[SignUpBody]):
    email = Use(unique_email)
    password = PASSWORD
    first_name = Use(MsgspecFactory.__faker__.first_name)
    last_name = Use(MsgspecFactory.__faker__.last_name)


class AdminUserCreateFactory(MsgspecFactory[AdminUserCreate]):
    """A user as an administrator creates one: by default an ordinary user without a password."""

    email = Use(unique_email)
    password = None
    role = Role.USER
    first_name = Use(MsgspecFactory.__faker__.first_name)
    last_name = Use(MsgspecFactory.__faker__.last_name)
    phone = None
    birthday = None
    photo_url = None
    address = None
    meta: Use[[], dict[str, Any]] = Use(dict)


def build_user(*, email: str | None = None, now: datetime | None = None, **fields: Any) -> User:
    """A registered user entity (with its registration event), as the sign-up use case makes one."""
    return User.register(
        id=uuid_utils.uuid7(),
        email=Email(email or unique_email()),
        password_hash=fields.pop("password_hash", "hash"),
        now=now or datetime.now(UTC),
        **fields,
    )
