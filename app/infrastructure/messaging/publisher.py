"""Publishing envelopes through the configured FastStream broker, and where they go.

RabbitMQ: topic exchange ``app.events``, routing key = event type, ``message_id`` =
envelope id, persistent, confirmed by the broker. Kafka: topic ``app.events`` keyed by
type. Redis: stream ``app.events``.

The relay hands over a batch at a time (``publish_batch``) and learns how many envelopes,
counted from the first, the broker confirmed: those are published, the rest are retried.
RabbitMQ pipelines a batch (every publish is on the wire before the first confirm is
awaited); Kafka and Redis publish one envelope after the other.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import msgspec

from app.infrastructure.messaging.broker import Broker, broker_kind, connect_broker
from app.infrastructure.outbox.destination import Confirmed
from app.infrastructure.outbox.tracing import TraceHeaders

if TYPE_CHECKING:
    from aio_pika import RobustExchange
    from aiormq.abc import AbstractChannel
    from faststream.kafka import KafkaBroker
    from faststream.rabbit import RabbitBroker
    from faststream.redis import RedisBroker

EVENTS = "app.events"
INBOUND_QUEUE = "app.inbound"
DEAD_LETTER_QUEUE = "app.inbound.dlq"
PUBLISH_TIMEOUT_SECONDS = 5.0
_PERSISTENT = 2  # AMQP delivery mode: written to disk by durable queues


class OneAtATime:
    """``publish_batch`` for brokers whose concurrent publishes could overtake one another.

    Each envelope is published only once the previous one is confirmed, so order holds
    whatever the client does with concurrent calls (a Redis pool spreads them over
    connections); the first failure ends the batch.
    """

    async def publish(self, envelope: dict[str, Any], trace: TraceHeaders | None = None) -> None:
        """Hand one envelope (its message carrying ``trace``) to the broker; return only once the broker has it."""
        raise NotImplementedError

    async def publish_batch(
        self, envelopes: Sequence[dict[str, Any]], headers: Sequence[TraceHeaders] | None = None
    ) -> Confirmed:
        for count, envelope in enumerate(envelopes):
            try:
                await self.publish(envelope, headers[count] if headers else None)
            except Exception as exc:  # noqa: BLE001 - the caller keeps what was confirmed and retries the rest
                return Confirmed(count, exc)
        return Confirmed(len(envelopes))


class RabbitPublisher:
    """Publishes a batch with pipelined confirms: one round trip for the batch, not one per event.

    Waiting for each confirm before the next publish held the relay to one event per
    broker round trip (a quorum queue confirms once its log is written); pipelined, a
    batch costs little more than writing it (docs/benchmarks.md has the figures).

    The frames go straight to the AMQP channel (aiormq, under FastStream and aio-pika):
    FastStream's publish pipeline (its middlewares, a publish command, an aio-pika message
    per envelope) cost more CPU than the framing itself and added nothing an envelope
    needs. The channel is the broker's own confirming one, so a publish here is confirmed
    exactly as FastStream's would be, and it is restored with the broker's robust connection.
    So FastStream's telemetry middleware never sees these messages: with tracing on, the
    relay hands each one its trace-context headers (W3C ``traceparent``), set here.
    """

    def __init__(self, broker: RabbitBroker) -> None:
        from faststream.rabbit import ExchangeType, RabbitExchange  # noqa: PLC0415 - see broker.py
        from pamqp.commands import Basic  # noqa: PLC0415 - likewise

        self._broker = broker
        self._exchange = RabbitExchange(EVENTS, type=ExchangeType.TOPIC, durable=True)
        self._declared: RobustExchange | None = None
        self._properties = Basic.Properties

    async def publish_batch(
        self, envelopes: Sequence[dict[str, Any]], headers: Sequence[TraceHeaders] | None = None
    ) -> Confirmed:
        """Start every publish in order on the broker's one confirming channel, then await the confirms.

        Order on the wire is the order of ``envelopes``: the tasks start in that order, and
        with the channel open (awaited first, here) each reaches the channel's
        first-come-first-served lock, which numbers and writes the frames, before it first
        waits for anything. RabbitMQ routes one channel's messages in publish order.
        """
        try:
            channel = await self._channel()
        except Exception as exc:  # noqa: BLE001 - nothing sent: the whole batch is retried
            return Confirmed(0, exc)
        traces: Sequence[TraceHeaders | None] = headers or [None] * len(envelopes)
        outcomes = await asyncio.gather(
            *(self._publish(channel, envelope, trace) for envelope, trace in zip(envelopes, traces, strict=True)),
            return_exceptions=True,
        )
        for count, outcome in enumerate(outcomes):
            if isinstance(outcome, Exception):
                return Confirmed(count, outcome)
            if isinstance(outcome, BaseException):
                raise outcome
        return Confirmed(len(envelopes))

    async def _channel(self) -> AbstractChannel:
        """The open confirming channel, the connection (re)established and the exchange declared first."""
        await connect_broker(self._broker, PUBLISH_TIMEOUT_SECONDS)
        if self._declared is None:
            self._declared = await self._broker.declare_exchange(self._exchange)
        async with asyncio.timeout(PUBLISH_TIMEOUT_SECONDS):  # a robust connection may be reconnecting
            return await self._declared.channel.get_underlay_channel()

    async def _publish(self, channel: AbstractChannel, envelope: dict[str, Any], trace: TraceHeaders | None) -> None:
        await channel.basic_publish(
            msgspec.json.encode(envelope),
            exchange=EVENTS,
            routing_key=envelope["type"],
            properties=self._properties(
                message_id=envelope["id"],
                content_type="application/json",
                delivery_mode=_PERSISTENT,
                headers=dict(trace) if trace else None,
            ),
            # An event nobody subscribed to is not an error: the exchange drops it.
            mandatory=False,
            timeout=PUBLISH_TIMEOUT_SECONDS,
        )


class KafkaPublisher(OneAtATime):
    def __init__(self, broker: KafkaBroker) -> None:
        self._broker = broker

    async def publish(self, envelope: dict[str, Any], trace: TraceHeaders | None = None) -> None:
        await connect_broker(self._broker, PUBLISH_TIMEOUT_SECONDS)
        await self._broker.publish(
            msgspec.json.encode(envelope),
            topic=EVENTS,
            key=envelope["type"].encode(),
            headers={"message_id": envelope["id"], "content-type": "application/json", **(trace or {})},
        )


class RedisPublisher(OneAtATime):
    def __init__(self, broker: RedisBroker) -> None:
        self._broker = broker

    async def publish(self, envelope: dict[str, Any], trace: TraceHeaders | None = None) -> None:
        await connect_broker(self._broker, PUBLISH_TIMEOUT_SECONDS)
        await self._broker.publish(
            msgspec.json.encode(envelope), stream=EVENTS, headers={"message_id": envelope["id"], **(trace or {})}
        )


def create_publisher(broker: Broker) -> RabbitPublisher | KafkaPublisher | RedisPublisher:
    """The publisher for the broker's kind (each kind's library is imported only if it is the one)."""
    kind = broker_kind(broker)
    if kind == "rabbit":
        return RabbitPublisher(broker)  # type: ignore[arg-type]
    if kind == "kafka":
        return KafkaPublisher(broker)  # type: ignore[arg-type]
    return RedisPublisher(broker)  # type: ignore[arg-type]
