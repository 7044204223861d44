"""Entities to rows and back by msgspec conversion: each side names its fields once.

An entity's fields are written in the domain, a table's columns in ``models``; between
the two nothing is listed again. Reading converts the row's attributes into the entity's
declared types (JSON objects into value objects, strings into enums); writing turns the
entity's stored fields into column values (value objects into JSON objects, enums into
their values). ``tests/unit/test_field_lists.py`` checks that the lists agree.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields
from datetime import date, datetime
from typing import Any, TypeVar, cast
from uuid import UUID

import msgspec
from sqlalchemy import Column, Row
from sqlalchemy.orm import DeclarativeBase

from app.domain.auth.model import AccountToken, ApiKey, RefreshToken, Session
from app.domain.users.model import User
from app.infrastructure.db.models import AccountTokenModel, ApiKeyModel, RefreshTokenModel, SessionModel, UserModel

#: Column values the database driver takes as they are; everything else becomes JSON's types.
_AS_IS = (datetime, date, UUID)


def stored_fields(entity_type: type[Any], model_type: type[DeclarativeBase]) -> tuple[str, ...]:
    """The entity's fields that its table stores (a user's pending events are not among them)."""
    columns = model_type.__table__.columns
    return tuple(field.name for field in fields(entity_type) if field.name in columns)


Entity = TypeVar("Entity")

USER_COLUMNS = stored_fields(User, UserModel)
SESSION_COLUMNS = stored_fields(Session, SessionModel)
API_KEY_COLUMNS = stored_fields(ApiKey, ApiKeyModel)
REFRESH_TOKEN_COLUMNS = stored_fields(RefreshToken, RefreshTokenModel)
ACCOUNT_TOKEN_COLUMNS = stored_fields(AccountToken, AccountTokenModel)


def from_row(row: object, entity_type: type[Entity]) -> Entity:
    """The entity whose fields are read, by name, off a model instance or a result row."""
    return msgspec.convert(row, entity_type, from_attributes=True)


def row_columns(model_type: type[DeclarativeBase], names: tuple[str, ...]) -> tuple[Column[Any], ...]:
    """The table columns an entity is read from: selecting them gives Core rows, not ORM entities."""
    columns = model_type.__table__.columns
    return tuple(cast("Column[Any]", columns[name]) for name in names)


def from_columns(row: Row[Any], columns: tuple[Column[Any], ...], entity_type: type[Entity]) -> Entity:
    """The entity read off ``columns`` of a Core row that holds other tables' columns too (a join)."""
    values = row._mapping
    return msgspec.convert({column.name: values[column] for column in columns}, entity_type)


def from_rows(rows: Sequence[Row[Any]], entity_type: type[Entity]) -> list[Entity]:
    """The entities of Core result rows in one conversion: a page of rows, no ORM entity between.

    Each row goes as its dict: read by attribute, every entity field the row lacks (a
    user's private pending events) would cost the row a raised and caught lookup error.
    """
    return msgspec.convert([row._asdict() for row in rows], list[entity_type])  # type: ignore[valid-type]


def to_row(entity: object, columns: tuple[str, ...]) -> dict[str, Any]:
    """The column values of an entity, by the names of its stored fields."""
    values: dict[str, Any] = msgspec.to_builtins(
        {name: getattr(entity, name) for name in columns}, builtin_types=_AS_IS
    )
    return values


def user_from_model(model: UserModel) -> User:
    return from_row(model, User)
