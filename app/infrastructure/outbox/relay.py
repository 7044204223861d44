"""The outbox relay: hands committed events to each destination, in order, at least once, surviving outages.

There are two destinations, each tracked in a column of its own: the broker
(``published_at``, set once it confirmed the event) and this service's own subscribers
(``handled_at``, the jobs events start: ``subscribers.CommittedEvents``). Each takes the events it has
not had, oldest first, and stops at the first that fails; what it had is marked, the rest
is tried again after a backoff of its own. So a Redis outage (the jobs) delays jobs only,
and the broker sees each event once per successful publication, whatever happens to the
other destination; a RabbitMQ outage leaves the jobs alone likewise.

Every process that serves the API (and the consumer) runs one. They take turns through a
transaction-scoped advisory lock, so one batch is in flight at a time: events leave in
outbox order (per aggregate, commit order) to each destination, and several relays never
hand one row over twice. A relay wakes at once when its own process commits events
(``wake``), on PostgreSQL ``NOTIFY`` from other processes, and otherwise polls.

Delivery is at least once both ways (a confirm lost with the connection means a second
publication): consumers de-duplicate by envelope id, and the jobs are idempotent. A
destination gets a batch whole, so that it may have all of it in flight at once
(RabbitMQ does: one confirm round trip per batch rather than per event).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import structlog
from sqlalchemy import (
    Boolean,
    ColumnElement,
    Integer,
    any_,
    bindparam,
    case,
    delete,
    func,
    literal_column,
    or_,
    select,
    union_all,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
from sqlalchemy.engine import Row, make_url
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import InstrumentedAttribute

from app.infrastructure.outbox import metrics
from app.infrastructure.outbox.destination import Confirmed, EventPublisher
from app.infrastructure.outbox.model import OutboxModel
from app.infrastructure.outbox.tracing import EventTracing, TraceHeaders
from app.infrastructure.outbox.writer import OUTBOX_CHANNEL

log = structlog.get_logger("app.outbox")

#: Arbitrary but fixed: the advisory lock every relay of this database takes turns on. Whoever
#: holds it (the event benchmark, while it builds a backlog) keeps every relay idle.
RELAY_LOCK_KEY = 0x0A_77_B0_C5
_MAX_BACKOFF_SECONDS = 30.0
#: How often a running relay measures the outbox's backlog and lag.
_MEASURE_SECONDS = 5.0


class _Nowhere:
    """The broker destination when there is no broker (embedded mode): nothing to publish, all done."""

    async def publish_batch(
        self, envelopes: Sequence[dict[str, Any]], headers: Sequence[TraceHeaders] | None = None
    ) -> Confirmed:
        return Confirmed(len(envelopes))


@dataclass
class _Destination:
    """One destination of the outbox: what delivers to it, the column it marks, and its backoff."""

    name: str
    publisher: EventPublisher
    done: InstrumentedAttribute[datetime | None]
    #: When (event loop clock) the running relay tries it next; a failure puts it off.
    due: float = 0.0
    backoff: float = 0.0

    def failed(self, error: Exception, now: float, poll_seconds: float) -> None:
        self.backoff = min(max(self.backoff * 2, poll_seconds), _MAX_BACKOFF_SECONDS)
        self.due = now + self.backoff
        log.warning("outbox_destination_failed", destination=self.name, error=repr(error), retry_in=self.backoff)

    def succeeded(self) -> None:
        self.due, self.backoff = 0.0, 0.0


class OutboxRelay:
    def __init__(
        self,
        engine: AsyncEngine,
        publisher: EventPublisher | None,
        subscribers: EventPublisher | None = None,
        *,
        batch_size: int = 500,
        poll_seconds: float = 1.0,
        retention: timedelta = timedelta(days=7),
        tracing: EventTracing | None = None,
    ) -> None:
        """``publisher`` is the broker's (None: no broker); ``subscribers`` the service's own (None: none).

        ``tracing`` (None: off): each event is handed over in a span of the trace stored with it.
        """
        self._engine = engine
        self._tracing = tracing
        self._destinations = [
            _Destination("broker", publisher or _Nowhere(), OutboxModel.published_at),
            _Destination("jobs", subscribers or _Nowhere(), OutboxModel.handled_at),
        ]
        self._by_name = {destination.name: destination for destination in self._destinations}
        self._batch_size = batch_size
        self._poll_seconds = poll_seconds
        self._retention = retention
        self._wakeup = asyncio.Event()
        self._postgres = engine.dialect.name == "postgresql"
        # The reading and marking statements, built once per set of destinations (by name).
        self._pending = functools.cache(self._pending_statement)
        self._marking = functools.cache(self._marking_statement)

    def wake(self) -> None:
        self._wakeup.set()

    async def run(self) -> None:
        """Relay until cancelled; errors are logged and retried with backoff, never raised.

        A destination that fails is put off on its own (``_Destination.failed``); a failure
        of the database stops both, with a backoff of its own.
        """
        listener = asyncio.create_task(self._listen()) if self._postgres else None
        loop = asyncio.get_running_loop()
        backoff = self._poll_seconds
        last_prune = last_measure = -_MEASURE_SECONDS
        # The relay's own statements (a poll a second) are no one's work: untraced. What it hands
        # over is traced all the same, in each event's own trace (``_hand_over``).
        with self._tracing.untraced() if self._tracing is not None else contextlib.nullcontext():
            try:
                while True:
                    now = loop.time()
                    due = [destination for destination in self._destinations if destination.due <= now]
                    try:
                        handed, failures = await self._relay(due)
                        if loop.time() - last_prune > 600:
                            await self.prune()
                            last_prune = loop.time()
                        if loop.time() - last_measure > _MEASURE_SECONDS:
                            await self.measure()
                            last_measure = loop.time()
                        backoff = self._poll_seconds
                    except Exception as exc:  # noqa: BLE001 - the relay outlives any one failure
                        log.warning("outbox_relay_failed", error=repr(exc), retry_in=backoff)
                        await asyncio.sleep(backoff)
                        backoff = min(backoff * 2, _MAX_BACKOFF_SECONDS)
                        continue
                    for destination in due:
                        if (error := failures.get(destination.name)) is not None:
                            destination.failed(error, loop.time(), self._poll_seconds)
                        else:
                            destination.succeeded()
                    if handed < self._batch_size:
                        await self._sleep()
            finally:
                if listener is not None:
                    listener.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await listener

    async def publish_pending(self) -> int:
        """One batch to every destination, whatever its backoff; the most events one of them took.

        Raises the first destination's failure, once what the others took is marked.
        """
        handed, failures = await self._relay(self._destinations)
        for error in failures.values():
            raise error
        return handed

    async def _relay(self, destinations: Sequence[_Destination]) -> tuple[int, dict[str, Exception]]:
        """Each destination's oldest events it has not had, in one transaction; what each took is marked.

        One statement reads every due destination's batch and one marks what they took: the
        destinations are handed their batches at once, so a batch costs four round trips to
        the database (begin, read, mark, commit) and the slower destination's time, not the
        sum of both. Returns the most events one destination took, and each failed one's error.
        """
        if not destinations:
            return 0, {}
        async with self._engine.begin() as connection:
            rows = (await connection.execute(self._pending(tuple(d.name for d in destinations)))).all()
            batches = [
                (destination, batch)
                for index, destination in enumerate(destinations)
                if (batch := [row for row in rows if row.destination == index])
            ]
            outcomes = await asyncio.gather(*(self._hand_over(destination, batch) for destination, batch in batches))
            taken = {
                destination.name: [row.id for row in batch[: confirmed.count]]
                for (destination, batch), confirmed in zip(batches, outcomes, strict=True)
                if confirmed.count
            }
            if taken:
                await connection.execute(self._marking(tuple(taken)), {"now": _now(), **taken})
            failures = {}
            for (destination, batch), confirmed in zip(batches, outcomes, strict=True):
                if confirmed.error is not None:  # The first envelope not confirmed is the one that failed.
                    failures[destination.name] = confirmed.error
                    await connection.execute(
                        update(OutboxModel).where(OutboxModel.id == batch[confirmed.count].id)
                        .values(attempts=OutboxModel.attempts + 1)
                    )  # fmt: skip
        return max((confirmed.count for confirmed in outcomes), default=0), failures

    async def _hand_over(self, destination: _Destination, rows: Sequence[Row[Any]]) -> Confirmed:
        envelopes = [row.envelope for row in rows]
        if self._tracing is None:
            return await destination.publisher.publish_batch(envelopes)
        traced = [(row.type, row.trace_context) for row in rows]
        with self._tracing.handing_over(destination.name, traced) as headers:
            return await destination.publisher.publish_batch(envelopes, headers)

    async def measure(self) -> None:
        """Set the backlog and lag gauges (``metrics``) of each destination: one indexed query each."""
        now = _now()
        async with self._engine.connect() as connection:
            for destination in self._destinations:
                count, oldest = (
                    await connection.execute(
                        select(func.count(), func.min(OutboxModel.created_at)).where(destination.done.is_(None))
                    )
                ).one()
                metrics.BACKLOG.labels(destination.name).set(count)
                metrics.LAG.labels(destination.name).set((now - oldest).total_seconds() if oldest else 0.0)

    async def prune(self) -> int:
        """Delete rows every destination had, past the retention period: the outbox is not an archive."""
        cutoff = _now() - self._retention
        async with self._engine.begin() as connection:
            result = await connection.execute(
                delete(OutboxModel).where(OutboxModel.published_at < cutoff, OutboxModel.handled_at < cutoff)
            )
        return int(result.rowcount or 0)

    def _among(self, name: str) -> ColumnElement[bool]:
        """``id = ANY(:name)`` on PostgreSQL: one statement whatever the count, prepared once.

        (An ``IN`` list renders one parameter per id: a statement, and a server-side prepare,
        for every batch size.)
        """
        if self._postgres:
            return OutboxModel.id == any_(bindparam(name, type_=ARRAY(PG_UUID(as_uuid=True))))
        return OutboxModel.id.in_(bindparam(name, expanding=True))

    def _marking_statement(self, names: tuple[str, ...]) -> Any:
        """Marks, for each named destination, the ids bound under its name as had ``:now``."""
        done = {name: self._by_name[name].done for name in names}
        return (
            update(OutboxModel)
            .where(or_(*(self._among(name) for name in names)))
            .values(
                {
                    done[name]: case((self._among(name), bindparam("now", type_=done[name].type)), else_=done[name])
                    for name in names
                }
            )
        )

    def _pending_statement(self, names: tuple[str, ...]) -> Any:
        """Each destination's oldest events it has not had, tagged with its index; on PostgreSQL, only with the turn.

        The turn (the transaction-scoped advisory lock, which the same transaction may take
        again) is taken by the statement itself: an uncorrelated subquery that PostgreSQL
        evaluates once, before reading any row, so the turn costs no round trip of its own,
        and a relay without it reads and locks nothing. Each destination's batch is a
        common table expression of its own, so a long backlog of one destination never
        holds back the other.
        """
        turn = select(func.pg_try_advisory_xact_lock(RELAY_LOCK_KEY, type_=Boolean)).scalar_subquery()
        batches = []
        for index, destination in enumerate(self._by_name[name] for name in names):
            batch = (
                select(
                    literal_column(str(index), Integer).label("destination"),
                    OutboxModel.id, OutboxModel.type, OutboxModel.envelope, OutboxModel.trace_context,
                )
                .where(destination.done.is_(None))
                .order_by(OutboxModel.id)
                .limit(self._batch_size)
            )  # fmt: skip
            if self._postgres:  # embedded mode (SQLite) has one process, one relay
                batch = batch.where(turn).with_for_update(skip_locked=True)
            batches.append(select(batch.cte(destination.name)))
        return union_all(*batches) if len(batches) > 1 else batches[0]

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


def _now() -> datetime:
    return datetime.now(UTC)
