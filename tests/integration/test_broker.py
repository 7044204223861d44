"""The broker: chosen by ``BROKER_URL``'s scheme, and against a real RabbitMQ node.

Kafka and Redis brokers are only constructed here (no servers); RabbitMQ is exercised for
real: topology, persistent publishing with confirms, dead-lettering, an outage and the
readiness probe that reports it.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import aio_pika
import pytest
from faststream.kafka import KafkaBroker
from faststream.rabbit import ExchangeType, RabbitBroker, RabbitExchange, RabbitQueue
from faststream.redis import RedisBroker
from httpx import AsyncClient, Response
from pamqp.commands import Basic

from app.bootstrap import build_container
from app.infrastructure.config import Settings, SettingsError, load_settings
from app.infrastructure.messaging.broker import (
    Broker,
    BrokerUnavailableError,
    connect_broker,
    create_broker,
    ping_broker,
)
from tests.conftest import make_settings
from tests.support.in_process import in_process_client, ready_within
from tests.support.servers import RabbitServer
from tests.support.waiting import ANSWER_WITHIN_SECONDS

EVENTS_EXCHANGE = "app.events"
PING_TIMEOUT_SECONDS = 1.0
#: A ping to a node that is down must fail within this, whatever the failure looks like.
FAILS_WITHIN_SECONDS = 2.0
#: A restarted node boots (seconds) and the client reconnects (every 2 s): allow for both.
BACK_WITHIN_SECONDS = 30.0
CONNECT_TIMEOUT_SECONDS = 10.0


def settings_for(url: str) -> Settings:
    return make_settings("sqlite+aiosqlite:///:memory:", BROKER_URL=url)


def broker_for(url: str) -> Broker:
    broker = create_broker(settings_for(url))
    assert broker is not None
    return broker


def rabbit_for(url: str) -> RabbitBroker:
    broker = broker_for(url)
    assert isinstance(broker, RabbitBroker)
    return broker


def events_exchange() -> RabbitExchange:
    return RabbitExchange(EVENTS_EXCHANGE, type=ExchangeType.TOPIC, durable=True)


def private_queue(**arguments: str) -> RabbitQueue:
    """A durable queue of this test's own, so the shared node needs no cleaning between tests."""
    return RabbitQueue(f"test.broker.{uuid.uuid4().hex}", durable=True, arguments=arguments or None)  # type: ignore[arg-type]


def envelope(event_type: str = "user.registered") -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "type": event_type,
        "occurred_at": "2026-01-01T00:00:00Z",
        "version": 1,
        "data": {"user_id": str(uuid.uuid4()), "email": "ada@example.com"},
    }


async def get_one(queue: aio_pika.abc.AbstractQueue) -> aio_pika.abc.AbstractIncomingMessage:
    """The next message in ``queue``; delivery to a queue is asynchronous, so poll.

    Generously bounded: right after a node restart, a busy machine can take seconds to
    recover the queue and hand out its messages.
    """
    deadline = time.monotonic() + 20
    while (message := await queue.get(fail=False, timeout=5)) is None:
        if time.monotonic() >= deadline:
            declared = await queue.declare()  # passive re-declaration reports what the queue holds
            pytest.fail(f"nothing arrived in {queue.name}; the node reports {declared.message_count} messages there")
        await asyncio.sleep(0.05)
    return message


async def eventually(probe: Callable[[], Awaitable[object]], within: float = BACK_WITHIN_SECONDS) -> None:
    deadline = time.monotonic() + within
    while True:
        try:
            await probe()
        except (BrokerUnavailableError, TimeoutError):
            if time.monotonic() >= deadline:
                raise
            await asyncio.sleep(0.2)
        else:
            return


# -------------------------------------------------------------- choosing the broker


def test_no_url_means_no_broker() -> None:
    assert create_broker(make_settings("sqlite+aiosqlite:///:memory:")) is None


@pytest.mark.parametrize("url", ["amqp://app:secret@rabbit.internal:5672/", "amqps://app:secret@rabbit.internal/"])
def test_amqp_urls_make_a_rabbit_broker(url: str) -> None:
    broker = broker_for(url)
    assert isinstance(broker, RabbitBroker)
    assert all("secret" not in server for server in broker.specification.url)


def test_a_kafka_url_names_the_bootstrap_servers() -> None:
    broker = broker_for("kafka://kafka-1:9092,kafka-2:9093")
    assert isinstance(broker, KafkaBroker)
    assert broker.specification.url == ["kafka-1:9092", "kafka-2:9093"]


def test_a_redis_url_makes_a_redis_broker() -> None:
    broker = broker_for("redis://:secret@redis.internal:6390/2")
    assert isinstance(broker, RedisBroker)
    assert broker.specification.url == ["redis://redis.internal:6390/2"]


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("nats://user:secret@nats.internal:4222", "unsupported scheme 'nats'"),
        ("http://rabbit.internal:15672", "unsupported scheme 'http'"),
        ("user:secret@rabbit.internal:5672", "unsupported scheme none"),
        ("amqp://", "no host"),
    ],
)
def test_an_unsupported_broker_url_is_refused_at_start_up_naming_the_variable(url: str, reason: str) -> None:
    with pytest.raises(SettingsError, match=r"^Invalid setting: BROKER_URL: ") as refused:
        load_settings({"BROKER_URL": url}, env_file=None)
    assert reason in str(refused.value)
    assert "secret" not in str(refused.value)


def test_create_broker_refuses_what_settings_would_have_refused() -> None:
    """Settings made without ``load_settings`` get the same answer, as a ValueError."""
    with pytest.raises(ValueError, match=r"^BROKER_URL: unsupported scheme 'nats'"):
        create_broker(Settings(broker_url="nats://nats.internal:4222"))
    with pytest.raises(ValueError, match=r"^BROKER_URL: a kafka:// URL takes no credentials"):
        create_broker(Settings(broker_url="kafka://user:secret@kafka.internal:9092"))


def test_the_service_does_not_start_with_an_unsupported_broker_url() -> None:
    environment = {**os.environ, "BROKER_URL": "nats://user:secret@nats.internal:4222", "APP_ENV": "test"}
    environment.pop("DATABASE_URL", None)
    started = subprocess.run(
        [sys.executable, "-c", "from app.interfaces.http.app import create_app; create_app()"],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert started.returncode != 0
    assert "Invalid setting: BROKER_URL: unsupported scheme 'nats'" in started.stderr
    assert "secret" not in started.stderr


# ------------------------------------------------------------------------ RabbitMQ


@pytest.fixture
async def rabbit(broker_url: str) -> AsyncIterator[RabbitBroker]:
    """The app's broker on the suite's shared node, connected."""
    broker = rabbit_for(broker_url)
    await connect_broker(broker, CONNECT_TIMEOUT_SECONDS)
    yield broker
    await broker.stop()


async def test_an_event_is_published_persistently_and_routed_by_its_type(rabbit: RabbitBroker) -> None:
    exchange = await rabbit.declare_exchange(events_exchange())
    queue = await rabbit.declare_queue(private_queue())
    await queue.bind(exchange, routing_key="user.*")
    event = envelope("user.registered")

    confirmation = await rabbit.publish(
        event,
        exchange=events_exchange(),
        routing_key="user.registered",
        message_id=str(event["id"]),
        persist=True,
        headers={"event-version": "1"},
        timeout=5,
    )

    assert isinstance(confirmation, Basic.Ack), "publisher confirms must be on"
    message = await get_one(queue)
    await message.ack()
    assert json.loads(message.body) == event
    assert message.message_id == event["id"]
    assert (message.exchange, message.routing_key) == (EVENTS_EXCHANGE, "user.registered")
    assert message.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
    assert message.content_type == "application/json"
    assert message.headers["event-version"] == "1"
    await queue.delete(if_unused=False, if_empty=False)


async def test_a_rejected_message_is_dead_lettered(rabbit: RabbitBroker) -> None:
    dead_letters = await rabbit.declare_queue(private_queue())
    inbound_queue = private_queue(**{"x-dead-letter-exchange": "", "x-dead-letter-routing-key": dead_letters.name})
    inbound = await rabbit.declare_queue(inbound_queue)
    event = envelope("user.deactivate")

    await rabbit.publish(event, queue=inbound_queue, message_id=str(event["id"]), persist=True, timeout=5)
    await (await get_one(inbound)).reject(requeue=False)

    dead = await get_one(dead_letters)
    await dead.ack()
    assert dead.message_id == event["id"]
    assert json.loads(dead.body) == event
    for queue in (inbound, dead_letters):
        await queue.delete(if_unused=False, if_empty=False)


async def test_a_stopped_node_fails_fast_and_is_used_again_after_a_restart(
    stoppable_rabbitmq: RabbitServer,
) -> None:
    broker = rabbit_for(stoppable_rabbitmq.url)
    try:
        await ping_broker(broker, PING_TIMEOUT_SECONDS)  # Connects: nothing did before.
        queue = private_queue()
        await broker.declare_queue(queue)
        kept = envelope()
        await broker.publish(kept, queue=queue, message_id=str(kept["id"]), persist=True, timeout=5)

        # Stopped as an operator stops it: a node killed outright may lose a queue declared
        # moments before (RabbitMQ writes its metadata log lazily), which is not what this proves.
        stoppable_rabbitmq.stop(graceful=True)
        for _ in range(3):  # The connection that died, then a client that is reconnecting.
            started = time.perf_counter()
            with pytest.raises((BrokerUnavailableError, TimeoutError)):
                await ping_broker(broker, PING_TIMEOUT_SECONDS)
            assert time.perf_counter() - started < FAILS_WITHIN_SECONDS

        stoppable_rabbitmq.start()
        await eventually(lambda: ping_broker(broker, PING_TIMEOUT_SECONDS))

        # The durable queue and its persistent message survived; the broker publishes again.
        declared = await broker.declare_queue(queue)
        survivor = await get_one(declared)
        await survivor.ack()
        assert survivor.message_id == kept["id"]
        after = envelope()
        await broker.publish(after, queue=queue, message_id=str(after["id"]), persist=True, timeout=5)
        assert (await get_one(declared)).message_id == after["id"]
    finally:
        await broker.stop()


async def test_a_node_that_is_not_there_fails_the_first_ping_fast(stoppable_rabbitmq: RabbitServer) -> None:
    """The first connection attempt fails at once (fail-fast), and a later one succeeds."""
    url = stoppable_rabbitmq.url
    stoppable_rabbitmq.stop()
    broker = rabbit_for(url)
    try:
        started = time.perf_counter()
        with pytest.raises((BrokerUnavailableError, TimeoutError)):
            await ping_broker(broker, PING_TIMEOUT_SECONDS)
        assert time.perf_counter() - started < FAILS_WITHIN_SECONDS

        stoppable_rabbitmq.start()
        await eventually(lambda: ping_broker(broker, PING_TIMEOUT_SECONDS))
    finally:
        await broker.stop()


async def test_a_broker_that_never_answers_fails_the_ping_within_its_bound(silent_port: int) -> None:
    broker = rabbit_for(f"amqp://app:secret@127.0.0.1:{silent_port}/")
    try:
        for _ in range(2):  # The first call starts the connection attempt, the second joins it.
            started = time.perf_counter()
            with pytest.raises(TimeoutError):
                await ping_broker(broker, PING_TIMEOUT_SECONDS)
            assert time.perf_counter() - started < FAILS_WITHIN_SECONDS
    finally:
        await broker.stop()


# ---------------------------------------------------------------- readiness + broker


@asynccontextmanager
async def app_client(database_url: str, broker_url: str) -> AsyncIterator[AsyncClient]:
    """A separate app with ``BROKER_URL`` set, called in-process like the session ``client``."""
    container = build_container(make_settings(database_url, BROKER_URL=broker_url))
    async with in_process_client(container) as client:
        # build_container connects nothing: the broker is connected by its first user.
        assert container.broker is not None
        assert not await container.broker.ping(0.05)
        yield client


async def timed_ready(client: AsyncClient) -> Response:
    return await ready_within(client, ANSWER_WITHIN_SECONDS)


async def test_readiness_reports_the_broker(database_url: str, broker_url: str) -> None:
    async with app_client(database_url, broker_url) as client:
        ready = await timed_ready(client)
    assert ready.status_code == 200, ready.text
    assert ready.json() == {"status": "ok", "checks": {"database": "ok", "broker": "ok"}}


async def test_readiness_follows_the_broker_down_and_back(database_url: str, stoppable_rabbitmq: RabbitServer) -> None:
    async with app_client(database_url, stoppable_rabbitmq.url) as client:
        ready = await timed_ready(client)
        assert ready.status_code == 200, ready.text
        assert ready.json() == {"status": "ok", "checks": {"database": "ok", "broker": "ok"}}

        stoppable_rabbitmq.stop()
        for _ in range(2):
            down = await timed_ready(client)
            assert down.status_code == 503
            assert down.json() == {"status": "error", "checks": {"database": "ok", "broker": "error"}}
        assert (await client.get("/health/live")).status_code == 200

        stoppable_rabbitmq.start()

        async def ready_again() -> None:
            back = await timed_ready(client)
            if back.status_code != 200:
                raise BrokerUnavailableError(back.text)
            assert back.json()["checks"] == {"database": "ok", "broker": "ok"}

        await eventually(ready_again)


async def test_readiness_is_bounded_while_the_broker_hangs(database_url: str, stoppable_rabbitmq: RabbitServer) -> None:
    async with app_client(database_url, stoppable_rabbitmq.url) as client:
        assert (await timed_ready(client)).status_code == 200

        stoppable_rabbitmq.pause()
        try:
            for _ in range(2):
                down = await timed_ready(client)
                assert down.status_code == 503
                assert down.json() == {"status": "error", "checks": {"database": "ok", "broker": "error"}}
        finally:
            stoppable_rabbitmq.resume()

        async def ready_again() -> None:
            if (back := await timed_ready(client)).status_code != 200:
                raise BrokerUnavailableError(back.text)

        await eventually(ready_again)
