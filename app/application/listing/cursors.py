"""Opaque, signed keyset cursors: where the next page of one listing starts."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Callable, Mapping
from datetime import date, datetime
from types import MappingProxyType
from typing import Any
from uuid import UUID

import msgspec

from app.application.listing.spec import MAX_CURSOR_LENGTH, ListQuery

CURSOR_PATTERN = r"^[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+$"
_TOKEN = re.compile(CURSOR_PATTERN)


class InvalidCursor(ValueError):
    """A cursor that was not made by this service for this very listing."""


class _CursorBody(msgspec.Struct, forbid_unknown_fields=True):
    v: int
    b: str
    p: list[Any]


_CURSOR_VERSION = 1


class CursorCodec:
    """Opaque, signed keyset cursors.

    A cursor carries the sort values and id of the last row served. It is signed with
    HMAC-SHA256 so that a client cannot forge a position (a forged one could at worst skip
    rows, but a signature makes "opaque" a guarantee), and it carries a digest of the
    filters, ordering and ``include_deleted`` it was made for: reused with another listing
    it would silently point into a different order, so it is refused instead.
    """

    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("The cursor key must be at least 16 bytes")
        # A key of its own, derived from the service secret, so that a cursor signature can
        # never double as a signature of any other kind.
        self._key = hmac.new(key, b"app.listing.cursor.v1", hashlib.sha256).digest()

    def encode(self, query: ListQuery, position: tuple[Any, ...]) -> str:
        """The cursor of the page after the row at ``position`` (sort values, then id)."""
        body = _CursorBody(v=_CURSOR_VERSION, b=_binding(query), p=[_tag(value) for value in position])
        payload = _b64encode(msgspec.json.encode(body))
        token = f"{payload}.{self._sign(payload)}"
        if len(token) > MAX_CURSOR_LENGTH:  # sort keys are bounded columns: this is a bug, not input
            raise ValueError("Cursor longer than MAX_CURSOR_LENGTH")
        return token

    def decode(self, token: str, query: ListQuery) -> tuple[Any, ...]:
        """The position in ``token``; raises :class:`InvalidCursor` unless it was made for ``query``.

        ``query.after`` and ``query.limit``/``offset`` are ignored: a client may change the
        page size between pages.
        """
        body = self.verify(token)
        if body.b != _binding(query):
            raise InvalidCursor("This cursor belongs to a listing with other filters or ordering")
        if len(body.p) != len(query.ordering) + 1:
            raise InvalidCursor("Invalid cursor")
        return tuple(_untag(value) for value in body.p)

    def verify(self, token: str) -> _CursorBody:
        """Check the signature before reading anything inside the token."""
        if len(token) > MAX_CURSOR_LENGTH or not _TOKEN.match(token):
            raise InvalidCursor("Invalid cursor")
        payload, _, signature = token.partition(".")
        if not hmac.compare_digest(signature, self._sign(payload)):
            raise InvalidCursor("Invalid cursor")
        try:
            body = msgspec.json.decode(_b64decode(payload), type=_CursorBody)
        except (ValueError, msgspec.DecodeError) as exc:
            raise InvalidCursor("Invalid cursor") from exc
        if body.v != _CURSOR_VERSION:
            raise InvalidCursor("This cursor has expired; start from the first page")
        return body

    def _sign(self, payload: str) -> str:
        return _b64encode(hmac.new(self._key, payload.encode("ascii"), hashlib.sha256).digest())


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _binding(query: ListQuery) -> str:
    """A digest of what makes two listings the same order: filters (in any order), ordering, deleted rows."""
    filters = sorted(msgspec.json.encode([f.field, f.op.value, _tag(f.value)]) for f in query.filters)
    ordering = [[o.field, o.descending] for o in query.ordering]
    document = msgspec.json.encode([[f.decode() for f in filters], ordering, query.include_deleted])
    return _b64encode(hashlib.sha256(document).digest()[:18])


def _tag(value: Any) -> Any:
    """A JSON form that keeps the type, so that a datetime comes back a datetime, not a string."""
    if value is None:
        return None
    tagged: list[Any]
    if isinstance(value, bool):
        tagged = ["b", value]
    elif isinstance(value, int):
        tagged = ["i", value]
    elif isinstance(value, str):
        tagged = ["s", str(value)]
    elif isinstance(value, datetime):
        tagged = ["t", value.isoformat()]
    elif isinstance(value, date):
        tagged = ["d", value.isoformat()]
    elif isinstance(value, UUID):
        tagged = ["u", str(value)]
    elif isinstance(value, list | tuple):
        tagged = ["l", [_tag(item) for item in value]]
    else:
        raise TypeError(f"A {type(value).__name__} cannot be part of a cursor")
    return tagged


_UNTAG: Mapping[str, Callable[[Any], Any]] = MappingProxyType(
    {
        "b": bool,
        "i": int,
        "s": str,
        "t": datetime.fromisoformat,
        "d": date.fromisoformat,
        "u": UUID,
    }
)


def _untag(value: Any) -> Any:
    if value is None:
        return None
    try:
        tag, raw = value
        return _UNTAG[tag](raw)
    except (TypeError, ValueError, KeyError) as exc:
        raise InvalidCursor("Invalid cursor") from exc
