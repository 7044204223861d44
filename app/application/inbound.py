"""Messages other services send us (queue ``app.inbound``), applied at most once each.

The transport parses the envelope and settles the message; this module decides what a
message means. ``PoisonMessage`` is a message that can never succeed (unknown type,
invalid data, unknown user, deactivating the last active admin): it is dead-lettered at
once. Anything else that fails (``DependencyUnavailable``) is worth retrying.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Mapping
from typing import Annotated, Any, ClassVar
from uuid import UUID

import msgspec

from app.application.ports import Clock, UnitOfWork, UnitOfWorkFactory
from app.application.users.admins import end_access
from app.application.users.dto import TEXT_PATTERN, MetaField, check_meta
from app.domain.errors import Conflict, ValidationFailed
from app.domain.users.model import User


class PoisonMessage(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class InboundMessage(msgspec.Struct, forbid_unknown_fields=True):
    """A message's ``data``, typed; ``type`` is the envelope's, the one place the name is written."""

    type: ClassVar[str]


class DeactivateUser(InboundMessage):
    type: ClassVar[str] = "user.deactivate"
    user_id: UUID
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=200, pattern=TEXT_PATTERN)]


class MergeUserMeta(InboundMessage):
    type: ClassVar[str] = "user.meta.merge"
    user_id: UUID
    meta: MetaField


class InboundMessages:
    def __init__(self, *, uow: UnitOfWorkFactory, clock: Clock) -> None:
        self._uow = uow
        self._clock = clock
        handlers: Mapping[type[DeactivateUser | MergeUserMeta], Callable[[UnitOfWork, User, Any], Awaitable[None]]] = {
            DeactivateUser: self._deactivate,
            MergeUserMeta: self._merge_meta,
        }
        self._handlers = {message.type: (message, handler) for message, handler in handlers.items()}

    @property
    def messages(self) -> tuple[type[InboundMessage], ...]:
        """The messages applied, for the AsyncAPI document."""
        return tuple(message for message, _ in self._handlers.values())

    async def apply(self, message_id: UUID, message_type: str, data: Any) -> bool:
        """Apply one message; returns False when it had already been applied (a no-op)."""
        if message_type not in self._handlers:
            raise PoisonMessage(f"unknown type {message_type!r}")
        schema, handler = self._handlers[message_type]
        try:
            payload = msgspec.convert(data, schema)
        except msgspec.ValidationError as exc:
            raise PoisonMessage(f"invalid data: {exc}") from None
        async with self._uow() as uow:
            if not await uow.inbox.claim(message_id, message_type, self._clock()):
                return False
            user = await uow.users.get(payload.user_id, for_update=True)
            if user is None:
                raise PoisonMessage(f"unknown user {payload.user_id}")
            await handler(uow, user, payload)
            await uow.commit()
        return True

    async def _deactivate(self, uow: UnitOfWork, user: User, payload: DeactivateUser) -> None:
        try:
            await end_access(uow, user, functools.partial(user.deactivate, reason=payload.reason), self._clock())
        except Conflict as refused:
            raise PoisonMessage(f"refused: {refused.detail}") from None

    async def _merge_meta(self, uow: UnitOfWork, user: User, payload: MergeUserMeta) -> None:
        merged = {**user.meta, **payload.meta}
        try:
            check_meta(merged)
        except ValidationFailed as exc:
            reasons = "; ".join(f"{error.field}: {error.message}" for error in exc.errors)
            raise PoisonMessage(f"merged meta out of bounds: {reasons}") from None
        user.update_profile({"meta": merged}, self._clock())
        await uow.users.save(user)
