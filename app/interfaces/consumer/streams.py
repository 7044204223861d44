"""Kafka and Redis streams: topic or stream ``app.inbound``, dead letters in ``app.inbound.dlq``.

Both are logs read by a consumer group, without a per-message requeue: a message that
failed for a transient reason is tried again in place (see ``handling``), and the
group's position moves past it only once it is settled (manual acknowledgement). A
consumer that dies mid-handler leaves it unacknowledged, so it is delivered again:

- Kafka: the group's committed offset did not move; the partition's next owner
  re-reads from there.
- Redis: the entry stays pending in the group; a second subscriber of every consumer
  claims entries left pending longer than ``CONSUMER_STALE_SECONDS`` (``XAUTOCLAIM``).

Messages are handled one at a time per partition or stream, in order.
"""

from __future__ import annotations

import dataclasses
import os
import socket
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, Any

from faststream import AckPolicy, Context, StreamMessage

from app.infrastructure.config import Settings
from app.infrastructure.messaging.publisher import DEAD_LETTER_QUEUE, EVENTS, INBOUND_QUEUE
from app.interfaces.consumer.handling import InboundHandler, StartupHook, log, raw_body
from app.interfaces.consumer.spec import BrokerSpec

if TYPE_CHECKING:
    from faststream.kafka import KafkaBroker
    from faststream.redis import RedisBroker

#: The consumer group every consumer process joins: together they read each message once.
CONSUMER_GROUP = "app.consumer"


#: What a consumer of either broker is given: the message itself, not its decoded body.
InboundMessage = Annotated[StreamMessage[Any], Context("message")]
PublishDeadLetter = Callable[[bytes, dict[str, str]], Awaitable[object]]


def _consume_in_place(
    handler: InboundHandler, publish_dead_letter: PublishDeadLetter
) -> Callable[..., Awaitable[None]]:
    """A subscriber that settles each message before acknowledging it, retrying in place."""

    async def consume(message: InboundMessage) -> None:
        async def dead_letter(reason: str) -> None:
            log.warning("inbound_dead_lettered", reason=reason, message_id=message.message_id)
            headers = {key: str(value) for key, value in (message.headers or {}).items()}
            await publish_dead_letter(message.body, {**headers, "x-dead-letter-reason": reason})

        await handler.settle(message.body, deliveries_before=0, dead_letter=dead_letter)
        await message.ack()

    return consume


async def headers_as_text(record: Any, parse: Callable[[Any], Awaitable[StreamMessage[Any]]]) -> StreamMessage[Any]:
    """FastStream's Kafka parser, given header values it can read whatever a publisher sent.

    ``record`` is aiokafka's ``ConsumerRecord`` (a dataclass; aiokafka ships no types).

    It decodes every header value as UTF-8, before any handler runs; Kafka allows any bytes
    (and none), so a binary header (a tracing id, say) would fail the message there, and
    the next acknowledgement would move the group past it: lost, not dead-lettered. Bytes
    that are not UTF-8 reach the handler (and a dead letter) as backslash escapes.
    """
    headers = [(key, (value or b"").decode(errors="backslashreplace").encode()) for key, value in record.headers]
    return await parse(dataclasses.replace(record, headers=headers))


def subscribe_kafka(
    broker: KafkaBroker, handler: InboundHandler, settings: Settings, spec: BrokerSpec
) -> list[StartupHook]:
    async def publish_dead_letter(body: bytes, headers: dict[str, str]) -> object:
        return await broker.publish(body, topic=DEAD_LETTER_QUEUE, headers=headers)

    broker.subscriber(
        INBOUND_QUEUE,
        group_id=CONSUMER_GROUP,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.MANUAL,
        parser=headers_as_text,
        decoder=raw_body,
        title=INBOUND_QUEUE,
        description=spec.inbound,
    )(_consume_in_place(handler, publish_dead_letter))
    for event in spec.outbound:
        broker.publisher(
            EVENTS, title=f"{EVENTS}:{event.routing_key}", description=event.description, schema=event.schema
        )
    return []


def subscribe_redis(
    broker: RedisBroker, handler: InboundHandler, settings: Settings, spec: BrokerSpec
) -> list[StartupHook]:
    from faststream.redis import StreamSub  # noqa: PLC0415 - imported once Redis is the broker

    async def publish_dead_letter(body: bytes, headers: dict[str, str]) -> object:
        return await broker.publish(body, stream=DEAD_LETTER_QUEUE, headers=headers)

    # A name of its own per process: the group tells its consumers' pending entries apart by name.
    name = f"{socket.gethostname()}-{os.getpid()}"
    broker.subscriber(
        stream=StreamSub(INBOUND_QUEUE, group=CONSUMER_GROUP, consumer=name),
        ack_policy=AckPolicy.MANUAL,
        decoder=raw_body,
        title=INBOUND_QUEUE,
        description=spec.inbound,
    )(_consume_in_place(handler, publish_dead_letter))
    stale_ms = int(settings.consumer_stale_seconds * 1000)
    broker.subscriber(
        stream=StreamSub(INBOUND_QUEUE, group=CONSUMER_GROUP, consumer=f"{name}-reclaim", min_idle_time=stale_ms),
        ack_policy=AckPolicy.MANUAL,
        decoder=raw_body,
        include_in_schema=False,
    )(_consume_in_place(handler, publish_dead_letter))
    for event in spec.outbound:
        broker.publisher(
            stream=EVENTS, title=f"{EVENTS}:{event.routing_key}", description=event.description, schema=event.schema
        )
    return []
