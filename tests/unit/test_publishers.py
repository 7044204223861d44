"""Kafka and Redis publishing on FastStream's in-memory test brokers; RabbitMQ batches on a fake channel.

No Kafka or Redis server runs here; RabbitMQ publishing is tested against a real node too
(tests/e2e/test_events.py).
"""

from __future__ import annotations

import uuid
from typing import Any

import msgspec
from faststream.kafka import KafkaBroker, TestKafkaBroker
from faststream.kafka.annotations import KafkaMessage
from faststream.rabbit import RabbitBroker
from faststream.redis import RedisBroker, TestRedisBroker
from faststream.redis.annotations import RedisStreamMessage

from app.infrastructure.messaging.publisher import (
    EVENTS,
    KafkaPublisher,
    RabbitPublisher,
    RedisPublisher,
    create_publisher,
)
from app.infrastructure.outbox.destination import Confirmed

ENVELOPE: dict[str, Any] = {
    "id": str(uuid.uuid4()),
    "type": "user.registered",
    "occurred_at": "2026-11-22T00:00:00Z",
    "version": 1,
    "data": {"user_id": str(uuid.uuid4()), "email": "ada@example.com"},
}


async def test_kafka_events_go_to_the_topic_keyed_by_type() -> None:
    broker = KafkaBroker("localhost:9092")
    received: list[tuple[bytes, bytes | None, dict[str, Any]]] = []

    @broker.subscriber(EVENTS)
    async def collect(message: KafkaMessage) -> None:
        raw = message.raw_message
        assert not isinstance(raw, tuple)  # one record, not a batch
        received.append((message.body, raw.key, message.headers))

    async with TestKafkaBroker(broker):
        publisher = create_publisher(broker)
        assert isinstance(publisher, KafkaPublisher)
        await publisher.publish(ENVELOPE)

    ((body, key, headers),) = received
    assert msgspec.json.decode(body) == ENVELOPE
    assert key == b"user.registered"
    assert headers["message_id"] == ENVELOPE["id"]


async def test_redis_events_go_to_the_stream() -> None:
    broker = RedisBroker("redis://localhost:6379")
    received: list[tuple[bytes, dict[str, Any]]] = []

    @broker.subscriber(stream=EVENTS)
    async def collect(message: RedisStreamMessage) -> None:
        received.append((message.body, message.headers))

    async with TestRedisBroker(broker):
        publisher = create_publisher(broker)
        assert isinstance(publisher, RedisPublisher)
        await publisher.publish(ENVELOPE)

    ((body, headers),) = received
    assert msgspec.json.decode(body) == ENVELOPE
    assert headers["message_id"] == ENVELOPE["id"]


class FakeChannel:
    """An AMQP channel that confirms every publish but the one carrying ``n == 3`` (what aiormq is called with)."""

    def __init__(self) -> None:
        self.delivered: list[int] = []
        self.published: list[tuple[str, str, Any]] = []

    async def basic_publish(self, body: bytes, *, exchange: str, routing_key: str, properties: Any, **_: Any) -> None:
        n = msgspec.json.decode(body)["data"]["n"]
        self.published.append((exchange, routing_key, properties))
        if n == 3:
            raise ConnectionError("broker went away")
        self.delivered.append(n)


class ChannelPublisher(RabbitPublisher):
    def __init__(self, channel: FakeChannel) -> None:
        super().__init__(RabbitBroker("amqp://localhost:5672/"))
        self.fake = channel

    async def _channel(self) -> Any:
        return self.fake


async def test_a_rabbit_batch_counts_only_what_precedes_a_failure() -> None:
    """The whole batch is in flight at once; a publish that fails ends what counts as confirmed,
    even though later ones went through (the relay retries them: at least once)."""
    channel = FakeChannel()
    publisher = ChannelPublisher(channel)
    batch = [{**ENVELOPE, "id": str(uuid.uuid4()), "data": {"n": n}} for n in range(6)]

    confirmed = await publisher.publish_batch(batch)
    assert await publisher.publish_batch(batch[:3]) == Confirmed(3)

    assert confirmed.count == 3
    assert isinstance(confirmed.error, ConnectionError)
    assert channel.delivered == [0, 1, 2, 4, 5, 0, 1, 2]  # Started in batch order.
    exchange, routing_key, properties = channel.published[0]
    assert (exchange, routing_key) == (EVENTS, "user.registered")
    assert properties.message_id == batch[0]["id"]
    assert (properties.delivery_mode, properties.content_type) == (2, "application/json")


async def test_a_rabbit_batch_is_retried_whole_when_no_channel_opens() -> None:
    """Nothing was sent: the count is 0 and the error is the connection's."""

    class Unreachable(RabbitPublisher):
        async def _channel(self) -> Any:
            raise TimeoutError

    confirmed = await Unreachable(RabbitBroker("amqp://localhost:5672/")).publish_batch([ENVELOPE])

    assert confirmed.count == 0
    assert isinstance(confirmed.error, TimeoutError)
