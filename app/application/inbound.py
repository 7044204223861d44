"""Messages other services send us (queue ``app.inbound``), applied at most once each.

The transport parses the envelope and settles the message; this module decides what a
message means. ``PoisonMessage`` is a message that can never succeed (unknown type,
invalid data, unknown user, deactivating the last active admin): it is dead-lettered at
once. Anything else that fails (``DependencyUnavailable``) is worth retrying.

The users' messages are applied here; another context's messages come with their own
handler (a :class:`ContextMessage`, such as the tasks' ``task.create``), registered by the
composition root, and are applied one at a time.

``apply_batch`` applies many of the users' messages in one transaction with set-based statements: one
inbox claim, one row lock, one statement per message type (per round, see ``_rounds``),
one commit. It refuses (``PoisonMessage``, everything rolled back) as soon as any message
could not be applied, so that its caller tries each message alone through ``apply``, the
reference for what a message does and why it is refused.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from typing import Annotated, Any, ClassVar, Protocol, TypeGuard
from uuid import UUID

import msgspec

from app.application.ports import Clock, UnitOfWork, UnitOfWorkFactory
from app.application.users.admins import LAST_ADMIN, end_access
from app.application.users.dto import TEXT_PATTERN, MetaField, check_meta
from app.domain.errors import Conflict, ValidationFailed
from app.domain.users.events import UserDeactivated, UserProfileUpdated
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


class ContextMessage(Protocol):
    """Another context's inbound message and how it is applied: once per message id (its own inbox
    claim, in the transaction of the change), ``PoisonMessage`` when it can never succeed."""

    @property
    def message(self) -> type[InboundMessage]: ...

    async def apply(self, message_id: UUID, payload: Any) -> bool:
        """Apply the parsed message; False when it had already been applied (a no-op)."""


UserMessage = DeactivateUser | MergeUserMeta


class InboundMessages:
    def __init__(self, *, uow: UnitOfWorkFactory, clock: Clock, handlers: Sequence[ContextMessage] = ()) -> None:
        self._uow = uow
        self._clock = clock
        own: Mapping[type[UserMessage], Callable[[UnitOfWork, User, Any], Awaitable[None]]] = {
            DeactivateUser: self._deactivate,
            MergeUserMeta: self._merge_meta,
        }
        self._handlers = {message.type: (message, handler) for message, handler in own.items()}
        self._others = {handler.message.type: handler for handler in handlers}
        self._types: dict[str, type[InboundMessage]] = {
            **{name: message for name, (message, _) in self._handlers.items()},
            **{name: handler.message for name, handler in self._others.items()},
        }

    @property
    def messages(self) -> tuple[type[InboundMessage], ...]:
        """The messages applied, for the AsyncAPI document."""
        return tuple(self._types.values())

    def parse(self, message_type: str, data: Any) -> InboundMessage:
        """The message's typed data; ``PoisonMessage`` for an unknown type or invalid data."""
        if message_type not in self._types:
            raise PoisonMessage(f"unknown type {message_type!r}")
        try:
            return msgspec.convert(data, self._types[message_type])
        except msgspec.ValidationError as exc:
            raise PoisonMessage(f"invalid data: {exc}") from None

    @staticmethod
    def batchable(payload: InboundMessage) -> TypeGuard[UserMessage]:
        """Whether ``apply_batch`` takes the message: the users' messages; others are applied alone."""
        return isinstance(payload, DeactivateUser | MergeUserMeta)

    async def apply(self, message_id: UUID, message_type: str, data: Any) -> bool:
        """Apply one message; returns False when it had already been applied (a no-op)."""
        payload = self.parse(message_type, data)
        if not self.batchable(payload):
            return await self._others[message_type].apply(message_id, payload)
        _, handler = self._handlers[message_type]
        async with self._uow() as uow:
            if not await uow.inbox.claim(message_id, message_type, self._clock()):
                return False
            user = await uow.users.get(payload.user_id, for_update=True)
            if user is None:
                raise PoisonMessage(f"unknown user {payload.user_id}")
            await handler(uow, user, payload)
            await uow.commit()
        return True

    async def apply_batch(self, messages: Sequence[tuple[UUID, UserMessage]]) -> list[bool]:
        """Apply parsed messages in one transaction, in their order; for each, whether it was applied.

        False: a duplicate (claimed before, or earlier in ``messages``). ``PoisonMessage`` if
        any of them cannot be applied (unknown user, meta out of bounds, the last active
        admin): nothing is kept, and each message is to be tried alone.
        """
        now = self._clock()
        async with self._uow() as uow:
            claimed = await uow.inbox.claim_many([(message_id, payload.type) for message_id, payload in messages], now)
            applied = []
            for message_id, _ in messages:
                applied.append(message_id in claimed)
                claimed.discard(message_id)  # a second copy further on is a duplicate
            fresh = [payload for (_, payload), new in zip(messages, applied, strict=True) if new]
            if fresh:
                await self._apply_together(uow, fresh, now)
            await uow.commit()
        return applied

    async def _apply_together(
        self, uow: UnitOfWork, messages: Sequence[DeactivateUser | MergeUserMeta], now: datetime
    ) -> None:
        users = {payload.user_id for payload in messages}
        missing = users - await uow.users.lock(users)
        if missing:
            raise PoisonMessage(f"unknown users {sorted(map(str, missing))}")
        admins_ended: set[UUID] = set()
        for round_ in _rounds(messages):
            merges = {payload.user_id: payload.meta for payload in round_ if isinstance(payload, MergeUserMeta)}
            for patch in merges.values():
                # Before any SQL: what PostgreSQL would refuse itself (NUL) must not read as an outage.
                check_meta_or_poison(patch)
            if merges:
                merged = await uow.users.merge_meta(merges, now)
                for meta in merged.values():
                    check_meta_or_poison(meta)
                uow.users.record(
                    UserProfileUpdated(user_id=user_id, occurred_at=now, changed=("meta",)) for user_id in merged
                )
            reasons = {payload.user_id: payload.reason for payload in round_ if isinstance(payload, DeactivateUser)}
            if reasons:
                ended = await uow.users.deactivate_many(reasons, now)
                # As ``end_access`` asks for each: only a batch that ends an admin asks the database.
                admins_ended.update(user_id for user_id, was_admin in ended.items() if was_admin)
                if any(ended.values()) and not await uow.users.another_active_admin(admins_ended):
                    raise PoisonMessage(f"refused: {LAST_ADMIN}")
                await uow.sessions.revoke_all(reasons, now)
                uow.users.record(
                    UserDeactivated(user_id=user_id, occurred_at=now, reason=reasons[user_id]) for user_id in ended
                )

    async def _deactivate(self, uow: UnitOfWork, user: User, payload: DeactivateUser) -> None:
        try:
            await end_access(uow, user, functools.partial(user.deactivate, reason=payload.reason), self._clock())
        except Conflict as refused:
            raise PoisonMessage(f"refused: {refused.detail}") from None

    async def _merge_meta(self, uow: UnitOfWork, user: User, payload: MergeUserMeta) -> None:
        merged = {**user.meta, **payload.meta}
        check_meta_or_poison(merged)
        user.update_profile({"meta": merged}, self._clock())
        await uow.users.save(user)


def check_meta_or_poison(merged: dict[str, Any]) -> None:
    """A merge's result within ``meta``'s bounds, or ``PoisonMessage`` naming where it breaks one."""
    try:
        check_meta(merged)
    except ValidationFailed as exc:
        reasons = "; ".join(f"{error.field}: {error.message}" for error in exc.errors)
        raise PoisonMessage(f"merged meta out of bounds: {reasons}") from None


def _rounds(messages: Sequence[DeactivateUser | MergeUserMeta]) -> list[list[DeactivateUser | MergeUserMeta]]:
    """The messages in rounds that hold at most one message per user: a user's n-th in round n.

    Each round's messages touch different users, so they apply as one statement per type,
    and a user's messages still apply one after the other, in the order they came.
    """
    rounds: list[list[DeactivateUser | MergeUserMeta]] = []
    seen: dict[UUID, int] = {}
    for payload in messages:
        index = seen.get(payload.user_id, 0)
        seen[payload.user_id] = index + 1
        if index == len(rounds):
            rounds.append([])
        rounds[index].append(payload)
    return rounds
