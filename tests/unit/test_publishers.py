"""Kafka and Redis publishing, on FastStream's in-memory test brokers (no such servers run here).

RabbitMQ publishing is tested against a real node (tests/e2e/test_events.py).
"""

from __future__ import annotations

import uuid
from typing import Any

import msgspec
from faststream.kafka import KafkaBroker, TestKafkaBroker
from faststream.kafka.annotations import KafkaMessage
from faststream.redis import RedisBroker, TestRedisBroker
from faststream.redis.annotations import RedisStreamMessage

from app.infrastructure.messaging.publisher import EVENTS, KafkaPublisher, RedisPublisher, create_publisher

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
