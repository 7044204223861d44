"""The message broker: FastStream's RabbitMQ, Kafka or Redis broker, chosen by ``BROKER_URL``'s scheme.

``amqp://`` / ``amqps://`` make a :class:`~faststream.rabbit.RabbitBroker`,
``kafka://host:port[,host:port]`` a :class:`~faststream.kafka.KafkaBroker` and
``redis://`` / ``rediss://`` a :class:`~faststream.redis.RedisBroker`. Making one connects
nothing: the first user connects it (:func:`connect_broker`), and every wait on it is
bounded. Each client library is imported only when its broker is chosen, so a process
without a broker, or with another one, does not pay for it.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from typing import TYPE_CHECKING, Any, Literal, TypeAlias, TypeGuard, cast
from urllib.parse import urlsplit

from app.infrastructure.config import Settings, broker_scheme

if TYPE_CHECKING:
    from faststream.kafka import KafkaBroker
    from faststream.rabbit import RabbitBroker
    from faststream.redis import RedisBroker

    Broker: TypeAlias = RabbitBroker | KafkaBroker | RedisBroker
else:
    # At run time the alias must exist (Litestar and msgspec evaluate the annotations of the
    # container that holds the broker), yet naming the three classes would import all three
    # client libraries, and even their common base class imports FastStream itself, which a
    # process without a broker never uses: ``Any`` stands in for them.
    Broker = Any

#: Bound on establishing a connection (TCP, TLS and the AMQP handshake for RabbitMQ).
CONNECT_TIMEOUT_SECONDS = 5.0

#: How long a lost RabbitMQ connection waits between attempts to come back.
RECONNECT_INTERVAL_SECONDS = 2.0


class BrokerUnavailableError(ConnectionError):
    """The broker did not answer within the time allowed."""


def create_broker(settings: Settings) -> Broker | None:
    """The process's broker, or None when ``BROKER_URL`` is not set. Nothing connects here.

    RabbitMQ gets publisher confirms on its default channel (a publish returns once the
    broker has taken the message) and a robust connection that reconnects by itself;
    Kafka waits for every in-sync replica (``acks="all"``), the same guarantee. FastStream's
    two lines per message consumed ("Received", "Processed") are debug lines: at the
    consumer's rates they cost more CPU than applying the message (the service logs what
    it does with a message itself). An
    unsupported scheme is a ``ValueError`` naming ``BROKER_URL`` (settings refuse it at
    start-up already). With tracing on, FastStream's telemetry middleware makes each message
    consumed a span that continues the trace of its ``traceparent`` header.
    """
    url = settings.broker_url
    if url is None:
        return None
    broker = _broker_for(url)
    if settings.tracing_enabled:
        from app.infrastructure.tracing.messaging import telemetry_middleware  # noqa: PLC0415 - only when on

        broker.insert_middleware(telemetry_middleware(broker_kind(broker)))
    return broker


def _broker_for(url: str) -> Broker:
    scheme = broker_scheme(url)
    # Each library is imported once chosen: see the module's docstring.
    if scheme in {"amqp", "amqps"}:
        from faststream.rabbit import RabbitBroker  # noqa: PLC0415
        from faststream.rabbit.schemas import Channel  # noqa: PLC0415

        return RabbitBroker(
            url,
            timeout=CONNECT_TIMEOUT_SECONDS,
            fail_fast=True,  # A first connection that fails raises, instead of retrying forever.
            reconnect_interval=RECONNECT_INTERVAL_SECONDS,
            default_channel=Channel(publisher_confirms=True),
            log_level=logging.DEBUG,
        )
    if scheme == "kafka":
        from faststream.kafka import KafkaBroker  # noqa: PLC0415

        return KafkaBroker(_kafka_bootstrap_servers(url), acks="all", log_level=logging.DEBUG)
    from faststream.redis import RedisBroker  # noqa: PLC0415

    return RedisBroker(url, socket_connect_timeout=CONNECT_TIMEOUT_SECONDS, log_level=logging.DEBUG)


def _kafka_bootstrap_servers(url: str) -> list[str]:
    """``kafka://host:port[,host:port]`` → ``["host:port", ...]``."""
    netloc = urlsplit(url).netloc
    if "@" in netloc:
        raise ValueError("BROKER_URL: a kafka:// URL takes no credentials, only host:port[,host:port]")
    servers = [server.strip() for server in netloc.split(",") if server.strip()]
    if not servers:
        raise ValueError("BROKER_URL: no host after kafka://")
    return servers


#: The connection attempt in flight per broker, shared by everyone waiting for it.
_connecting: weakref.WeakKeyDictionary[Broker, asyncio.Future[object]] = weakref.WeakKeyDictionary()


async def connect_broker(broker: Broker, timeout: float) -> None:  # noqa: ASYNC109 - callers set their own bound
    """Connect ``broker`` if it is not yet, waiting at most ``timeout`` seconds.

    Concurrent callers share one attempt. An attempt that outlives a caller's bound is
    not cancelled (that could leave a half-open connection behind): it goes on, bounded
    by :data:`CONNECT_TIMEOUT_SECONDS`, and a later caller finds it done or joins it.
    Once connected this is cheap: FastStream's ``connect()`` returns the open connection.
    """
    attempt = _connecting.get(broker)
    if attempt is None:
        attempt = asyncio.ensure_future(broker.connect())
        _connecting[broker] = attempt
        attempt.add_done_callback(lambda done: _attempt_over(broker, done))
    async with asyncio.timeout(timeout):
        await asyncio.shield(attempt)


def _attempt_over(broker: Broker, attempt: asyncio.Future[object]) -> None:
    """Forget a finished attempt (the next caller starts afresh) and mark its error as seen."""
    if _connecting.get(broker) is attempt:
        del _connecting[broker]
    if not attempt.cancelled():
        attempt.exception()  # Whoever waited got it; nobody else must be told it was "never retrieved".


async def ping_broker(broker: Broker, timeout: float) -> None:  # noqa: ASYNC109 - a probe sets its own bound
    """Check that the broker answers a round trip within ``timeout`` seconds, connecting it if needed.

    RabbitMQ: opening (and closing) a channel of its own, which the broker must answer.
    Kafka and Redis: FastStream's ``ping`` (cluster metadata, PING).
    Raises ``TimeoutError`` or :class:`BrokerUnavailableError`, whatever the client raised.
    """
    try:
        async with asyncio.timeout(timeout):
            await connect_broker(broker, timeout)
            if _is_rabbit(broker):
                await _open_and_close_a_channel(broker)
                return
            if not await broker.ping(timeout):
                raise BrokerUnavailableError(f"{type(broker).__name__} did not answer a ping within {timeout:g}s")
    except (TimeoutError, BrokerUnavailableError):
        raise
    except Exception as exc:
        # Only the error's type: client messages may quote the URL, and with it the password.
        raise BrokerUnavailableError(f"{type(broker).__name__} is unreachable: {type(exc).__name__}") from exc


async def _open_and_close_a_channel(broker: RabbitBroker) -> None:
    """A round trip on a plain (not robust) channel of the connection's own.

    Not the publishers' channel: a call cut short by a timeout closes the channel it was
    made on. Not a robust channel either: one whose opening was cut short would be
    reopened by every reconnection, for good.
    """
    connection = await broker.connect()
    transport = connection.transport
    if transport is None:  # Lost, and being re-established.
        raise BrokerUnavailableError("RabbitBroker is reconnecting")
    channel = await transport.connection.channel(publisher_confirms=False)
    await channel.close()


BrokerKind: TypeAlias = Literal["rabbit", "kafka", "redis"]


def broker_kind(broker: Broker) -> BrokerKind:
    """Which of the three brokers this is, told by its package: ``faststream.<kind>``.

    Asked without importing any client library (see the module's docstring).
    """
    return cast("BrokerKind", type(broker).__module__.split(".")[1])


def _is_rabbit(broker: Broker) -> TypeGuard[RabbitBroker]:
    return broker_kind(broker) == "rabbit"
