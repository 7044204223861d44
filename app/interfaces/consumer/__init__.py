"""The consumer process (``just consumer``): applies messages from ``app.inbound``.

Thin by design: the broker's module subscribes, ``handling`` parses the envelope and hands
it to ``InboundMessages``, and the message is settled:

- applied, or a duplicate: acknowledged;
- poison (a body that is not a JSON envelope, whatever its content type claims; unknown
  type, invalid data, unknown user): published at once to ``app.inbound.dlq`` with the
  reason in the ``x-dead-letter-reason`` header, then acknowledged — the consumer keeps going;
- anything else (the database is down, a bug): tried again after a growing pause, and
  dead-lettered once it has been tried more than ``CONSUMER_MAX_RETRIES`` times.

RabbitMQ (``rabbit``), Kafka and Redis streams (``streams``) differ only in how a
message is tried again and how a dead consumer's message comes back. The process also
runs an outbox relay, like every API process, and serves its metrics (messages by type and
outcome, ``app_consumer_messages_total``; the pool; the outbox) on ``HOST:CONSUMER_METRICS_PORT``.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from faststream import FastStream

from app.bootstrap import build_container
from app.infrastructure.config import load_settings_or_exit
from app.infrastructure.logging import configure_logging
from app.infrastructure.messaging.broker import broker_kind
from app.interfaces.consumer.handling import InboundHandler, StartupHook
from app.interfaces.consumer.spec import broker_spec
from app.interfaces.lifecycle import serving
from app.interfaces.prometheus import metrics_served


def create_app() -> FastStream:
    """``faststream run --factory app.interfaces.consumer:create_app`` (``just consumer``)."""
    settings = load_settings_or_exit(role="consumer")
    configure_logging(settings)
    container = build_container(settings)
    broker = container.broker
    if broker is None:  # Refused above: BROKER_URL is required for this role.
        raise AssertionError('BROKER_URL is required by load_settings_or_exit(role="consumer")')
    handler = InboundHandler(container.inbound, max_retries=settings.consumer_max_retries)
    spec = broker_spec(container.inbound.messages, container.events)
    # Each broker's module (and client library) is imported only when it is the one in use.
    hooks: list[StartupHook]
    match broker_kind(broker):
        case "rabbit":
            from app.interfaces.consumer import rabbit  # noqa: PLC0415

            hooks = rabbit.subscribe(broker, handler, settings, spec)  # type: ignore[arg-type]
        case "kafka":
            from app.interfaces.consumer import streams  # noqa: PLC0415

            hooks = streams.subscribe_kafka(broker, handler, settings, spec)  # type: ignore[arg-type]
        case "redis":
            from app.interfaces.consumer import streams  # noqa: PLC0415

            hooks = streams.subscribe_redis(broker, handler, settings, spec)  # type: ignore[arg-type]

    @contextlib.asynccontextmanager
    async def lifespan() -> AsyncIterator[None]:
        with metrics_served(settings.host, settings.consumer_metrics_port, "CONSUMER_METRICS_PORT"):
            async with serving(container):
                yield

    return FastStream(broker, lifespan=lifespan, after_startup=hooks)
