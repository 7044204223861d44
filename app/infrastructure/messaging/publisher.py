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

if TYPE_CHECKING:
    from faststream.kafka import KafkaBroker
    from faststream.rabbit import RabbitBroker
    from faststream.redis import RedisBroker

EVENTS = "app.events"
INBOUND_QUEUE = "app.inbound"
DEAD_LETTER_QUEUE = "app.inbound.dlq"
PUBLISH_TIMEOUT_SECONDS = 5.0


class OneAtATime:
    """``publish_batch`` for brokers whose concurrent publishes could overtake one another.

    Each envelope is published only once the previous one is confirmed, so order holds
    whatever the client does with concurrent calls (a Redis pool spreads them over
    connections); the first failure ends the batch.
    """

    async def publish(self, envelope: dict[str, Any]) -> None:
        """Hand one envelope to the broker; return only once the broker has it."""
        raise NotImplementedError

    async def publish_batch(self, envelopes: Sequence[dict[str, Any]]) -> Confirmed:
        for count, envelope in enumerate(envelopes):
            try:
                await self.publish(envelope)
            except Exception as exc:  # noqa: BLE001 - the caller keeps what was confirmed and retries the rest
                return Confirmed(count, exc)
        return Confirmed(len(envelopes))


class RabbitPublisher:
    """Publishes a batch with pipelined confirms: one round trip for the batch, not one per event.

    Waiting for each confirm before the next publish held the relay to one event per
    broker round trip (a quorum queue confirms once its log is written); pipelined, a
    batch costs little more than writing it (docs/benchmarks.md has the figures).
    """

    def __init__(self, broker: RabbitBroker) -> None:
        from faststream.rabbit import ExchangeType, RabbitExchange  # noqa: PLC0415 - see broker.py

        self._broker = broker
        self._exchange = RabbitExchange(EVENTS, type=ExchangeType.TOPIC, durable=True)
        self._declared = False

    async def publish_batch(self, envelopes: Sequence[dict[str, Any]]) -> Confirmed:
        """Start every publish in order on the broker's one confirming channel, then await the confirms.

        Order on the wire is the order of ``envelopes``: the tasks start in that order, and
        with the connection up and the exchange declared (done first, here) each reaches the
        channel's first-come-first-served lock, which numbers and writes the frames, before
        it first waits for anything; while the connection is being restored they all wait
        for it in that same order. RabbitMQ routes one channel's messages in publish order.
        """
        try:
            await connect_broker(self._broker, PUBLISH_TIMEOUT_SECONDS)
            if not self._declared:
                await self._broker.declare_exchange(self._exchange)
                self._declared = True
        except Exception as exc:  # noqa: BLE001 - nothing sent: the whole batch is retried
            return Confirmed(0, exc)
        outcomes = await asyncio.gather(*(self._publish(envelope) for envelope in envelopes), return_exceptions=True)
        for count, outcome in enumerate(outcomes):
            if isinstance(outcome, Exception):
                return Confirmed(count, outcome)
            if isinstance(outcome, BaseException):
                raise outcome
        return Confirmed(len(envelopes))

    async def _publish(self, envelope: dict[str, Any]) -> None:
        await self._broker.publish(
            msgspec.json.encode(envelope),
            exchange=self._exchange,
            routing_key=envelope["type"],
            message_id=envelope["id"],
            persist=True,
            content_type="application/json",
            # An event nobody subscribed to is not an error: the exchange drops it.
            mandatory=False,
            timeout=PUBLISH_TIMEOUT_SECONDS,
        )


class KafkaPublisher(OneAtATime):
    def __init__(self, broker: KafkaBroker) -> None:
        self._broker = broker

    async def publish(self, envelope: dict[str, Any]) -> None:
        await connect_broker(self._broker, PUBLISH_TIMEOUT_SECONDS)
        await self._broker.publish(
            msgspec.json.encode(envelope),
            topic=EVENTS,
            key=envelope["type"].encode(),
            headers={"message_id": envelope["id"], "content-type": "application/json"},
        )


class RedisPublisher(OneAtATime):
    def __init__(self, broker: RedisBroker) -> None:
        self._broker = broker

    async def publish(self, envelope: dict[str, Any]) -> None:
        await connect_broker(self._broker, PUBLISH_TIMEOUT_SECONDS)
        await self._broker.publish(msgspec.json.encode(envelope), stream=EVENTS, headers={"message_id": envelope["id"]})


def create_publisher(broker: Broker) -> RabbitPublisher | KafkaPublisher | RedisPublisher:
    """The publisher for the broker's kind (each kind's library is imported only if it is the one)."""
    kind = broker_kind(broker)
    if kind == "rabbit":
        return RabbitPublisher(broker)  # type: ignore[arg-type]
    if kind == "kafka":
        return KafkaPublisher(broker)  # type: ignore[arg-type]
    return RedisPublisher(broker)  # type: ignore[arg-type]
