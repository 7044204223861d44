"""Event pipeline throughput and latency on real servers: ``just bench-events``.

One event makes the whole trip through the service's own code: the unit of work writes a
``user.meta.merge`` envelope to the outbox in its transaction, the relay publishes it to
exchange ``app.events``, and consumer processes (``faststream run``, as ``just consumer``)
apply it from queue ``app.inbound``, which the bench binds to ``app.events`` for that
routing key.

Each run measures, for each number of consumer processes, three stages on fresh events:

- relay: ``--events`` committed while every relay is held off (the bench holds the
  advisory lock they take turns on), then released to one relay process: events/s until
  the last one is published (``outbox.published_at``, set once the broker confirmed);
- consumer: those messages, queued; consumer processes start: events/s between the first
  and the last application (``inbox.processed_at``), so start-up does not count;
- end to end: consumer processes running (each with its relay, as deployed); events
  committed while held off, then released: events/s until the last one is applied.

Each stage also reports the CPU time its processes (the relay, or the consumers) spent
per event: on a shared machine the rates also say how busy it was, CPU time says what the
code costs.

Then, once, latency: one relay process; ``--per-commit`` events per transaction,
committed at a paced ``--rate`` for ``--seconds``; per event, commit (the moment
``commit`` returned) to publish (``outbox.published_at``).

Servers: the PostgreSQL of DATABASE_URL (the bench creates a database of its own there and
drops it afterwards) and the RabbitMQ of BROKER_URL (which must be the bench's alone: it
binds and purges ``app.inbound``), else throwaway servers (``bench.backing``).

:func:`measure_pipeline` is the one implementation: ``just bench-events`` runs it with
every stage, ``just bench`` with the end-to-end and latency stages (``bench.scenarios``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, ClassVar
from uuid import UUID

import aio_pika
import asyncpg

from app.application.inbound import MergeUserMeta
from app.bootstrap import build_container
from app.domain.users.events import UserEvent
from app.infrastructure.auth_cache import NoPrincipalCache
from app.infrastructure.config import load_settings
from app.infrastructure.db.engine import create_engine, create_session_factory
from app.infrastructure.db.uow import SqlAlchemyUnitOfWork
from app.infrastructure.logging import configure_logging
from app.infrastructure.messaging.broker import connect_broker
from app.infrastructure.messaging.publisher import EVENTS, INBOUND_QUEUE
from app.infrastructure.outbox.relay import RELAY_LOCK_KEY
from app.infrastructure.outbox.writer import OUTBOX_CHANNEL
from bench import backing, environment
from bench.seed import seed

ROOT = Path(__file__).resolve().parents[1]
RELAY_PROCESS = (sys.executable, "-m", "bench.events", "--serve-relay")
#: ``just consumer``, without the uv wrapper (the bench already runs in the project's environment).
CONSUMER_PROCESS = (sys.executable, "-m", "faststream", "run", "--factory", "app.interfaces.consumer:create_app")
#: Bound on a process becoming ready, and on its stopping once asked to.
START_SECONDS = 60.0
STOP_SECONDS = 15.0
#: Completion is checked this often; the exact end is read from the database's timestamps.
POLL_SECONDS = 0.2
#: A stage that runs slower than this is a failure, not a result.
SLOWEST_EVENTS_PER_SECOND = 10.0
STAGES = ("relay", "consumer", "end-to-end", "latency")
#: What the processes log when something went wrong and was retried (or given up on).
WARNINGS = ("inbound_retry", "inbound_dead_lettered", "outbox_relay_failed")


@dataclass(frozen=True, slots=True, kw_only=True)
class MetaMergeRequested(UserEvent):
    """The inbound ``user.meta.merge`` command as a user event.

    The outbox's own code then writes the very envelope the consumer applies:
    ``{id, type: "user.meta.merge", occurred_at, version, data: {user_id, meta}}``.
    """

    type: ClassVar[str] = MergeUserMeta.type
    meta: dict[str, str]


class _NoRelayHere:
    def wake(self) -> None:
        """The bench process runs no relay: the relay processes hear each commit's NOTIFY."""


class Producer:
    """Commits bench events through the real unit of work: users read, changed and saved, events to the outbox.

    Event ``seq`` goes to user ``seq mod len(users)`` with ``meta = {"bench": seq}``: a real
    change for the consumer to apply, and the key that ties a published row to its commit.
    """

    def __init__(self, database_url: str, user_ids: Sequence[UUID]) -> None:
        self._engine = create_engine(load_settings({"DATABASE_URL": database_url}, env_file=None))
        self._sessions = create_session_factory(self._engine)
        self._user_ids = user_ids
        self._next = 0

    async def commit(self, count: int) -> list[int]:
        """One transaction of ``count`` events (on as many distinct users); their sequence numbers."""
        seqs = list(range(self._next, self._next + count))
        self._next += count
        by_user = {self._user_ids[seq % len(self._user_ids)]: seq for seq in seqs}
        async with SqlAlchemyUnitOfWork(self._sessions, NoPrincipalCache(), _NoRelayHere()) as uow:
            users = await uow.users.get_many(list(by_user))
            now = datetime.now(UTC)
            for user in users:
                meta = {"bench": str(by_user[user.id])}
                user.record(MetaMergeRequested(user_id=user.id, occurred_at=now, meta=meta))
            await uow.users.save_many(users)
            await uow.commit()
        return seqs

    async def backlog(self, events: int, batch: int) -> float:
        """Commit ``events`` in transactions of ``batch``; returns the seconds it took."""
        started = time.perf_counter()
        for offset in range(0, events, batch):
            await self.commit(min(batch, events - offset))
        return time.perf_counter() - started

    async def close(self) -> None:
        await self._engine.dispose()


class Pipeline:
    """The bench's handle on its database, the broker and the processes it starts: readiness, resets, readings."""

    def __init__(self, database_url: str, broker_url: str, log_dir: Path, log_level: str) -> None:
        self.dsn = backing.dsn(database_url)
        self._broker_url = broker_url
        self._log_dir = log_dir
        self._env = {
            **os.environ,
            "APP_ENV": "local",
            "SECRET_KEY": secrets.token_urlsafe(48),
            "DATABASE_URL": database_url,
            "BROKER_URL": broker_url,
            "REDIS_URL": "",  # The processes measured need no Redis.
            "LOG_LEVEL": log_level,
            "LOG_FORMAT": "json",
        }
        self._started = 0
        self._running: list[subprocess.Popen[bytes]] = []
        self._db: asyncpg.Connection | None = None

    async def __aenter__(self) -> Pipeline:
        self._db = await asyncpg.connect(self.dsn)
        return self

    async def __aexit__(self, *_: object) -> None:
        if self._db is not None:
            await self._db.close()

    @contextlib.contextmanager
    def processes(self, argv: Sequence[str], count: int, lifetime: float) -> Iterator[None]:
        """``count`` processes of ``argv`` with the bench's settings, each logging to a file of its own.

        On exit each is asked to stop (SIGTERM) and killed if it has not within
        :data:`STOP_SECONDS`. Should the bench itself be killed, ``timeout`` still ends
        them after ``lifetime`` seconds.
        """
        bounded = ["timeout", f"--kill-after={STOP_SECONDS:.0f}", f"{lifetime:.0f}", *argv]
        started: list[subprocess.Popen[bytes]] = []
        try:
            for _ in range(count):
                self._started += 1
                with (self._log_dir / f"{self._started:03d}.log").open("wb") as log:
                    started.append(
                        subprocess.Popen(  # noqa: S603 - coreutils' timeout, our own interpreter and modules
                            bounded, cwd=ROOT, env=self._env, stdin=subprocess.DEVNULL, stdout=log, stderr=log
                        )
                    )
            self._running = started
            yield
        finally:
            self._running = []
            for process in started:
                if process.poll() is None:
                    process.send_signal(signal.SIGTERM)  # timeout passes it on
            for process in started:
                try:
                    process.wait(timeout=STOP_SECONDS)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=STOP_SECONDS)

    def cpu_seconds(self) -> float:
        """CPU time (user + system) the running processes have used so far, read from Linux's /proc.

        Wall-clock rates on a shared machine say how busy it was too; CPU time per event
        says what the code costs. (Each process runs under ``timeout``: its child is the one.)
        """
        ticks = 0
        for process in self._running:
            for child in Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text().split():
                fields = environment.process_stat(int(child))
                ticks += int(fields[11]) + int(fields[12])  # utime, stime
        return ticks / os.sysconf("SC_CLK_TCK")

    def logged(self, event: str) -> int:
        """How many times the processes logged ``event`` (their logs are JSON lines)."""
        needle = f'"event": "{event}"'
        return sum(path.read_text(errors="replace").count(needle) for path in self._log_dir.glob("*.log"))

    def warnings(self) -> int:
        """How many retries and failures (:data:`WARNINGS`) the processes logged so far."""
        return sum(self.logged(event) for event in WARNINGS)

    def logs(self) -> str:
        """The end of every process log, to show why a wait ran out."""
        return "\n".join(f"--- {path.name} ---\n{path.read_text(errors='replace')[-3000:]}"
                         for path in sorted(self._log_dir.glob("*.log")))  # fmt: skip

    async def wait_for(self, what: str, done: Callable[[], Awaitable[bool]], within: float) -> None:
        """Poll ``done`` until it holds; after ``within`` s, a ``TimeoutError`` naming ``what``, with the logs."""
        deadline = time.monotonic() + within
        while not await done():
            if time.monotonic() > deadline:
                raise TimeoutError(f"{what}: not within {within:.0f} s\n{self.logs()}")
            await asyncio.sleep(POLL_SECONDS)

    async def value(self, query: str, *params: object) -> Any:
        """The first column of the first row of ``query``."""
        assert self._db is not None  # noqa: S101 - connected by __aenter__
        return await self._db.fetchval(query, *params)

    async def rows(self, query: str, *params: object) -> list[asyncpg.Record]:
        assert self._db is not None  # noqa: S101 - connected by __aenter__
        return await self._db.fetch(query, *params)

    async def count(self, query: str, *params: object) -> int:
        return int(await self.value(query, *params))

    async def relays_listening(self, count: int) -> None:
        """Wait until ``count`` relays hold their LISTEN connection: from then on a NOTIFY wakes them at once."""

        async def listening() -> bool:
            return count <= await self.count(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND query ILIKE $1",
                f"LISTEN %{OUTBOX_CHANNEL}%",
            )

        await self.wait_for(f"{count} relay(s) listening", listening, START_SECONDS)

    async def consumers_subscribed(self, count: int) -> None:
        """Wait until ``count`` consumers are subscribed to ``app.inbound`` and their relays listen."""

        async def subscribed() -> bool:
            async with self._channel() as channel:
                try:
                    queue = await channel.declare_queue(INBOUND_QUEUE, passive=True)
                except aio_pika.exceptions.ChannelNotFoundEntity:  # The first consumer declares it.
                    return False
                return count <= int(queue.declaration_result.consumer_count or 0)

        await self.wait_for(f"{count} consumer(s) subscribed", subscribed, START_SECONDS)
        await self.relays_listening(count)

    @contextlib.asynccontextmanager
    async def _channel(self) -> AsyncIterator[aio_pika.abc.AbstractChannel]:
        connection = await aio_pika.connect(self._broker_url, timeout=10)
        try:
            yield await connection.channel()
        finally:
            await connection.close()

    async def bind_inbound(self) -> None:
        """Route the bench's events to ``app.inbound``.

        The queue is the consumer's, declared by it with its own arguments, so one consumer
        runs until it has; the exchange is declared as the publisher declares it.
        """
        with self.processes(CONSUMER_PROCESS, 1, 2 * START_SECONDS):
            await self.consumers_subscribed(1)
        await self._route(bind=True)

    async def unbind_inbound(self) -> None:
        await self._route(bind=False)

    async def _route(self, *, bind: bool) -> None:
        async with self._channel() as channel:
            exchange = await channel.declare_exchange(EVENTS, aio_pika.ExchangeType.TOPIC, durable=True)
            queue = await channel.declare_queue(INBOUND_QUEUE, passive=True)
            if bind:
                await queue.bind(exchange, routing_key=MetaMergeRequested.type)
            else:
                await queue.unbind(exchange, routing_key=MetaMergeRequested.type)

    async def reset(self) -> None:
        """Empty the outbox, the inbox and ``app.inbound``: every stage starts from nothing."""
        await self.value("TRUNCATE outbox, inbox")
        async with self._channel() as channel:
            await (await channel.declare_queue(INBOUND_QUEUE, passive=True)).purge()


class RelayGate:
    """Holds every relay of the database off by holding the advisory lock they take turns on.

    A backlog committed meanwhile waits, whole, in the outbox; :meth:`open` lets the relays
    at it and wakes them as a commit would (NOTIFY), and returns when that was.
    """

    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self._connection: asyncpg.Connection | None = None

    async def __aenter__(self) -> RelayGate:
        self._connection = await asyncpg.connect(self._dsn)
        await self._connection.execute("SELECT pg_advisory_lock($1)", RELAY_LOCK_KEY)
        return self

    async def open(self) -> float:
        assert self._connection is not None  # noqa: S101 - opened by __aenter__
        opened = time.time()
        await self._connection.execute("SELECT pg_advisory_unlock($1)", RELAY_LOCK_KEY)
        await self._connection.execute(f"NOTIFY {OUTBOX_CHANNEL}")
        return opened

    async def __aexit__(self, *_: object) -> None:
        if self._connection is not None:
            await self._connection.close()  # Also lets go of the lock if it was never opened.


class ConsumerGate:
    """Holds every consumer's first batch off by a SHARE lock on the inbox, which each claim (an insert) waits for.

    A consumer applies a queued backlog as soon as it subscribes, a small one in a single
    batch: without the gate it could be done before its CPU time was first read, and the
    figure would count nothing. Reads of the inbox are not held.
    """

    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self._connection: asyncpg.Connection | None = None

    async def __aenter__(self) -> ConsumerGate:
        self._connection = await asyncpg.connect(self._dsn)
        await self._connection.execute("BEGIN; LOCK TABLE inbox IN SHARE MODE")
        return self

    async def open(self) -> None:
        assert self._connection is not None  # noqa: S101 - opened by __aenter__
        await self._connection.execute("COMMIT")

    async def __aexit__(self, *_: object) -> None:
        if self._connection is not None:
            await self._connection.close()  # Also lets go of the lock if it was never opened.


def completion_bound(events: int) -> float:
    """Seconds a stage of ``events`` may take before it counts as a failure."""
    return START_SECONDS + events / SLOWEST_EVENTS_PER_SECOND


async def all_published(pipeline: Pipeline, events: int) -> float:
    """Wait until the bench's events are all published; when the last one was (epoch seconds)."""

    async def published() -> bool:
        unpublished = "SELECT count(*) FROM outbox WHERE type = $1 AND published_at IS NULL"
        return await pipeline.count(unpublished, MetaMergeRequested.type) == 0

    await pipeline.wait_for(f"{events} events published", published, completion_bound(events))
    last = "SELECT extract(epoch FROM max(published_at)) FROM outbox WHERE type = $1"
    return float(await pipeline.value(last, MetaMergeRequested.type))


async def all_applied(pipeline: Pipeline, events: int) -> None:
    async def applied() -> bool:
        return await pipeline.count("SELECT count(*) FROM inbox") >= events

    await pipeline.wait_for(f"{events} messages applied", applied, completion_bound(events))


async def relay_stage(pipeline: Pipeline, producer: Producer, events: int, batch: int) -> dict[str, float]:
    """Commit a held-off backlog, release it to one relay process; the messages stay queued for the consumers."""
    await pipeline.reset()
    async with RelayGate(pipeline.dsn) as gate:
        with pipeline.processes(RELAY_PROCESS, 1, 3 * completion_bound(events)):
            commit_seconds = await producer.backlog(events, batch)
            await pipeline.relays_listening(1)
            cpu = pipeline.cpu_seconds()
            released = await gate.open()
            last = await all_published(pipeline, events)
            cpu = pipeline.cpu_seconds() - cpu
    return {
        "commit_per_s": events / commit_seconds,
        "relay_per_s": events / (last - released),
        "relay_cpu_ms_per_event": 1000 * cpu / events,
    }


async def consumer_stage(pipeline: Pipeline, events: int, consumers: int) -> dict[str, float]:
    """Start consumer processes on the queued backlog; the rate between the first and the last application.

    Their CPU time is counted from the moment all are subscribed (their first claims held
    until then by :class:`ConsumerGate`), over what they applied since.
    """
    async with ConsumerGate(pipeline.dsn) as gate:
        with pipeline.processes(CONSUMER_PROCESS, consumers, 2 * completion_bound(events)):
            await pipeline.consumers_subscribed(consumers)
            cpu, before = pipeline.cpu_seconds(), await pipeline.count("SELECT count(*) FROM inbox")
            await gate.open()
            await all_applied(pipeline, events)
            cpu = pipeline.cpu_seconds() - cpu
    span = await pipeline.value("SELECT extract(epoch FROM max(processed_at) - min(processed_at)) FROM inbox")
    return {
        "consumer_per_s": (events - 1) / float(span),
        "consumer_cpu_ms_per_event": 1000 * cpu / max(1, events - before),
    }


async def end_to_end_stage(
    pipeline: Pipeline, producer: Producer, events: int, batch: int, consumers: int
) -> dict[str, float]:
    """Consumers (and their relays) running; a held-off backlog released: events/s until the last is applied."""
    await pipeline.reset()
    with pipeline.processes(CONSUMER_PROCESS, consumers, 4 * completion_bound(events)):
        await pipeline.consumers_subscribed(consumers)
        async with RelayGate(pipeline.dsn) as gate:
            await producer.backlog(events, batch)
            cpu = pipeline.cpu_seconds()
            released = await gate.open()
        await all_applied(pipeline, events)
        cpu = pipeline.cpu_seconds() - cpu
    last = float(await pipeline.value("SELECT extract(epoch FROM max(processed_at)) FROM inbox"))
    return {"end_to_end_per_s": events / (last - released), "end_to_end_cpu_ms_per_event": 1000 * cpu / events}


async def latency_stage(
    pipeline: Pipeline, producer: Producer, *, rate: float, seconds: float, per_commit: int, in_flight: int
) -> dict[str, float]:
    """Events at a paced rate (``per_commit`` a transaction), one relay process: commit-to-publish latency per event.

    Transactions start on schedule, at most ``in_flight`` at once; one that cannot start
    on time starts late, and the rate reached says so.
    """
    await pipeline.reset()
    load = os.getloadavg()[0]
    commits = round(rate * seconds / per_commit)
    total = commits * per_commit
    committed: dict[int, float] = {}
    slots = asyncio.Semaphore(in_flight)

    async def commit() -> None:
        async with slots:
            # Timed from when the transaction is sent, not from when its answer is read: a relay
            # woken by the commit can publish before this coroutine runs again, which would
            # read as a negative latency. The transaction's own round trip is counted with it.
            sent = time.time()
            seqs = await producer.commit(per_commit)
            committed.update(dict.fromkeys(seqs, sent))

    with pipeline.processes(RELAY_PROCESS, 1, seconds + 2 * completion_bound(total)):
        await pipeline.relays_listening(1)
        started = time.perf_counter()
        tasks = []
        for n in range(commits):
            await asyncio.sleep(max(0.0, started + n * per_commit / rate - time.perf_counter()))
            tasks.append(asyncio.create_task(commit()))
        await asyncio.gather(*tasks)
        commit_seconds = time.perf_counter() - started
        await all_published(pipeline, total)
    rows = await pipeline.rows(
        "SELECT (envelope->'data'->'meta'->>'bench')::bigint, extract(epoch FROM published_at) FROM outbox"
        " WHERE type = $1",
        MetaMergeRequested.type,
    )
    latencies = [(float(published_at) - committed[seq]) * 1000 for seq, published_at in rows]
    cuts = statistics.quantiles(latencies, n=100)
    return {
        "load_1min": load,
        "offered_per_s": rate,
        "committed_per_s": total / commit_seconds,
        "events": total,
        "events_per_commit": per_commit,
        "p50_ms": cuts[49],
        "p95_ms": cuts[94],
        "p99_ms": cuts[98],
        "max_ms": max(latencies),
    }


def medians(runs: Sequence[dict[str, float]]) -> dict[str, float]:
    return {key: statistics.median(run[key] for run in runs) for key in runs[0]}


def shown(figures: dict[str, float]) -> str:
    return ", ".join(f"{name} {value:,.1f}" for name, value in figures.items())


@dataclass(frozen=True, slots=True)
class Plan:
    """What to measure: the stages, their sizes and the processes' settings (``--help`` says each)."""

    stages: Sequence[str] = STAGES
    events: int = 3000
    batch: int = 100
    runs: int = 3
    consumers: Sequence[int] = (1, 2)
    rate: float = 500.0
    seconds: float = 15.0
    per_commit: int = 5
    in_flight: int = 16
    users: int = 10_000
    log_level: str = "INFO"


async def measure(plan: Plan, pipeline: Pipeline, producer: Producer) -> dict[str, Any]:
    """The stages asked for; the consumer stage needs the relay stage's queued backlog, so it brings it along.

    Retries and failures would weigh on the figures: each stage counts those logged during
    it (``warnings``), and the totals are kept by kind.
    """
    stages = set(plan.stages)
    results: dict[str, Any] = {}
    if stages & {"relay", "consumer", "end-to-end"}:
        results["throughput"] = []
        for consumers in plan.consumers:
            runs = []
            for number in range(1, plan.runs + 1):
                figures = {"load_1min": os.getloadavg()[0]}  # The machine is shared: how busy was it?
                warned = pipeline.warnings()
                if stages & {"relay", "consumer"}:
                    figures |= await relay_stage(pipeline, producer, plan.events, plan.batch)
                if "consumer" in stages:
                    figures |= await consumer_stage(pipeline, plan.events, consumers)
                if "end-to-end" in stages:
                    figures |= await end_to_end_stage(pipeline, producer, plan.events, plan.batch, consumers)
                figures["warnings"] = pipeline.warnings() - warned
                print(f"consumers {consumers}, run {number}: {shown(figures)}", flush=True)
                runs.append(figures)
            results["throughput"].append({"consumers": consumers, "runs": runs, "median": medians(runs)})
    if "latency" in stages:
        warned = pipeline.warnings()
        results["latency"] = await latency_stage(
            pipeline,
            producer,
            rate=plan.rate,
            seconds=plan.seconds,
            per_commit=plan.per_commit,
            in_flight=plan.in_flight,
        )
        results["latency"]["warnings"] = pipeline.warnings() - warned
        print(f"latency: {shown(results['latency'])}", flush=True)
    results["warnings"] = {event: pipeline.logged(event) for event in WARNINGS}
    return results


def measure_pipeline(plan: Plan, server_url: str, broker_url: str) -> dict[str, Any]:
    """Set up a database (seeded) and the routing of the bench's own, measure, and take both down again."""
    with backing.fresh_database(server_url) as database_url:
        asyncio.run(seed(database_url, plan.users))
        return asyncio.run(_measure_in(plan, database_url, broker_url))


async def _measure_in(plan: Plan, database_url: str, broker_url: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-events-") as log_dir:
        async with Pipeline(database_url, broker_url, Path(log_dir), plan.log_level) as pipeline:
            user_ids = [row[0] for row in await pipeline.rows("SELECT id FROM users WHERE deleted_at IS NULL")]
            producer = Producer(database_url, user_ids)
            await pipeline.bind_inbound()
            try:
                results = await measure(plan, pipeline, producer)
            finally:
                await pipeline.unbind_inbound()
                await pipeline.reset()  # nothing the bench routed to app.inbound stays there for a consumer
                await producer.close()
    results["versions"] = {
        "postgresql": await backing.postgres_version(database_url),
        "rabbitmq": await backing.rabbitmq_version(broker_url),
    }
    return results


async def serve_relay() -> None:
    """The relay on its own, as every API process runs it beside serving: the bench's relay process.

    Its broker connects before the relay starts listening, so a listening relay (what the
    bench waits for) publishes at once. It stops on SIGTERM.
    """
    settings = load_settings()
    configure_logging(settings)
    container = build_container(settings)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    try:
        if container.broker is not None:
            await connect_broker(container.broker, START_SECONDS)
        relay = asyncio.create_task(container.relay.run())
        await stop.wait()
        relay.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await relay
    finally:
        await container.close()


def main() -> None:
    default = Plan()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=default.events, help="events per stage (default %(default)s)")
    parser.add_argument(
        "--batch", type=int, default=default.batch, help="events per transaction in a backlog (default %(default)s)"
    )
    parser.add_argument(
        "--runs", type=int, default=default.runs, help="runs per number of consumers (default %(default)s)"
    )
    parser.add_argument(
        "--consumers",
        type=int,
        nargs="+",
        default=list(default.consumers),
        help="consumer processes (default %(default)s)",
    )
    parser.add_argument(
        "--rate", type=float, default=default.rate, help="paced events/s for latency (default %(default)s)"
    )
    parser.add_argument(
        "--seconds", type=float, default=default.seconds, help="length of the paced run (default %(default)s)"
    )
    # One process committing a single event per transaction through the ORM reaches ~200/s on 2 cores.
    parser.add_argument(
        "--per-commit", type=int, default=default.per_commit, help="events per paced transaction (default %(default)s)"
    )
    parser.add_argument(
        "--in-flight",
        type=int,
        default=default.in_flight,
        help="paced transactions at once, at most (default %(default)s)",
    )
    parser.add_argument("--stages", nargs="+", choices=STAGES, default=list(STAGES), help="stages to run (default all)")
    parser.add_argument("--users", type=int, default=default.users, help="users the events go to (default %(default)s)")
    parser.add_argument(
        "--log-level", default=default.log_level, help="LOG_LEVEL of the processes measured (default %(default)s)"
    )
    parser.add_argument("--json", type=Path, help="results file (default bench/results/events-DATE.json)")
    parser.add_argument("--serve-relay", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_relay:
        asyncio.run(serve_relay())
        return
    if args.users < 2 * max(args.batch, args.in_flight * args.per_commit):
        parser.error(
            "--users must be at least twice --batch and --in-flight times --per-commit (distinct users at once)"
        )
    plan = Plan(**{name: value for name, value in vars(args).items() if name not in {"json", "serve_relay"}})
    throwaway = not (backing.configured("DATABASE_URL", "postgresql") and backing.configured("BROKER_URL", "amqp"))
    with backing.postgres() as server_url, backing.rabbitmq() as broker_url:
        measured = measure_pipeline(plan, server_url, broker_url)
    today = date.today().isoformat()
    results = {
        "date": today,
        "command": " ".join(["python -m bench.events", *sys.argv[1:]]),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "servers": "throwaway" if throwaway else "configured",
            **measured.pop("versions"),
        },
        "settings": asdict(plan),
        **measured,
    }
    path = args.json or ROOT / "bench" / "results" / f"events-{today}.json"
    path.write_text(json.dumps(results, indent=2) + "\n")
    print(f"results: {path}")


if __name__ == "__main__":
    main()
