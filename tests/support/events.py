"""The subscriber's side of the events the service publishes: a queue bound to ``app.events``, and what reaches it."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable, Collection

import aio_pika
from aio_pika.abc import AbstractIncomingMessage, AbstractQueue
from aiormq.exceptions import AMQPConnectionError, ChannelInvalidStateError

#: How long to wait before consuming again on a connection that is still reconnecting.
_RECONSUME_SECONDS = 0.5


@contextlib.asynccontextmanager
async def bound_queue(broker_url: str, pattern: str = "user.#") -> AsyncIterator[AbstractQueue]:
    """A durable test queue bound to app.events, as a subscribing service would declare it.

    Its connection is robust: after a broker restart it reconnects and consumes again.
    """
    connection = await aio_pika.connect_robust(broker_url)
    try:
        channel = await connection.channel()
        exchange = await channel.declare_exchange("app.events", aio_pika.ExchangeType.TOPIC, durable=True)
        queue = await channel.declare_queue(f"test.{uuid.uuid4().hex}", durable=True)
        await queue.bind(exchange, routing_key=pattern)
        yield queue
        await queue.delete(if_unused=False, if_empty=False)
    finally:
        await connection.close()


async def received(queue: AbstractQueue, count: int, within: float = 15.0) -> list[AbstractIncomingMessage]:
    """The next ``count`` distinct messages (by message id: delivery is at least once)."""
    got: list[AbstractIncomingMessage] = []
    await _consume(queue, got, within, lambda: len({m.message_id for m in got}) == count)
    first: dict[str | None, AbstractIncomingMessage] = {}
    for message in got:
        first.setdefault(message.message_id, message)
    return list(first.values())


async def deliveries(
    queue: AbstractQueue, message_ids: Collection[str], within: float
) -> list[AbstractIncomingMessage]:
    """Every delivery, duplicates and others included, until each of ``message_ids`` has come."""
    got: list[AbstractIncomingMessage] = []
    await _consume(queue, got, within, lambda: set(message_ids) <= {m.message_id for m in got})
    return got


async def arriving(queue: AbstractQueue, seconds: float) -> list[AbstractIncomingMessage]:
    """Whatever is delivered within ``seconds``: after the expected ones, a duplicate would be."""
    got: list[AbstractIncomingMessage] = []
    with contextlib.suppress(TimeoutError):
        await _consume(queue, got, seconds, lambda: False)
    return got


async def _consume(
    queue: AbstractQueue, got: list[AbstractIncomingMessage], within: float, enough: Callable[[], bool]
) -> None:
    """Acknowledge and append each delivery to ``got`` until ``enough()``; ``TimeoutError`` after ``within`` s.

    Right after a broker restart the robust connection may not have reconnected yet (it
    waits between attempts), so a consume that finds it closed is tried again, as a
    subscriber's would be, until the time is up.
    """
    async with asyncio.timeout(within):
        while True:
            try:
                async with queue.iterator() as incoming:
                    async for message in incoming:
                        await message.ack()
                        got.append(message)
                        if enough():
                            return
            except (AMQPConnectionError, ChannelInvalidStateError, ConnectionError):
                await asyncio.sleep(_RECONSUME_SECONDS)
