"""The consumer of ``app.inbound`` on each broker: applies each envelope once, dead-letters poison
with its reason, retries transient failures then gives up, and loses nothing when it is killed.

RabbitMQ and Redis are the real servers; Kafka is FastStream's test broker (no Kafka server
runs here). The crash test kills a real ``just consumer`` process mid-handler.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aio_pika
import asyncpg
import faststream.kafka.testing
import pytest
import redis.asyncio
from faststream import FastStream
from faststream.kafka import KafkaBroker, TestKafkaBroker
from faststream.kafka.annotations import KafkaMessage
from faststream.redis import RedisBroker, StreamSub
from faststream.redis.annotations import RedisStreamMessage
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from app.application.auth.dto import ClientInfo
from app.bootstrap import Container
from app.domain.errors import Unauthorized
from app.domain.organizations.values import OrgRole
from app.infrastructure.config import Settings
from app.infrastructure.db.models import InboxModel
from app.infrastructure.outbox.model import OutboxModel
from app.interfaces.consumer import create_app as create_consumer
from app.interfaces.consumer.handling import raw_body
from app.interfaces.consumer.streams import CONSUMER_GROUP, headers_as_text
from tests.support.processes import free_port, kill, started, stop
from tests.support.tenancy import create_organization
from tests.support.waiting import until

PASSWORD = "correct horse battery"
INBOUND = "app.inbound"
DEAD_LETTERS = "app.inbound.dlq"
WITHIN_SECONDS = 30.0

pytestmark = pytest.mark.usefixtures("clean_database")


def envelope(message_type: str, **data: Any) -> dict[str, Any]:
    return {"id": str(uuid.uuid4()), "type": message_type, "version": 1, "data": data}


def encoded(message: dict[str, Any]) -> bytes:
    return json.dumps(message).encode()


def poison() -> dict[bytes, str]:
    """Messages that can never apply, each with (part of) the reason it must be dead-lettered with."""
    return {
        b"{not json": "malformed envelope",
        encoded(envelope("user.explode")): "unknown type",
        encoded(envelope("user.deactivate", user_id=1)): "invalid data",
        encoded(envelope("user.deactivate", user_id=str(uuid.uuid4()), reason="x")): "unknown user",
    }


#: What publishers claim a body is, as they set it (AMQP ``content_type``, a ``content-type`` header).
CONTENT_TYPES = (
    None,
    "application/json",
    "application/json; charset=utf-8",
    "text/plain",
    "text/plain; charset=utf-8",
    "application/octet-stream",
    "image/png",
    "not a media type",
)
#: Bodies that no content type makes an envelope: each must be dead-lettered as malformed.
UNDECODABLE = {
    "empty": b"",
    "whitespace": b" \n\t",
    "not JSON": b"{not json",
    "truncated": encoded(envelope("user.deactivate", user_id=str(uuid.uuid4()), reason="x"))[:-1],
    "not UTF-8": b"\xff\xfe\x00{",
    "Latin-1 in a string": b'{"id": "caf\xe9"}',
    "UTF-16": b'{"id": 1}'.decode().encode("utf-16"),
    "byte order mark": b"\xef\xbb\xbf" + encoded(envelope("user.deactivate")),
    "JSON array": b"[]",
    "JSON string": b'"user.deactivate"',
    "JSON number": b"42",
    "JSON null": b"null",
    "JSON object, no envelope": b"{}",
    "two JSON documents": b"{}{}",
}
#: The header that names a test's case; the consumer keeps every header on a dead letter.
CASE = "x-case"
#: A header value a publisher may send that is not text (a tracing id, say).
NOT_UTF8 = b"\xff\xfe\x00\x01"


def undecodable() -> dict[str, tuple[bytes, str | None]]:
    """Every undecodable body under every content type: case → (body, content type)."""
    return {
        f"{name} as {content_type}": (body, content_type)
        for name, body in UNDECODABLE.items()
        for content_type in CONTENT_TYPES
    }


def headers_for(case: str, content_type: str | None) -> dict[str, str]:
    """The headers a stream publisher sends: its case, and the content type it claims, if any."""
    return {CASE: case} | ({"content-type": content_type} if content_type else {})


@dataclass(frozen=True)
class DeadLetter:
    body: bytes
    reason: str
    case: str | None

    @classmethod
    def of(cls, body: bytes, headers: Mapping[str, object]) -> DeadLetter:
        case = headers.get(CASE)
        return cls(body, str(headers["x-dead-letter-reason"]), None if case is None else str(case))


def by_body(dead: list[DeadLetter]) -> dict[bytes, str]:
    return {letter.body: letter.reason for letter in dead}


def assert_all_malformed(dead: list[DeadLetter], cases: Mapping[str, tuple[bytes, str | None]]) -> None:
    """Each case was dead-lettered once, body intact, as a malformed envelope."""
    letters = {letter.case: letter for letter in dead}
    assert sorted(letters, key=str) == sorted(cases)
    for case, (body, _) in cases.items():
        assert letters[case].body == body, case
        assert letters[case].reason.startswith("malformed envelope: "), (case, letters[case].reason)


def consumer_for(monkeypatch: pytest.MonkeyPatch, settings: Settings, **env: str) -> FastStream:
    """The consumer exactly as ``just consumer`` builds it, from these environment variables."""
    defaults = {
        "DATABASE_URL": settings.database_url,
        "SECRET_KEY": settings.secret_key,
        "CONSUMER_MAX_RETRIES": "2",
        "LOG_LEVEL": "WARNING",
        "REDIS_URL": "",
    }
    for name, value in {**defaults, **env}.items():
        monkeypatch.setenv(name, value)
    return create_consumer()


@contextlib.asynccontextmanager
async def running(app: FastStream) -> AsyncIterator[FastStream]:
    async with app:  # Entering starts it (lifespan, broker, subscribers); leaving stops it.
        yield app


def consumer_app(
    monkeypatch: pytest.MonkeyPatch, settings: Settings, **env: str
) -> contextlib.AbstractAsyncContextManager[FastStream]:
    return running(consumer_for(monkeypatch, settings, **env))


async def signed_up(container: Container) -> tuple[uuid.UUID, str]:
    user = await container.users.sign_up(f"{uuid.uuid4().hex[:12]}@example.com", PASSWORD, {})
    pair = await container.auth.issue_tokens(user.email, PASSWORD, ClientInfo())
    return user.id, pair.access_token


async def eventually_deactivated(container: Container, user_id: uuid.UUID) -> None:
    async def inactive() -> bool:
        return not (await container.administration.get(user_id)).is_active

    await until(inactive, "the deactivation", WITHIN_SECONDS)


async def applied_count(container: Container, message_id: str) -> int:
    async with container.engine.connect() as connection:
        count = await connection.scalar(
            select(func.count()).select_from(InboxModel).where(InboxModel.id == uuid.UUID(message_id))
        )
    return int(count or 0)


async def deactivation_events(container: Container, user_id: uuid.UUID) -> int:
    async with container.engine.connect() as connection:
        events = (await connection.execute(select(OutboxModel.envelope))).scalars().all()
    return sum(1 for e in events if e["type"] == "user.deactivated" and e["data"]["user_id"] == str(user_id))


async def assert_applied_once(container: Container, user_id: uuid.UUID, token: str, *message_ids: str) -> None:
    await eventually_deactivated(container, user_id)
    for message_id in message_ids:
        assert await applied_count(container, message_id) == 1
    assert await deactivation_events(container, user_id) == 1
    with pytest.raises(Unauthorized):
        await container.auth_queries.authenticate(token)


def assert_reasons(dead: list[DeadLetter], expected: dict[bytes, str]) -> None:
    reasons = by_body(dead)
    assert set(reasons) == set(expected)
    for body, reason in expected.items():
        assert reason in reasons[body], (body, reasons[body])


# --- RabbitMQ ---------------------------------------------------------------------------------


async def rabbit_send(broker_url: str, body: bytes, message_id: str | None = None, **properties: Any) -> None:
    """Publish as any AMQP client does; ``properties`` are the message's (``content_type``, ``headers``)."""
    connection = await aio_pika.connect(broker_url)
    try:
        channel = await connection.channel()
        # Declared here too (as the consumer declares it): a message sent before the consumer has
        # declared its queue would otherwise be dropped by the default exchange.
        await channel.declare_queue(INBOUND, durable=True, arguments={"x-queue-type": "quorum"})
        await channel.default_exchange.publish(
            aio_pika.Message(body, message_id=message_id, delivery_mode=aio_pika.DeliveryMode.PERSISTENT, **properties),
            routing_key=INBOUND,
        )
    finally:
        await connection.close()


async def rabbit_dead_letters(broker_url: str, count: int) -> list[DeadLetter]:
    """The next ``count`` dead letters (bounded wait)."""
    dead: list[DeadLetter] = []
    connection = await aio_pika.connect(broker_url)
    try:
        channel = await connection.channel()
        queue = await channel.declare_queue(DEAD_LETTERS, durable=True)
        async with asyncio.timeout(WITHIN_SECONDS):
            while len(dead) < count:
                message = await queue.get(fail=False)
                if message is None:
                    await asyncio.sleep(0.1)
                    continue
                await message.ack()
                dead.append(DeadLetter.of(message.body, message.headers))
    finally:
        await connection.close()
    return dead


async def test_rabbitmq_applies_each_envelope_once_and_dead_letters_poison(
    settings: Settings, broker_url: str, container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    user_id, token = await signed_up(container)
    merge = envelope("user.meta.merge", user_id=str(user_id), meta={"plan": "pro"})
    deactivate = envelope("user.deactivate", user_id=str(user_id), reason="fraud")
    poisoned = poison()

    async with consumer_app(monkeypatch, settings, BROKER_URL=broker_url):
        for body in poisoned:
            await rabbit_send(broker_url, body)
        for _ in range(2):  # the same envelope twice: applied once
            await rabbit_send(broker_url, encoded(merge), merge["id"])
        await rabbit_send(broker_url, encoded(deactivate), deactivate["id"])
        assert_reasons(await rabbit_dead_letters(broker_url, len(poisoned)), poisoned)
        await assert_applied_once(container, user_id, token, merge["id"], deactivate["id"])

    assert (await container.administration.get(user_id)).meta == {"plan": "pro"}


async def test_rabbitmq_dead_letters_poison_held_with_other_messages_and_applies_those(
    settings: Settings, broker_url: str, container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Queued before the consumer starts, the messages reach it together, as one batch: each
    poison is dead-lettered with the reason it has alone, every other message is applied once."""
    users = [(await signed_up(container))[0] for _ in range(6)]
    merges = [envelope("user.meta.merge", user_id=str(user_id), meta={"n": i}) for i, user_id in enumerate(users)]
    ended, token = await signed_up(container)
    deactivate = envelope("user.deactivate", user_id=str(ended), reason="fraud")
    poisoned = poison()
    queued = [*merges[:3], *({"body": body} for body in poisoned), deactivate, *merges[3:]]

    for message in queued:
        await rabbit_send(broker_url, message.get("body") or encoded(message), message.get("id"))
    async with consumer_app(monkeypatch, settings, BROKER_URL=broker_url):
        assert_reasons(await rabbit_dead_letters(broker_url, len(poisoned)), poisoned)
        await assert_applied_once(container, ended, token, deactivate["id"])
        for i, (user_id, merge) in enumerate(zip(users, merges, strict=True)):
            assert await applied_count(container, merge["id"]) == 1
            assert (await container.administration.get(user_id)).meta == {"n": i}


async def test_rabbitmq_dead_letters_every_undecodable_body_whatever_its_content_type(
    settings: Settings, broker_url: str, container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    user_id, token = await signed_up(container)
    deactivate = envelope("user.deactivate", user_id=str(user_id), reason="fraud")
    cases = undecodable()

    async with consumer_app(monkeypatch, settings, BROKER_URL=broker_url):
        for case, (body, content_type) in cases.items():
            headers = {CASE: case, "x-trace": bytearray(NOT_UTF8)}  # an AMQP byte array
            await rabbit_send(broker_url, body, content_type=content_type, headers=headers)
        await rabbit_send(broker_url, encoded(deactivate), deactivate["id"], content_type="application/json")
        assert_all_malformed(await rabbit_dead_letters(broker_url, len(cases)), cases)
        await assert_applied_once(container, user_id, token, deactivate["id"])  # and the consumer went on


async def test_rabbitmq_takes_no_more_than_the_prefetch_at_once(
    settings: Settings, broker_url: str, container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Five merges into one locked user: two are taken (and wait for the row), three stay in the queue."""
    user_id, _ = await signed_up(container)
    merges = [envelope("user.meta.merge", user_id=str(user_id), meta={f"k{i}": i}) for i in range(5)]
    dsn = make_url(settings.database_url).set(drivername="postgresql").render_as_string(hide_password=False)
    database = await asyncpg.connect(dsn)
    connection = await aio_pika.connect(broker_url)
    try:
        channel = await connection.channel()
        async with consumer_app(monkeypatch, settings, BROKER_URL=broker_url, CONSUMER_PREFETCH="2"):
            async with database.transaction():
                await database.execute("SELECT 1 FROM users WHERE id = $1 FOR UPDATE", user_id)
                for merge in merges:
                    await rabbit_send(broker_url, encoded(merge), merge["id"])

                async def three_wait_in_the_queue() -> bool:
                    queue = await channel.declare_queue(INBOUND, passive=True)
                    return queue.declaration_result.message_count == 3

                await until(three_wait_in_the_queue, "three messages left in the queue", WITHIN_SECONDS)

            async def all_merged() -> bool:
                return len((await container.administration.get(user_id)).meta) == len(merges)

            await until(all_merged, "every merge", WITHIN_SECONDS)
    finally:
        await connection.close()
        await database.close()
    assert (await container.administration.get(user_id)).meta == {f"k{i}": i for i in range(5)}


async def test_rabbitmq_retries_a_transient_failure_then_dead_letters_it(
    settings: Settings, broker_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    down = make_url(settings.database_url).set(host="127.0.0.1", port=free_port()).render_as_string(False)
    message = encoded(envelope("user.deactivate", user_id=str(uuid.uuid4()), reason="fraud"))

    async with consumer_app(monkeypatch, settings, BROKER_URL=broker_url, DATABASE_URL=down):
        await rabbit_send(broker_url, message)
        dead = by_body(await rabbit_dead_letters(broker_url, 1))

    # CONSUMER_MAX_RETRIES=2: one attempt and two retries, then it is given up.
    assert dead[message].startswith("gave up after 3 attempts")


# --- Redis streams ----------------------------------------------------------------------------


@pytest.fixture
async def redis_broker_url(redis_url: str) -> AsyncIterator[str]:
    """The suite's Redis, with no stream or consumer group left over from another test."""
    client = redis.asyncio.Redis.from_url(redis_url)
    await client.delete(INBOUND, DEAD_LETTERS)
    yield redis_url
    await client.delete(INBOUND, DEAD_LETTERS)
    await client.aclose()


async def redis_send(url: str, *bodies: bytes, headers: list[dict[str, str]] | None = None) -> None:
    """Publish as another FastStream service does, each body with its ``headers`` if given."""
    broker = RedisBroker(url)
    async with broker:
        for body, sent_headers in zip(bodies, headers or [{}] * len(bodies), strict=True):
            await broker.publish(body, stream=INBOUND, headers=sent_headers)


@contextlib.asynccontextmanager
async def redis_dead_letters(url: str) -> AsyncIterator[list[DeadLetter]]:
    """Dead letters as another FastStream service reads them, filled as they come."""
    broker = RedisBroker(url)
    dead: list[DeadLetter] = []

    @broker.subscriber(stream=StreamSub(DEAD_LETTERS, last_id="0"), decoder=raw_body)
    async def collect(message: RedisStreamMessage) -> None:
        dead.append(DeadLetter.of(message.body, message.headers))

    async with broker:
        await broker.start()
        yield dead


async def filled(collected: list[DeadLetter], count: int) -> list[DeadLetter]:
    async def arrived() -> bool:
        return len(collected) >= count

    await until(arrived, f"{count} dead letters", WITHIN_SECONDS)
    return collected


async def test_redis_applies_each_envelope_once_and_dead_letters_poison(
    settings: Settings, redis_broker_url: str, container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    user_id, token = await signed_up(container)
    merge = envelope("user.meta.merge", user_id=str(user_id), meta={"plan": "pro"})
    deactivate = envelope("user.deactivate", user_id=str(user_id), reason="fraud")
    poisoned = poison()

    async with (
        redis_dead_letters(redis_broker_url) as dead,
        consumer_app(monkeypatch, settings, BROKER_URL=redis_broker_url),
    ):
        await redis_send(redis_broker_url, *poisoned, encoded(merge), encoded(merge), encoded(deactivate))
        assert_reasons(await filled(dead, len(poisoned)), poisoned)
        await assert_applied_once(container, user_id, token, merge["id"], deactivate["id"])

    assert (await container.administration.get(user_id)).meta == {"plan": "pro"}
    client = redis.asyncio.Redis.from_url(redis_broker_url)
    try:  # every entry was acknowledged: nothing is left pending in the group
        assert (await client.xpending(INBOUND, CONSUMER_GROUP))["pending"] == 0
    finally:
        await client.aclose()


async def test_redis_dead_letters_every_undecodable_body_whatever_its_content_type(
    settings: Settings, redis_broker_url: str, container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    user_id, token = await signed_up(container)
    deactivate = envelope("user.deactivate", user_id=str(user_id), reason="fraud")
    cases = undecodable()
    bodies = [body for body, _ in cases.values()]
    headers = [headers_for(case, content_type) for case, (_, content_type) in cases.items()]

    async with (
        redis_dead_letters(redis_broker_url) as dead,
        consumer_app(monkeypatch, settings, BROKER_URL=redis_broker_url),
    ):
        await redis_send(
            redis_broker_url,
            *bodies,
            encoded(deactivate),
            headers=[*headers, headers_for("valid", "application/json")],
        )
        assert_all_malformed(await filled(dead, len(cases)), cases)
        await assert_applied_once(container, user_id, token, deactivate["id"])  # and the consumer went on


async def test_redis_takes_over_what_a_dead_consumer_left_pending(
    settings: Settings, redis_broker_url: str, container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    user_id, token = await signed_up(container)
    deactivate = envelope("user.deactivate", user_id=str(user_id), reason="fraud")
    client = redis.asyncio.Redis.from_url(redis_broker_url)
    try:
        # A consumer of the group took the message and died before acknowledging it.
        await client.xgroup_create(INBOUND, CONSUMER_GROUP, id="$", mkstream=True)
        await redis_send(redis_broker_url, encoded(deactivate))
        await client.xreadgroup(CONSUMER_GROUP, "died-mid-handler", {INBOUND: ">"}, count=1)
        assert (await client.xpending(INBOUND, CONSUMER_GROUP))["pending"] == 1

        async with consumer_app(monkeypatch, settings, BROKER_URL=redis_broker_url, CONSUMER_STALE_SECONDS="0.5"):
            await assert_applied_once(container, user_id, token, deactivate["id"])

            async def acknowledged() -> bool:
                return not (await client.xpending(INBOUND, CONSUMER_GROUP))["pending"]

            await until(acknowledged, "the acknowledgement of the taken-over entry", WITHIN_SECONDS)
    finally:
        await client.aclose()


# --- Kafka (FastStream's test broker) -----------------------------------------------------------


@contextlib.asynccontextmanager
async def kafka_consumer(
    monkeypatch: pytest.MonkeyPatch, settings: Settings, **env: str
) -> AsyncIterator[tuple[KafkaBroker, list[DeadLetter]]]:
    """The consumer on FastStream's in-memory Kafka, and the dead letters it publishes."""
    app = consumer_for(monkeypatch, settings, BROKER_URL="kafka://127.0.0.1:9092", **env)
    broker = app.broker
    assert isinstance(broker, KafkaBroker)
    dead: list[DeadLetter] = []

    @broker.subscriber(DEAD_LETTERS, parser=headers_as_text, decoder=raw_body)
    async def collect(message: KafkaMessage) -> None:
        dead.append(DeadLetter.of(message.body, message.headers))

    async with TestKafkaBroker(broker), running(app):
        yield broker, dead


async def test_kafka_applies_each_envelope_once_and_dead_letters_poison(
    settings: Settings, container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    user_id, token = await signed_up(container)
    merge = envelope("user.meta.merge", user_id=str(user_id), meta={"plan": "pro"})
    deactivate = envelope("user.deactivate", user_id=str(user_id), reason="fraud")
    poisoned = poison()

    async with kafka_consumer(monkeypatch, settings) as (broker, dead):
        for body in [*poisoned, encoded(merge), encoded(merge), encoded(deactivate)]:
            await broker.publish(body, topic=INBOUND)
        assert_reasons(dead, poisoned)
        await assert_applied_once(container, user_id, token, merge["id"], deactivate["id"])

    assert (await container.administration.get(user_id)).meta == {"plan": "pro"}


async def test_kafka_dead_letters_every_undecodable_body_whatever_its_content_type(
    settings: Settings, container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    user_id, token = await signed_up(container)
    deactivate = envelope("user.deactivate", user_id=str(user_id), reason="fraud")
    cases = undecodable()

    async with kafka_consumer(monkeypatch, settings) as (broker, dead):
        for case, (body, content_type) in cases.items():
            await broker.publish(body, topic=INBOUND, headers=headers_for(case, content_type))
        await broker.publish(encoded(deactivate), topic=INBOUND, headers=headers_for("valid", "application/json"))
        assert_all_malformed(dead, cases)
        await assert_applied_once(container, user_id, token, deactivate["id"])  # and the consumer went on


#: Header values Kafka allows that are not text: bytes that are not UTF-8, and none at all.
BINARY_HEADERS = {"x-trace": NOT_UTF8, "x-nothing": None}


async def test_kafka_reads_messages_whose_header_values_are_not_text(
    settings: Settings, container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every record the test broker delivers carries the binary headers, as a real client may send them."""
    build_record = faststream.kafka.testing.build_message

    async def with_binary_headers(*args: Any, **kwargs: Any) -> Any:
        record = await build_record(*args, **kwargs)
        return dataclasses.replace(record, headers=[*record.headers, *BINARY_HEADERS.items()])

    monkeypatch.setattr(faststream.kafka.testing, "build_message", with_binary_headers)
    user_id, token = await signed_up(container)
    deactivate = envelope("user.deactivate", user_id=str(user_id), reason="fraud")
    cases = {"binary headers": (b"{not json", "application/json")}

    async with kafka_consumer(monkeypatch, settings) as (broker, dead):
        for case, (body, content_type) in cases.items():
            await broker.publish(body, topic=INBOUND, headers=headers_for(case, content_type))
        await broker.publish(encoded(deactivate), topic=INBOUND, headers=headers_for("valid", "application/json"))
        assert_all_malformed(dead, cases)
        await assert_applied_once(container, user_id, token, deactivate["id"])


async def test_deactivating_the_last_active_admin_is_dead_lettered_and_another_is_applied(
    settings: Settings, container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, _ = await container.users.create_admin("first-admin@example.com", PASSWORD)
    last = encoded(envelope("user.deactivate", user_id=str(first.id), reason="fraud"))

    async with kafka_consumer(monkeypatch, settings) as (broker, dead):
        await broker.publish(last, topic=INBOUND, headers=headers_for("last", "application/json"))
        assert by_body(dead)[last].startswith("refused: The last active admin cannot be")
        assert (await container.administration.get(first.id)).is_active

        second, _ = await container.users.create_admin("second-admin@example.com", PASSWORD)
        now_one_of_two = envelope("user.deactivate", user_id=str(first.id), reason="fraud")
        await broker.publish(encoded(now_one_of_two), topic=INBOUND)
        await eventually_deactivated(container, first.id)
        assert (await container.administration.get(second.id)).is_active
        assert len(dead) == 1


async def test_kafka_retries_a_transient_failure_in_place_then_dead_letters_it(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    down = make_url(settings.database_url).set(host="127.0.0.1", port=free_port()).render_as_string(False)
    message = encoded(envelope("user.deactivate", user_id=str(uuid.uuid4()), reason="fraud"))

    async with kafka_consumer(monkeypatch, settings, DATABASE_URL=down) as (broker, dead):
        await broker.publish(message, topic=INBOUND)

    assert by_body(dead)[message].startswith("gave up after 3 attempts")


# --- a real `just consumer` process, killed mid-handler ----------------------------------------


def consumer_env(settings: Settings, broker_url: str, **overrides: str) -> dict[str, str]:
    """The settings of a ``just consumer`` process on the suite's database and RabbitMQ."""
    return {
        "DATABASE_URL": settings.database_url,
        "BROKER_URL": broker_url,
        "SECRET_KEY": settings.secret_key,
        "REDIS_URL": "",
        **overrides,
    }


async def blocked_on_the_row_lock(observer: asyncpg.Connection, process: asyncio.subprocess.Process, log: Path) -> None:
    """Wait until a consumer's transaction waits for the row this test holds: it is mid-handler.

    ``observer`` must not be the connection holding the lock: inside a transaction PostgreSQL
    shows the same snapshot of ``pg_stat_activity`` every time.
    """

    async def blocked() -> bool:
        if process.returncode is not None:
            pytest.fail(f"the consumer exited with {process.returncode}:\n{log.read_text()[-4000:]}")
        return bool(
            await observer.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query ILIKE '%FOR UPDATE%'"
            )
        )

    # The bound includes installing and starting the process.
    await until(blocked, "the consumer's wait for the locked row", within=60)


async def kill_a_consumer_mid_handler(
    env: dict[str, str],
    locked: uuid.UUID,
    log: Path,
    *,
    queued: Sequence[dict[str, Any]] = (),
    sent: Sequence[dict[str, Any]] = (),
) -> None:
    """Hold ``locked``'s row and start ``just consumer``, ``queued`` messages waiting for it and
    ``sent`` ones published once it runs; kill it (SIGKILL) once its transaction waits for the
    row, inside its handler, then let the row go."""
    broker_url = env["BROKER_URL"]
    dsn = make_url(env["DATABASE_URL"]).set(drivername="postgresql").render_as_string(hide_password=False)
    database, observer = await asyncpg.connect(dsn), await asyncpg.connect(dsn)
    try:
        lock = database.transaction()
        await lock.start()
        await database.execute("SELECT 1 FROM users WHERE id = $1 FOR UPDATE", locked)
        for message in queued:
            await rabbit_send(broker_url, encoded(message), message["id"])
        async with started("consumer", env, log) as consumer:
            for message in sent:
                await rabbit_send(broker_url, encoded(message), message["id"])
            await blocked_on_the_row_lock(observer, consumer, log)
            await kill(consumer)
        await lock.rollback()
    finally:
        await database.close()
        await observer.close()


async def test_a_consumer_killed_mid_handler_loses_nothing_and_applies_once(
    settings: Settings, broker_url: str, container: Container, tmp_path: Path
) -> None:
    user_id, token = await signed_up(container)
    deactivate = envelope("user.deactivate", user_id=str(user_id), reason="fraud")
    env = consumer_env(settings, broker_url, LOG_LEVEL="DEBUG")
    await kill_a_consumer_mid_handler(env, user_id, tmp_path / "first.log", sent=[deactivate])
    assert await applied_count(container, deactivate["id"]) == 0  # the killed transaction left nothing

    async with started("consumer", env, tmp_path / "second.log") as second:
        await assert_applied_once(container, user_id, token, deactivate["id"])
        await rabbit_send(broker_url, encoded(deactivate), deactivate["id"])  # and once more, later

        async def recognised() -> bool:
            return "inbound_duplicate" in (tmp_path / "second.log").read_text()

        await until(recognised, "the duplicate's recognition", WITHIN_SECONDS)
        await stop(second)
    assert "shut down gracefully" in (tmp_path / "second.log").read_text()

    assert await applied_count(container, deactivate["id"]) == 1
    assert await deactivation_events(container, user_id) == 1


async def test_a_consumer_killed_mid_batch_loses_nothing_and_applies_each_message_once(
    settings: Settings, broker_url: str, container: Container, tmp_path: Path
) -> None:
    """Messages queued together are one batch; its first user's row is held, so the batch waits
    inside its transaction when the process is killed. The next consumer applies each once."""
    locked, token = await signed_up(container)
    others = [(await signed_up(container))[0] for _ in range(4)]
    messages = [
        envelope("user.deactivate", user_id=str(locked), reason="fraud"),
        *(envelope("user.meta.merge", user_id=str(user_id), meta={"plan": "pro"}) for user_id in others),
    ]
    env = consumer_env(settings, broker_url)
    await kill_a_consumer_mid_handler(env, locked, tmp_path / "first.log", queued=messages)
    for message in messages:  # the killed transaction left nothing, of any message of the batch
        assert await applied_count(container, message["id"]) == 0

    async with started("consumer", env, tmp_path / "second.log") as second:
        await assert_applied_once(container, locked, token, messages[0]["id"])

        async def all_merged() -> bool:
            metas = [(await container.administration.get(user_id)).meta for user_id in others]
            return all(meta == {"plan": "pro"} for meta in metas)

        await until(all_merged, "every merge", WITHIN_SECONDS)
        await stop(second)

    for message in messages:
        assert await applied_count(container, message["id"]) == 1
    async with container.engine.connect() as connection:
        published = (await connection.execute(select(OutboxModel.envelope))).scalars().all()
    assert sorted(e["data"]["user_id"] for e in published if e["type"] == "user.profile_updated") == sorted(
        map(str, others)
    )


async def test_rabbitmq_creates_a_task_once_and_dead_letters_one_for_a_non_member(
    settings: Settings, broker_url: str, container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``task.create`` rides along with the users' messages: applied alone, once, as if its creator created it."""
    member, _ = await signed_up(container)
    stranger, _ = await signed_up(container)
    org_id = await create_organization(container.engine, {member: OrgRole.MEMBER})
    create = envelope(
        "task.create", organization_id=str(org_id), created_by=str(member), title="From the CRM",
        priority="high", due_at="2027-01-01T12:00:00Z", tags=["crm"],
    )  # fmt: skip
    poisoned = {
        encoded(envelope("task.create", organization_id=str(org_id), created_by=str(stranger), title="x")): "member",
        encoded(envelope("task.create", organization_id=str(uuid.uuid4()), created_by=str(member), title="x")): (
            "unknown organization"
        ),
        encoded(envelope("task.create", organization_id=str(org_id), created_by=str(member), title="")): "invalid data",
    }
    merge = envelope("user.meta.merge", user_id=str(member), meta={"crm": True})

    async with consumer_app(monkeypatch, settings, BROKER_URL=broker_url):
        for _ in range(2):  # the same envelope twice: applied once
            await rabbit_send(broker_url, encoded(create), create["id"])
        await rabbit_send(broker_url, encoded(merge), merge["id"])
        for body in poisoned:
            await rabbit_send(broker_url, body)
        assert_reasons(await rabbit_dead_letters(broker_url, len(poisoned)), poisoned)

        async def applied() -> bool:
            return (
                await applied_count(container, create["id"]) == 1 and await applied_count(container, merge["id"]) == 1
            )

        await until(applied, "the task and the merge", WITHIN_SECONDS)

    page = await container.tasks.list(member, org_id, {})
    (task,) = page.items
    assert (task.title, task.created_by, task.priority, task.tags) == ("From the CRM", member, "high", ["crm"])
