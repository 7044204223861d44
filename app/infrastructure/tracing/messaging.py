"""FastStream's own telemetry middleware for the broker in use: consumed (and published) messages as spans."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from app.infrastructure.messaging.broker import BrokerKind


def telemetry_middleware(kind: BrokerKind) -> Any:
    """The middleware of this kind of broker; each kind's module is imported only when it is the one."""
    if kind == "rabbit":
        from faststream.rabbit.opentelemetry import RabbitTelemetryMiddleware  # noqa: PLC0415

        return RabbitTelemetryMiddleware()
    if kind == "kafka":
        from faststream.kafka.opentelemetry import KafkaTelemetryMiddleware  # noqa: PLC0415

        return KafkaTelemetryMiddleware()
    from faststream.redis.opentelemetry import RedisTelemetryMiddleware  # noqa: PLC0415

    return RedisTelemetryMiddleware()
