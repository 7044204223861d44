"""The consumer process (``just consumer``): applies messages from queue ``app.inbound``.

Thin by design: parse the envelope, hand it to ``InboundMessages``, settle the message.

- applied, or a duplicate: acknowledged;
- poison (malformed JSON, unknown type, invalid data, unknown user): republished at once
  to ``app.inbound.dlq`` with the reason in the ``x-dead-letter-reason`` header, then
  acknowledged — the consumer keeps going;
- anything else (the database is down, a bug): requeued after a growing pause, and
  dead-lettered once it has been tried ``CONSUMER_MAX_RETRIES`` times.

``app.inbound`` is a quorum queue so that RabbitMQ counts redeliveries itself
(``x-delivery-count``), which survives consumer restarts and crashes.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

import msgspec
import structlog
from faststream import AckPolicy, FastStream
from faststream.rabbit import ExchangeType, QueueType, RabbitBroker, RabbitExchange, RabbitQueue
from faststream.rabbit.annotations import RabbitMessage

from app.application.inbound import PoisonMessage
from app.bootstrap import Container, build_container
from app.infrastructure.config import load_settings
from app.infrastructure.logging import configure_logging
from app.infrastructure.messaging.publisher import DEAD_LETTER_QUEUE, EVENTS, INBOUND_QUEUE

log = structlog.get_logger("app.consumer")

INBOUND = RabbitQueue(INBOUND_QUEUE, queue_type=QueueType.QUORUM, durable=True)
OUTBOUND_EVENTS = {
    "user.registered": "{user_id, email}",
    "user.profile_updated": "{user_id, changed}",
    "user.deactivated": "{user_id, reason}",
    "user.password_changed": "{user_id}",
    "user.role_changed": "{user_id, role}",
}
DEAD_LETTERS = RabbitQueue(DEAD_LETTER_QUEUE, durable=True)
_MAX_PAUSE_SECONDS = 10.0


class InboundEnvelope(msgspec.Struct):
    id: UUID
    type: str
    data: Any
    version: int = 1
    occurred_at: str | None = None


class InboundConsumer:
    def __init__(self, container: Container, broker: RabbitBroker) -> None:
        self._container = container
        self._broker = broker
        self._max_retries = container.settings.consumer_max_retries

    async def handle(self, message: RabbitMessage) -> None:
        raw: bytes = message.body
        try:
            envelope = msgspec.json.decode(raw, type=InboundEnvelope)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            await self._dead_letter(message, f"malformed envelope: {exc}")
            return
        log_context = {"message_id": str(envelope.id), "type": envelope.type}
        try:
            applied = await self._container.inbound.apply(envelope.id, envelope.type, envelope.data)
        except PoisonMessage as poison:
            await self._dead_letter(message, poison.reason)
            return
        except Exception as exc:  # noqa: BLE001 - anything not known to be permanent is retried
            await self._retry_or_give_up(message, exc, log_context)
            return
        log.info("inbound_applied" if applied else "inbound_duplicate", **log_context)
        await message.ack()

    async def _retry_or_give_up(self, message: RabbitMessage, error: Exception, context: dict[str, str]) -> None:
        delivered_before = message.raw_message.headers.get("x-delivery-count", 0)
        attempts = (delivered_before if isinstance(delivered_before, int) else 0) + 1
        if attempts > self._max_retries:
            await self._dead_letter(message, f"gave up after {attempts} attempts: {type(error).__name__}")
            return
        pause = min(0.2 * 2**attempts, _MAX_PAUSE_SECONDS)
        log.warning("inbound_retry", attempt=attempts, pause=pause, error=repr(error), **context)
        await asyncio.sleep(pause)
        await message.nack(requeue=True)

    async def _dead_letter(self, message: RabbitMessage, reason: str) -> None:
        log.warning("inbound_dead_lettered", reason=reason, message_id=message.message_id)
        await self._broker.publish(
            message.body,
            queue=DEAD_LETTERS,
            persist=True,
            message_id=message.message_id,
            content_type=message.content_type,
            headers={**(message.headers or {}), "x-dead-letter-reason": reason[:1000]},
            timeout=5.0,
        )
        await message.ack()


def _document_outbound_events(broker: RabbitBroker) -> None:
    """Declare what the relay publishes, so that the AsyncAPI document shows both directions.

    (The relay publishes through ``broker.publish``; these publisher objects only describe it.)
    """
    exchange = RabbitExchange(EVENTS, type=ExchangeType.TOPIC, durable=True)
    for event_type, data in OUTBOUND_EVENTS.items():
        broker.publisher(
            exchange=exchange,
            routing_key=event_type,
            title=f"{EVENTS}:{event_type}",
            description=f"Envelope {{id, type, occurred_at, version, data}}; data = {data}. "
            "Persistent, message_id = envelope id, published at least once after commit.",
        )


def create_app() -> FastStream:
    """``faststream run --factory app.interfaces.consumer:create_app`` (``just consumer``)."""
    settings = load_settings()
    configure_logging(settings)
    container = build_container(settings)
    broker = container.broker
    if not isinstance(broker, RabbitBroker):
        raise SystemExit("The consumer reads RabbitMQ: set BROKER_URL to an amqp:// URL.")
    consumer = InboundConsumer(container, broker)
    broker.subscriber(
        INBOUND,
        ack_policy=AckPolicy.MANUAL,
        title=INBOUND_QUEUE,
        description="Inbound commands: user.deactivate {user_id, reason}, user.meta.merge {user_id, meta}. "
        "Envelope {id, type, occurred_at, version, data}; each id is applied once; poison goes to "
        f"{DEAD_LETTER_QUEUE} with an x-dead-letter-reason header.",
    )(consumer.handle)
    _document_outbound_events(broker)

    @contextlib.asynccontextmanager
    async def lifespan() -> AsyncIterator[None]:
        relay = asyncio.create_task(container.relay.run(), name="outbox-relay")
        try:
            yield
        finally:
            relay.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await relay
            await container.close()

    async def declare_dead_letters() -> None:
        await broker.declare_queue(DEAD_LETTERS)

    return FastStream(broker, lifespan=lifespan, after_startup=[declare_dead_letters])
