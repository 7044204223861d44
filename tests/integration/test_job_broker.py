"""The Redis job broker on a real (private) Redis: at-least-once delivery, redelivery, delays, outages.

Each test reads the broker the way a worker does (``listen()``), so what is checked is
what a worker would be handed.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import redis.asyncio
from taskiq import AckableMessage, BrokerMessage

from app.infrastructure.jobs.broker import JOB_STREAM, RedisJobBroker
from tests.support.servers import RedisServer

READ_TIMEOUT_SECONDS = 10.0


@pytest.fixture
async def client(stoppable_redis: RedisServer) -> AsyncIterator[redis.asyncio.Redis]:
    client = redis.asyncio.Redis.from_url(stoppable_redis.url)
    yield client
    await client.aclose()


def worker_broker(url: str, redelivery_after: float = 60.0) -> RedisJobBroker:
    broker = RedisJobBroker(url, redelivery_after=redelivery_after)
    broker.is_worker_process = True
    return broker


def message(body: bytes, **labels: str) -> BrokerMessage:
    return BrokerMessage(task_id=body.decode(), task_name="test", message=body, labels=labels)


async def acknowledge(delivered: AckableMessage) -> None:
    acknowledged = delivered.ack()  # Taskiq types it "awaitable or None"; this broker's is a coroutine.
    assert acknowledged is not None
    await acknowledged


async def take(deliveries: AsyncIterator[AckableMessage], within: float = READ_TIMEOUT_SECONDS) -> AckableMessage:
    async with asyncio.timeout(within):
        return await anext(deliveries)


async def test_jobs_enqueued_before_any_worker_started_are_delivered(stoppable_redis: RedisServer) -> None:
    client_side = RedisJobBroker(stoppable_redis.url, redelivery_after=60)
    await client_side.kick(message(b"early"))  # no worker has ever declared the group

    worker = worker_broker(stoppable_redis.url)
    await worker.startup()
    try:
        delivered = await take(worker.listen())
        assert delivered.data == b"early"
    finally:
        await worker.shutdown()
        await client_side.shutdown()


async def test_an_acknowledged_job_leaves_the_stream(stoppable_redis: RedisServer, client: redis.asyncio.Redis) -> None:
    worker = worker_broker(stoppable_redis.url)
    await worker.startup()
    try:
        await worker.kick(message(b"one"))
        delivered = await take(worker.listen())
        assert await client.xlen(JOB_STREAM) == 1  # pending until acknowledged

        await acknowledge(delivered)

        assert await client.xlen(JOB_STREAM) == 0
        assert (await client.xpending(JOB_STREAM, "app.workers"))["pending"] == 0
    finally:
        await worker.shutdown()


async def test_a_job_its_worker_never_finished_goes_to_another_worker_even_when_nothing_else_comes(
    stoppable_redis: RedisServer,
) -> None:
    first = worker_broker(stoppable_redis.url, redelivery_after=1.0)
    second = worker_broker(stoppable_redis.url, redelivery_after=1.0)
    await first.startup()
    await second.startup()
    try:
        await first.kick(message(b"orphan"))
        taken = await take(first.listen())
        assert taken.data == b"orphan"
        # The first worker dies here: no ack. Nothing else is enqueued after it.

        redelivered = await take(second.listen())

        assert redelivered.data == b"orphan"
        await acknowledge(redelivered)
    finally:
        await first.shutdown()
        await second.shutdown()


async def test_jobs_whose_delivery_reply_was_lost_come_back_at_once_when_the_worker_reads_again(
    stoppable_redis: RedisServer, client: redis.asyncio.Redis
) -> None:
    """A read that timed out after Redis handed the entries over: they are this worker's, pending."""
    worker = worker_broker(stoppable_redis.url, redelivery_after=60.0)
    await worker.startup()
    try:
        await worker.kick(message(b"reply lost"))
        await client.xreadgroup("app.workers", worker.consumer_name, {JOB_STREAM: ">"})  # delivered, never seen

        delivered = await take(worker.listen(), within=5.0)  # not after the 60 s redelivery time

        assert delivered.data == b"reply lost"
        await acknowledge(delivered)
        assert await client.xlen(JOB_STREAM) == 0
    finally:
        await worker.shutdown()


async def test_a_delayed_job_is_held_until_it_is_due(stoppable_redis: RedisServer, client: redis.asyncio.Redis) -> None:
    worker = worker_broker(stoppable_redis.url)
    await worker.startup()
    deliveries = worker.listen()
    try:
        loop = asyncio.get_running_loop()
        sent_at = loop.time()
        await worker.kick(message(b"later", delay="1.5"))
        await worker.kick(message(b"now"))

        assert (await take(deliveries)).data == b"now"
        assert await client.zcard(f"{JOB_STREAM}.delayed") == 1
        later = await take(deliveries)

        assert later.data == b"later"
        assert loop.time() - sent_at >= 1.5
        assert await client.zcard(f"{JOB_STREAM}.delayed") == 0
    finally:
        await deliveries.aclose()
        await worker.shutdown()


async def test_a_worker_rides_out_a_redis_restart(stoppable_redis: RedisServer) -> None:
    """Redis restarted empty (no persistence): the worker reconnects, declares its group again and goes on."""
    worker = worker_broker(stoppable_redis.url)
    await worker.startup()
    deliveries = worker.listen()
    try:
        await worker.kick(message(b"before"))
        assert (await take(deliveries)).data == b"before"

        next_delivery = asyncio.ensure_future(take(deliveries, within=60))
        await asyncio.sleep(0.2)  # the worker is waiting on Redis
        stoppable_redis.stop()
        await asyncio.sleep(1.0)
        stoppable_redis.start()
        await worker.kick(message(b"after"))

        assert (await next_delivery).data == b"after"
    finally:
        await deliveries.aclose()
        await worker.shutdown()


async def test_a_starting_worker_forgets_workers_that_stopped(
    stoppable_redis: RedisServer, client: redis.asyncio.Redis
) -> None:
    stopped = worker_broker(stoppable_redis.url, redelivery_after=0.2)
    await stopped.startup()
    await stopped.kick(message(b"done"))
    delivered = await take(stopped.listen())
    await acknowledge(delivered)
    await stopped.shutdown()
    await asyncio.sleep(0.5)

    starting = worker_broker(stoppable_redis.url, redelivery_after=0.2)
    await starting.startup()
    try:
        consumers = await client.xinfo_consumers(JOB_STREAM, "app.workers")
        assert [c["name"] for c in consumers] == []
    finally:
        await starting.shutdown()


async def test_jobs_finishing_together_are_acknowledged_in_one_round_trip(
    stoppable_redis: RedisServer, client: redis.asyncio.Redis
) -> None:
    worker = worker_broker(stoppable_redis.url)
    await worker.startup()
    deliveries = worker.listen()
    try:
        for number in range(20):
            await worker.kick(message(str(number).encode()))
        taken = [await take(deliveries) for _ in range(20)]
        await client.config_resetstat()

        await asyncio.gather(*(acknowledge(delivered) for delivered in taken))

        stats = await client.info("commandstats")
        assert (stats["cmdstat_exec"]["calls"], stats["cmdstat_xack"]["calls"]) == (1, 1)
        assert await client.xlen(JOB_STREAM) == 0
        assert (await client.xpending(JOB_STREAM, "app.workers"))["pending"] == 0
    finally:
        await deliveries.aclose()
        await worker.shutdown()


async def test_when_a_batch_cannot_be_written_every_job_in_it_stays_unacknowledged(
    stoppable_redis: RedisServer,
) -> None:
    worker = worker_broker(stoppable_redis.url)
    await worker.startup()
    deliveries = worker.listen()
    try:
        for number in range(3):
            await worker.kick(message(str(number).encode()))
        taken = [await take(deliveries) for _ in range(3)]
        stoppable_redis.stop()

        outcomes = await asyncio.gather(*(acknowledge(d) for d in taken), return_exceptions=True)

        assert all(isinstance(outcome, redis.exceptions.ConnectionError) for outcome in outcomes), outcomes
    finally:
        await deliveries.aclose()
        await worker.shutdown()
