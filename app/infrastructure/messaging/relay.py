"""The outbox relay: publishes committed events, in order, at least once, surviving broker outages.

Every process that serves the API (and the consumer) runs one. They take turns through a
transaction-scoped advisory lock, so one batch is in flight at a time: events leave in
outbox order (per aggregate, commit order), and several relays never publish one row
twice. A relay wakes at once when its own process commits events (``wake``), on
PostgreSQL ``NOTIFY`` from other processes, and otherwise polls.

Rows are marked published only after the broker confirmed them; a failure part-way
through a batch keeps what was confirmed and retries the rest with backoff, so the
broker sees each event at least once and consumers de-duplicate by envelope id. The
relay publishes to ``CommittedEvents``, which also hands each event to this service's
own subscribers (the jobs that events start) under the same rule. The
publisher gets a batch whole, so that it may have all of it in flight at once (RabbitMQ
does: one confirm round trip per batch rather than per event).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import asyncpg
import structlog
from sqlalchemy import delete, func, select, update
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.infrastructure.db.models import OutboxModel
from app.infrastructure.db.uow import OUTBOX_CHANNEL
from app.infrastructure.messaging.publisher import Confirmed

log = structlog.get_logger("app.outbox")

#: Arbitrary but fixed: the advisory lock every relay of this database takes turns on. Whoever
#: holds it (the event benchmark, while it builds a backlog) keeps every relay idle.
RELAY_LOCK_KEY = 0x0A_77_B0_C5
_MAX_BACKOFF_SECONDS = 30.0


class EventPublisher(Protocol):
    async def publish_batch(self, envelopes: Sequence[dict[str, Any]]) -> Confirmed:
        """Hand envelopes to the broker in order; say how many, from the first, it has (confirmed)."""


class OutboxRelay:
    def __init__(
        self,
        engine: AsyncEngine,
        publisher: EventPublisher,
        *,
        batch_size: int = 500,
        poll_seconds: float = 1.0,
        retention: timedelta = timedelta(days=7),
    ) -> None:
        self._engine = engine
        self._publisher = publisher
        self._batch_size = batch_size
        self._poll_seconds = poll_seconds
        self._retention = retention
        self._wakeup = asyncio.Event()
        self._postgres = engine.dialect.name == "postgresql"

    def wake(self) -> None:
        self._wakeup.set()

    async def run(self) -> None:
        """Publish until cancelled; errors are logged and retried with backoff, never raised."""
        listener = asyncio.create_task(self._listen()) if self._postgres else None
        backoff = self._poll_seconds
        last_prune = 0.0
        try:
            while True:
                try:
                    published = await self.publish_pending()
                    if asyncio.get_running_loop().time() - last_prune > 600:
                        await self.prune()
                        last_prune = asyncio.get_running_loop().time()
                    backoff = self._poll_seconds
                except Exception as exc:  # noqa: BLE001 - the relay outlives any one failure
                    log.warning("outbox_relay_failed", error=repr(exc), retry_in=backoff)
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, _MAX_BACKOFF_SECONDS)
                    continue
                if published < self._batch_size:
                    await self._sleep()
        finally:
            if listener is not None:
                listener.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await listener

    async def publish_pending(self) -> int:
        """Publish one batch of the oldest unpublished events; returns how many were confirmed."""
        async with self._engine.begin() as connection:
            if not await self._take_turn(connection):
                return 0
            rows = (await connection.execute(self._pending())).all()
            if not rows:
                return 0
            confirmed = await self._publisher.publish_batch([row.envelope for row in rows])
            if confirmed.count:
                published = [row.id for row in rows[: confirmed.count]]
                await connection.execute(
                    update(OutboxModel).where(OutboxModel.id.in_(published)).values(published_at=_now())
                )
            if confirmed.error is not None:  # The first envelope not confirmed is the one that failed.
                await connection.execute(
                    update(OutboxModel).where(OutboxModel.id == rows[confirmed.count].id)
                    .values(attempts=OutboxModel.attempts + 1)
                )  # fmt: skip
        if confirmed.error is not None:
            raise confirmed.error
        return confirmed.count

    async def prune(self) -> int:
        """Delete published rows past the retention period: the outbox is not an archive."""
        async with self._engine.begin() as connection:
            result = await connection.execute(
                delete(OutboxModel).where(OutboxModel.published_at < _now() - self._retention)
            )
        return int(result.rowcount or 0)

    def _pending(self) -> Any:
        statement = (
            select(OutboxModel.id, OutboxModel.envelope)
            .where(OutboxModel.published_at.is_(None))
            .order_by(OutboxModel.id)
            .limit(self._batch_size)
        )
        return statement.with_for_update(skip_locked=True) if self._postgres else statement

    async def _take_turn(self, connection: AsyncConnection) -> bool:
        if not self._postgres:  # embedded mode: one process, one relay
            return True
        return bool(await connection.scalar(select(func.pg_try_advisory_xact_lock(RELAY_LOCK_KEY))))

    async def _sleep(self) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self._poll_seconds):
                await self._wakeup.wait()
        self._wakeup.clear()

    async def _listen(self) -> None:
        """Wake on NOTIFY from other processes; if listening fails, polling still delivers."""
        dsn = make_url(self._engine.url).set(drivername="postgresql").render_as_string(hide_password=False)
        while True:
            try:
                await self._listen_once(dsn)
            except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
                log.info("outbox_listen_unavailable", error=repr(exc))
            await asyncio.sleep(_MAX_BACKOFF_SECONDS / 3)

    async def _listen_once(self, dsn: str) -> None:
        """Hold one LISTEN connection until it drops."""
        connection = await asyncpg.connect(dsn, timeout=5)
        closed = asyncio.Event()
        connection.add_termination_listener(lambda _: closed.set())
        try:
            await connection.add_listener(OUTBOX_CHANNEL, lambda *_: self.wake())
            self.wake()  # anything committed while nobody was listening
            await closed.wait()
        finally:
            await connection.close()


class CommittedEvents:
    """Where the relay hands each committed event: the broker, if there is one, then in-process subscribers.

    Subscribers are how this service reacts to its own events (``user.registered``
    enqueues the welcome email job); without a broker (embedded mode) they are the only
    destination. They run in whichever process relays the event, once per relaying: the
    relay marks an event published only when the broker confirmed it *and* every
    subscriber returned, so a subscriber that fails has the event again at the next try
    (as may the broker: delivery is at least once, both ways).
    """

    def __init__(self, broker: EventPublisher | None = None) -> None:
        self._broker = broker
        self._handlers: dict[str, list[Callable[[dict[str, Any]], Awaitable[None]]]] = {}

    def subscribe(self, event_type: str, handler: Callable[[dict[str, Any]], Awaitable[None]]) -> None:
        self._handlers.setdefault(event_type, []).append(handler)

    async def publish_batch(self, envelopes: Sequence[dict[str, Any]]) -> Confirmed:
        """The broker takes the batch first; subscribers then get what it confirmed, in order.

        The count returned stops at the first event a subscriber failed on, so that event
        and those after it are relayed again.
        """
        confirmed = await self._broker.publish_batch(envelopes) if self._broker else Confirmed(len(envelopes))
        for count, envelope in enumerate(envelopes[: confirmed.count]):
            try:
                for handler in self._handlers.get(envelope["type"], ()):
                    await handler(envelope)
            except Exception as exc:  # noqa: BLE001 - the relay retries from this event on
                return Confirmed(count, exc)
        return confirmed


def _now() -> datetime:
    return datetime.now(UTC)
