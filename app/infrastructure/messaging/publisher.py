"""Publishing envelopes through the configured FastStream broker, and where they go.

RabbitMQ: topic exchange ``app.events``, routing key = event type, ``message_id`` =
envelope id, persistent, confirmed by the broker before ``publish`` returns. Kafka: topic
``app.events`` keyed by type. Redis: stream ``app.events``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec

from app.infrastructure.messaging.broker import Broker, connect_broker

if TYPE_CHECKING:
    from faststream.kafka import KafkaBroker
    from faststream.rabbit import RabbitBroker
    from faststream.redis import RedisBroker

EVENTS = "app.events"
INBOUND_QUEUE = "app.inbound"
DEAD_LETTER_QUEUE = "app.inbound.dlq"
PUBLISH_TIMEOUT_SECONDS = 5.0


class RabbitPublisher:
    def __init__(self, broker: RabbitBroker) -> None:
        from faststream.rabbit import ExchangeType, RabbitExchange  # noqa: PLC0415 - see broker.py

        self._broker = broker
        self._exchange = RabbitExchange(EVENTS, type=ExchangeType.TOPIC, durable=True)
        self._declared = False

    async def publish(self, envelope: dict[str, Any]) -> None:
        await connect_broker(self._broker, PUBLISH_TIMEOUT_SECONDS)
        if not self._declared:
            await self._broker.declare_exchange(self._exchange)
            self._declared = True
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


class KafkaPublisher:
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


class RedisPublisher:
    def __init__(self, broker: RedisBroker) -> None:
        self._broker = broker

    async def publish(self, envelope: dict[str, Any]) -> None:
        await connect_broker(self._broker, PUBLISH_TIMEOUT_SECONDS)
        await self._broker.publish(msgspec.json.encode(envelope), stream=EVENTS, headers={"message_id": envelope["id"]})


def create_publisher(broker: Broker) -> RabbitPublisher | KafkaPublisher | RedisPublisher:
    """The publisher for the broker's kind (each kind's library is imported only if it is the one)."""
    kind = type(broker).__module__.split(".")[1]
    if kind == "rabbit":
        return RabbitPublisher(broker)  # type: ignore[arg-type]
    if kind == "kafka":
        return KafkaPublisher(broker)  # type: ignore[arg-type]
    return RedisPublisher(broker)  # type: ignore[arg-type]
