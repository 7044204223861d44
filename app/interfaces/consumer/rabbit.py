"""RabbitMQ: quorum queue ``app.inbound``, dead letters in ``app.inbound.dlq``.

``app.inbound`` is a quorum queue so that RabbitMQ counts redeliveries itself
(``x-delivery-count``): the count survives consumer restarts and crashes, and a message
whose consumer died mid-handler (its connection dropped, no ack) is delivered again.
Up to ``CONSUMER_PREFETCH`` messages are held at once; those that arrive together are
applied as one batch, in one transaction (``handling.Batches``).
"""

from __future__ import annotations

from typing import Any

from faststream import AckPolicy
from faststream.rabbit import ExchangeType, QueueType, RabbitBroker, RabbitExchange, RabbitQueue
from faststream.rabbit.annotations import RabbitMessage
from faststream.rabbit.schemas import Channel

from app.infrastructure.config import Settings
from app.infrastructure.messaging.publisher import DEAD_LETTER_QUEUE, EVENTS, INBOUND_QUEUE
from app.interfaces.consumer.handling import Batches, InboundHandler, StartupHook, log
from app.interfaces.consumer.spec import BrokerSpec

INBOUND = RabbitQueue(INBOUND_QUEUE, queue_type=QueueType.QUORUM, durable=True)
DEAD_LETTERS = RabbitQueue(DEAD_LETTER_QUEUE, durable=True)
DEAD_LETTER_TIMEOUT_SECONDS = 5.0


async def the_message(message: RabbitMessage) -> RabbitMessage:
    """The subscriber's decoder: the message itself, handed to the handler as its argument.

    The handler needs the message (its body as it came, headers, acknowledgement). Asked
    for through FastStream's ``Context``, it would be resolved in a worker thread for every
    message (FastDepends runs synchronous resolvers there): a thread hop per message. Like
    ``handling.raw_body``, this leaves every byte of the body to ``InboundHandler``.
    """
    return message


def subscribe(broker: RabbitBroker, handler: InboundHandler, settings: Settings, spec: BrokerSpec) -> list[StartupHook]:
    """Consume ``app.inbound`` and describe ``app.events``; returns what to run once connected."""
    batches = Batches(handler, max_size=settings.consumer_prefetch)

    async def consume(delivered: Any) -> None:
        message: RabbitMessage = delivered  # see ``the_message``

        async def dead_letter(reason: str) -> None:
            log.warning("inbound_dead_lettered", reason=reason, message_id=message.message_id)
            await broker.publish(
                message.body,
                queue=DEAD_LETTERS,
                persist=True,
                message_id=message.message_id,
                content_type=message.content_type,
                headers={**(message.headers or {}), "x-dead-letter-reason": reason},
                timeout=DEAD_LETTER_TIMEOUT_SECONDS,
            )

        async def requeue() -> None:
            await message.nack(requeue=True)

        delivered_before = message.raw_message.headers.get("x-delivery-count", 0)
        if await batches.settle(
            message.body,
            deliveries_before=delivered_before if isinstance(delivered_before, int) else 0,
            dead_letter=dead_letter,
            requeue=requeue,
        ):
            await message.ack()

    broker.subscriber(
        INBOUND,
        channel=Channel(prefetch_count=settings.consumer_prefetch),
        ack_policy=AckPolicy.MANUAL,
        decoder=the_message,
        title=INBOUND_QUEUE,
        description=spec.inbound,
    )(consume)
    exchange = RabbitExchange(EVENTS, type=ExchangeType.TOPIC, durable=True)
    for event in spec.outbound:
        broker.publisher(
            exchange=exchange,
            routing_key=event.routing_key,
            title=f"{EVENTS}:{event.routing_key}",
            description=event.description,
            schema=event.schema,
        )

    async def declare_dead_letters() -> None:
        await broker.declare_queue(DEAD_LETTERS)

    return [declare_dead_letters]
