"""One inbound message, whatever the broker: decode, apply, and decide how it is settled.

The brokers differ only in how a message that failed for a transient reason is tried
again. RabbitMQ hands it back to the queue (``requeue``), which counts the deliveries
itself, so other messages go on meanwhile and a restart loses no count. Kafka and Redis
streams have no per-message requeue: the message is tried again in place, which also
keeps a partition's order.

Whatever the broker, a message ends in one of three ways: applied (or found to be a
duplicate), dead-lettered with a reason, or handed back for a later delivery.

``Batches`` gathers the messages a consumer holds at once (RabbitMQ's prefetch) and
applies the users' messages among them together in one transaction
(``InboundHandler.settle_many``); another context's messages (``task.create``) are
settled alone, through their own handler. A batch that
cannot be applied whole because of one message is rolled back and each of its messages is
then settled alone, in order, so a poison message holds back or dead-letters none of its
neighbours; a batch that fails for a transient reason is retried as each of its messages
would have been alone.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import msgspec
import structlog
from faststream import StreamMessage

from app.application.inbound import InboundMessages, PoisonMessage, UserMessage
from app.interfaces.consumer.metrics import MessageCounts

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


@dataclass(slots=True)
class Delivery:
    """One message held by the consumer, with how it is settled (see ``InboundHandler.settle``)."""

    body: bytes
    deliveries_before: int
    dead_letter: DeadLetter
    requeue: Requeue
    #: True once the message is done with (to acknowledge), False once handed back.
    settled: asyncio.Future[bool] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class InboundHandler:
    """Applies inbound envelopes through the use cases and settles each message once."""

    def __init__(self, inbound: InboundMessages, *, max_retries: int) -> None:
        self._inbound = inbound
        self._max_retries = max_retries
        self._counts = MessageCounts([message.type for message in inbound.messages])

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
                self._counts.count(_type_of(body), "dead_lettered")
                return True
            except _Transient as failure:
                settled = await self._after_failure(
                    failure.message_id, failure.__cause__, attempt, dead_letter, requeue, message_type=_type_of(body)
                )
                if settled is None:
                    continue
                return settled
            return True

    async def settle_many(self, deliveries: Sequence[Delivery]) -> None:
        """Settle messages held at once: applied together in one transaction where they can be.

        Each delivery's ``settled`` is resolved as ``settle`` would return for it alone.
        """
        together: list[tuple[Delivery, UUID, UserMessage]] = []
        alone: list[Delivery] = []
        for delivery in deliveries:
            try:
                envelope = _decode(delivery.body)
                payload = self._inbound.parse(envelope.type, envelope.data)
            except PoisonMessage:
                alone.append(delivery)  # settled alone, which dead-letters it with its reason
                continue
            if self._inbound.batchable(payload):
                together.append((delivery, envelope.id, payload))
            else:
                alone.append(delivery)  # another context's message: applied by its own handler
        if together:
            try:
                applied = await self._inbound.apply_batch(
                    [(message_id, payload) for _, message_id, payload in together]
                )
            except PoisonMessage as refused:
                log.info("inbound_batch_refused", messages=len(together), reason=refused.reason[:MAX_REASON_CHARS])
                alone[:0] = [delivery for delivery, _, _ in together]
            except Exception as exc:  # noqa: BLE001 - as for one message: anything not known to be permanent is retried
                await asyncio.gather(
                    *(self._retry_later(delivery, message_id, exc) for delivery, message_id, _ in together)
                )
            else:
                for (delivery, message_id, payload), new in zip(together, applied, strict=True):
                    self._applied(message_id, payload.type, applied=new)
                    delivery.settled.set_result(True)
        for delivery in alone:  # one after the other, in the order they came
            settled = await self.settle(
                delivery.body,
                deliveries_before=delivery.deliveries_before,
                dead_letter=delivery.dead_letter,
                requeue=delivery.requeue,
            )
            delivery.settled.set_result(settled)

    async def _retry_later(self, delivery: Delivery, message_id: UUID, error: Exception) -> None:
        attempt = delivery.deliveries_before + 1
        settled = await self._after_failure(
            message_id, error, attempt, delivery.dead_letter, delivery.requeue, message_type=_type_of(delivery.body)
        )
        delivery.settled.set_result(bool(settled))

    async def _after_failure(
        self,
        message_id: UUID,
        error: BaseException | None,
        attempt: int,
        dead_letter: DeadLetter,
        requeue: Requeue | None,
        *,
        message_type: str | None,
    ) -> bool | None:
        """After a transient failure: dead-lettered (True) once out of attempts, else a pause and
        then handed back (False), or None to try again in place when the broker has no requeue."""
        if attempt > self._max_retries:
            await dead_letter(f"gave up after {attempt} attempts: {type(error).__name__}")
            self._counts.count(message_type, "dead_lettered")
            return True
        self._counts.count(message_type, "retried")
        pause = retry_pause(attempt)
        log.warning("inbound_retry", message_id=str(message_id), attempt=attempt, pause=pause, error=repr(error))
        await asyncio.sleep(pause)
        if requeue is not None:
            await requeue()
            return False
        return None

    async def _apply(self, body: bytes) -> None:
        envelope = _decode(body)
        try:
            applied = await self._inbound.apply(envelope.id, envelope.type, envelope.data)
        except PoisonMessage:
            raise
        except Exception as exc:  # anything not known to be permanent is retried
            raise _Transient(envelope.id) from exc
        self._applied(envelope.id, envelope.type, applied=applied)

    def _applied(self, message_id: UUID, message_type: str, *, applied: bool) -> None:
        outcome = "applied" if applied else "duplicate"
        log.debug(f"inbound_{outcome}", message_id=str(message_id), type=message_type)
        self._counts.count(message_type, outcome)


def _type_of(body: bytes) -> str | None:
    """The envelope's type, for the metrics of a message that failed (None if the body is no envelope)."""
    try:
        return _decode(body).type
    except PoisonMessage:
        return None


class Batches:
    """Gathers the deliveries a consumer holds at once and settles them as batches, one batch at a time.

    A delivery waits while the batch before it is applied; whatever arrived meanwhile (up
    to ``max_size``) goes in the next batch. One batch at a time also keeps the messages of
    a user in the order they came.
    """

    def __init__(self, handler: InboundHandler, *, max_size: int) -> None:
        self._handler = handler
        self._max_size = max_size
        self._waiting: list[Delivery] = []
        self._worker: asyncio.Task[None] | None = None

    async def settle(self, body: bytes, *, deliveries_before: int, dead_letter: DeadLetter, requeue: Requeue) -> bool:
        """As ``InboundHandler.settle``, applied with the other deliveries held at the time."""
        delivery = Delivery(body, deliveries_before, dead_letter, requeue)
        self._waiting.append(delivery)
        if self._worker is None:
            self._worker = asyncio.create_task(self._work())
        return await delivery.settled

    async def _work(self) -> None:
        try:
            while self._waiting:
                await self._gather()
                batch = self._waiting[: self._max_size]
                del self._waiting[: self._max_size]
                try:
                    await self._handler.settle_many(batch)
                except Exception as exc:  # noqa: BLE001 - a bug: its deliveries fail as their handlers would have
                    for delivery in batch:
                        if not delivery.settled.done():
                            delivery.settled.set_exception(exc)
                except asyncio.CancelledError:  # the process is stopping: no delivery waits forever
                    for delivery in (*batch, *self._waiting):
                        delivery.settled.cancel()
                    raise
        finally:
            self._worker = None

    async def _gather(self) -> None:
        """Let the deliveries arriving now join the batch: turns of the event loop while each brings more.

        Costs one turn when nothing else is arriving; under load it fills the batch with
        what the broker has already sent instead of leaving it to the next round trip.
        """
        count = -1
        while count != len(self._waiting) and len(self._waiting) < self._max_size:
            count = len(self._waiting)
            await asyncio.sleep(0)


def _decode(body: bytes) -> InboundEnvelope:
    try:
        return msgspec.json.decode(body, type=InboundEnvelope)
    except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError) as exc:  # a string that is not UTF-8
        raise PoisonMessage(f"malformed envelope: {exc}") from None
