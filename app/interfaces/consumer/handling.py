"""One inbound message, whatever the broker: decode, apply, and decide how it is settled.

The brokers differ only in how a message that failed for a transient reason is tried
again. RabbitMQ hands it back to the queue (``requeue``), which counts the deliveries
itself, so other messages go on meanwhile and a restart loses no count. Kafka and Redis
streams have no per-message requeue: the message is tried again in place, which also
keeps a partition's order.

Whatever the broker, a message ends in one of three ways: applied (or found to be a
duplicate), dead-lettered with a reason, or handed back for a later delivery.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any
from uuid import UUID

import msgspec
import structlog
from faststream import StreamMessage

from app.application.inbound import InboundMessages, PoisonMessage

log = structlog.get_logger("app.consumer")

#: The longest pause between two attempts at a message that keeps failing.
MAX_RETRY_PAUSE_SECONDS = 10.0
#: Dead-letter reasons travel in a message header: bounded, whatever an error message says.
MAX_REASON_CHARS = 1000

DeadLetter = Callable[[str], Awaitable[None]]
Requeue = Callable[[], Awaitable[None]]
#: Run once the broker is connected (RabbitMQ declares the dead-letter queue).
StartupHook = Callable[[], Awaitable[None]]


class InboundEnvelope(msgspec.Struct):
    id: UUID
    type: str
    data: Any
    version: int = 1
    occurred_at: str | None = None


class _Transient(Exception):
    """A failure that may pass (the database is down, a bug being fixed): worth another attempt."""

    def __init__(self, message_id: UUID) -> None:
        super().__init__(str(message_id))
        self.message_id = message_id


async def raw_body(message: StreamMessage[Any]) -> bytes:
    """The subscribers' decoder: the body exactly as it came, whatever its headers claim.

    FastStream's own decoder goes by the content type, before any handler runs: a body that
    is not what ``application/json`` or ``text/plain`` promises fails there, and the message
    would be neither applied nor dead-lettered. Decoding belongs to ``InboundHandler``, which
    dead-letters whatever it cannot read.
    """
    return message.body


def retry_pause(attempt: int) -> float:
    """Exponential backoff after failed attempt number ``attempt`` (1-based): 0.4 s, 0.8 s, … up to 10 s."""
    return min(0.2 * 2.0**attempt, MAX_RETRY_PAUSE_SECONDS)


class InboundHandler:
    """Applies inbound envelopes through the use cases and settles each message once."""

    def __init__(self, inbound: InboundMessages, *, max_retries: int) -> None:
        self._inbound = inbound
        self._max_retries = max_retries

    async def settle(
        self,
        body: bytes,
        *,
        deliveries_before: int,
        dead_letter: DeadLetter,
        requeue: Requeue | None = None,
    ) -> bool:
        """Handle one delivery. True: the message is done with (the caller acknowledges it).
        False: it was handed back through ``requeue`` for a later delivery.

        ``deliveries_before`` is how often the broker delivered it before (RabbitMQ counts);
        without ``requeue`` a transient failure is retried here, after a pause.
        """
        attempt = deliveries_before
        while True:
            attempt += 1
            try:
                await self._apply(body)
            except PoisonMessage as poison:
                await dead_letter(poison.reason[:MAX_REASON_CHARS])
                return True
            except _Transient as failure:
                error = failure.__cause__
                if attempt > self._max_retries:
                    await dead_letter(f"gave up after {attempt} attempts: {type(error).__name__}")
                    return True
                pause = retry_pause(attempt)
                log.warning(
                    "inbound_retry", message_id=str(failure.message_id), attempt=attempt, pause=pause, error=repr(error)
                )
                await asyncio.sleep(pause)
                if requeue is not None:
                    await requeue()
                    return False
                continue
            return True

    async def _apply(self, body: bytes) -> None:
        try:
            envelope = msgspec.json.decode(body, type=InboundEnvelope)
        except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError) as exc:  # a string that is not UTF-8
            raise PoisonMessage(f"malformed envelope: {exc}") from None
        context = {"message_id": str(envelope.id), "type": envelope.type}
        try:
            applied = await self._inbound.apply(envelope.id, envelope.type, envelope.data)
        except PoisonMessage:
            raise
        except Exception as exc:  # anything not known to be permanent is retried
            raise _Transient(envelope.id) from exc
        log.info("inbound_applied" if applied else "inbound_duplicate", **context)
