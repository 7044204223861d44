"""Jobs on a Redis stream: a consumer group shared by the workers, delayed messages held
in a sorted set until due, and entries a stopped worker left unacknowledged claimed again
after ``JOB_REDELIVERY_SECONDS``. Acknowledgements and results share round trips.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncGenerator, Callable
from typing import Any, Generic, TypeVar, cast

import structlog
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError
from taskiq import AckableMessage, BrokerMessage, TaskiqResult
from taskiq.serializers import JSONSerializer
from taskiq_redis import RedisAsyncResultBackend, RedisStreamBroker

from app.infrastructure.jobs.middleware import delay_of

log = structlog.get_logger("app.jobs")

T = TypeVar("T")

JOB_STREAM = "app.jobs"
CONSUMER_GROUP = "app.workers"
RESULT_PREFIX = "app.jobs.result"

#: How long a worker's read waits for new jobs before it looks at delayed and stranded ones.
READ_BLOCK_MS = 1000
#: Bound on connecting to Redis; replies get the read's block time on top.
CONNECT_TIMEOUT_SECONDS = 5.0
#: How long an acknowledgement or a result waits for others to share its round trip.
BATCH_WINDOW_SECONDS = 0.002
#: A worker that lost Redis tries again after this, doubling up to the maximum.
_RECONNECT_SECONDS = (0.5, 10.0)

# Holds a message until ARGV[1] ms from now, by Redis's clock (the one every process shares).
_DELAY = """
local now = redis.call('TIME')
local due = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000) + tonumber(ARGV[1])
return redis.call('ZADD', KEYS[1], due, ARGV[2])
"""
# Moves up to ARGV[1] due messages to the stream, atomically: each goes once, whichever worker runs it.
_RELEASE_DUE = """
local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now_ms, 'LIMIT', 0, tonumber(ARGV[1]))
for _, data in ipairs(due) do
  redis.call('XADD', KEYS[2], '*', 'data', data)
  redis.call('ZREM', KEYS[1], data)
end
return #due
"""


class Batched(Generic[T]):
    """Writes what callers hand in within ``window`` seconds of each other together: one round trip for all.

    Each caller still waits until its own item is written (so an acknowledgement still
    follows the job it acknowledges); under load, the jobs finishing within the window
    share one round trip instead of making one each. The first caller of a batch waits
    out the window, then sends it. At most ``window`` is added to each write, which
    delays nothing a job waits for: jobs start before their predecessors are acknowledged.
    """

    def __init__(self, client: Redis, write: Callable[[Pipeline, list[T]], object], *, window: float) -> None:
        self._client = client
        self._write = write
        self._window = window
        self._open: tuple[list[T], asyncio.Future[None]] | None = None

    async def __call__(self, item: T) -> None:
        if self._open is not None:
            items, written = self._open
            items.append(item)
            await written
            return
        items, written = self._open = ([item], asyncio.get_running_loop().create_future())
        try:
            await asyncio.sleep(self._window)  # The others of this window join.
        finally:
            self._open = None  # Whoever comes next starts a batch of their own.
        try:
            async with self._client.pipeline(transaction=True) as pipeline:
                self._write(pipeline, items)
                await pipeline.execute()
        except Exception as exc:
            written.set_exception(exc)
            written.exception()  # Seen here; those waiting on it raise it too.
            raise
        except BaseException:
            written.cancel()
            raise
        written.set_result(None)


def _entries(reply: Any) -> list[tuple[bytes, dict[bytes, bytes]]]:
    """The entries of an ``XREADGROUP`` reply on one stream.

    redis-py answers ``[[stream, [(entry id, {field: value}), …]]]`` with either protocol;
    its stubs leave the shape open.
    """
    streams = cast(list[tuple[bytes, list[tuple[bytes, dict[bytes, bytes]]]]], reply or [])
    return [entry for _, entries in streams for entry in entries]


class RedisJobBroker(RedisStreamBroker):
    """taskiq-redis's stream broker, with what at-least-once delivery needs on top of it.

    - A job is acknowledged once it has run (and its result is stored): the worker's
      default. Until then its entry stays pending in the consumer group.
    - An entry pending for longer than ``redelivery_after`` (its worker died) is claimed by
      another worker (``XAUTOCLAIM``) and run again. Checked on every pass of the read
      loop, idle or not: the upstream loop checks only after a read that brought new
      entries, so on a quiet system a dead worker's job would wait for the next one.
    - A message with a ``delay`` label waits in a sorted set (``app.jobs.delayed``) until
      it is due, and is then moved to the stream by a script, atomically.
    - An acknowledged entry is deleted (``XACK`` + ``XDEL``): the stream holds the jobs not
      done yet, and needs no trimming (``MAXLEN`` trimming could drop jobs never run).
    - The consumer group starts at the stream's first entry, so jobs enqueued before any
      worker ever started are run too.
    - A lost connection is retried with backoff; the worker keeps its place. Entries that
      Redis delivered to this worker but whose reply never arrived (a read timed out)
      are read again from the worker's own pending list when it reconnects, rather than
      waiting ``redelivery_after`` to be claimed.
    - Each worker process reads as a consumer of its own (a random name); at start, a
      worker drops the consumers that have nothing pending and have been idle for longer
      than ``redelivery_after`` (workers that stopped), so the group lists live ones.
    - Every command goes through one client on the broker's pool. (Upstream builds a
      client per command, which costs about a millisecond of Python each: more than
      the round trip itself, and what capped enqueueing near 450 jobs per second.)
      Acknowledgements of jobs that finish within 2 ms of each other share one round
      trip (``Batched``).
    """

    def __init__(self, url: str, *, redelivery_after: float) -> None:
        super().__init__(
            url,
            queue_name=JOB_STREAM,
            consumer_group_name=CONSUMER_GROUP,
            consumer_id="0",
            xread_block=READ_BLOCK_MS,
            idle_timeout=int(redelivery_after * 1000),
            socket_connect_timeout=CONNECT_TIMEOUT_SECONDS,
            socket_timeout=CONNECT_TIMEOUT_SECONDS + READ_BLOCK_MS / 1000,
        )
        self._delayed_key = f"{JOB_STREAM}.delayed"
        self._client = Redis(connection_pool=self.connection_pool)
        self._write_acknowledgement = Batched[bytes](
            self._client, self._write_acknowledgements, window=BATCH_WINDOW_SECONDS
        )
        #: Entries handed to this worker's receiver and not yet acknowledged.
        self._in_hand: set[bytes] = set()
        self._delay = self._client.register_script(_DELAY)
        self._release_due = self._client.register_script(_RELEASE_DUE)

    async def startup(self) -> None:
        await super().startup()  # Declares the stream and the consumer group.
        if self.is_worker_process:
            await self._forget_stopped_consumers()

    async def _forget_stopped_consumers(self) -> None:
        consumers = await self._client.xinfo_consumers(self.queue_name, self.consumer_group_name)
        for consumer in consumers:
            if consumer["pending"] == 0 and consumer["idle"] > self.idle_timeout:
                await self._client.xgroup_delconsumer(self.queue_name, self.consumer_group_name, consumer["name"])

    async def kick(self, message: BrokerMessage) -> None:
        delay = delay_of(message)
        if delay <= 0:
            await self._client.xadd(self.queue_name, {b"data": message.message})
            return
        await self._delay(keys=[self._delayed_key], args=[int(delay * 1000), message.message])

    async def listen(self) -> AsyncGenerator[AckableMessage, None]:
        pause = _RECONNECT_SECONDS[0]
        while True:
            try:
                async for message in self._read():
                    yield message
                    pause = _RECONNECT_SECONDS[0]
            except (RedisConnectionError, RedisTimeoutError, ResponseError) as exc:
                if isinstance(exc, ResponseError) and "NOGROUP" not in str(exc):
                    raise
                log.warning("job_broker_unavailable", error=repr(exc), retry_in=pause)
                await asyncio.sleep(pause)
                pause = min(pause * 2, _RECONNECT_SECONDS[1])

    async def _read(self) -> AsyncGenerator[AckableMessage, None]:
        """Delayed jobs that are due, then stranded ones, then new ones (waiting up to a block), in turn."""
        # Again after every outage: Redis may be back without the stream (NOGROUP).
        await self._declare_consumer_group()
        for entry_id, fields in await self._own_pending():
            if entry_id not in self._in_hand and fields:  # Fields are empty for an entry deleted meanwhile.
                yield self._ackable(entry_id, fields)
        while True:
            await self._release_due(keys=[self._delayed_key, self.queue_name], args=[self.unacknowledged_batch_size])
            claimed = await self._client.xautoclaim(
                self.queue_name,
                self.consumer_group_name,
                self.consumer_name,
                min_idle_time=self.idle_timeout,
                count=self.unacknowledged_batch_size,
            )
            for entry_id, fields in claimed[1]:  # [next cursor, entries, deleted ids (Redis 7)]
                yield self._ackable(entry_id, fields)
            fetched = await self._client.xreadgroup(
                self.consumer_group_name,
                self.consumer_name,
                {self.queue_name: ">"},
                block=self.block,
                count=self.count,
            )
            for entry_id, fields in _entries(fetched):
                yield self._ackable(entry_id, fields)

    async def _own_pending(self) -> list[tuple[bytes, dict[bytes, bytes]]]:
        """This consumer's pending entries (``XREADGROUP`` from id 0 rather than ``>``)."""
        entries: list[tuple[bytes, dict[bytes, bytes]]] = []
        after = b"0"
        while batch := _entries(
            await self._client.xreadgroup(
                self.consumer_group_name, self.consumer_name, {self.queue_name: after}, count=self.count
            )
        ):
            entries.extend(batch)
            after = batch[-1][0]
        return entries

    def _ackable(self, entry_id: bytes, fields: dict[bytes, bytes]) -> AckableMessage:
        self._in_hand.add(entry_id)
        return AckableMessage(data=fields[b"data"], ack=functools.partial(self._acknowledge, entry_id))

    async def _acknowledge(self, entry_id: bytes) -> None:
        try:
            await self._write_acknowledgement(entry_id)
        finally:
            self._in_hand.discard(entry_id)

    def _write_acknowledgements(self, pipeline: Pipeline, entry_ids: list[bytes]) -> None:
        pipeline.xack(self.queue_name, self.consumer_group_name, *entry_ids)
        pipeline.xdel(self.queue_name, *entry_ids)

    async def shutdown(self) -> None:
        await super().shutdown()
        await self._client.aclose()


class RedisJobResults(RedisAsyncResultBackend[Any]):
    """taskiq-redis's result backend, storing results through one client, in batches (see ``Batched``).

    Only storing is on a worker's path (once per job); reading results, which this
    service never does, is left as upstream has it.
    """

    def __init__(self, url: str, *, ttl_seconds: int) -> None:
        super().__init__(
            url,
            result_ex_time=ttl_seconds,
            serializer=JSONSerializer(),  # Not Taskiq's default pickle: what Redis holds is only data.
            prefix_str=RESULT_PREFIX,
            socket_connect_timeout=CONNECT_TIMEOUT_SECONDS,
            socket_timeout=CONNECT_TIMEOUT_SECONDS,
        )
        self._client = Redis(connection_pool=self.redis_pool)
        self._store = Batched[tuple[str, bytes]](self._client, self._write_results, window=BATCH_WINDOW_SECONDS)

    async def set_result(self, task_id: str, result: TaskiqResult[Any]) -> None:
        await self._store((self._task_name(task_id), self.serializer.dumpb(result.model_dump(mode="json"))))

    def _write_results(self, pipeline: Pipeline, results: list[tuple[str, bytes]]) -> None:
        for name, value in results:
            pipeline.set(name, value, ex=self.result_ex_time)

    async def shutdown(self) -> None:
        await self._client.aclose()
        await super().shutdown()
