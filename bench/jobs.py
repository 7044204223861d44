"""Background job throughput and latency through Redis with one worker process: ``just bench-jobs``.

The worker is the production one: ``taskiq worker`` (one process) on the service's own
job broker (``create_job_broker``: the Redis stream broker, its result backend and every
middleware, metrics in multiprocess mode as ``just worker`` runs them), with two trivial
jobs registered for the benchmark. Redis is ``REDIS_URL`` when set, else a private
throwaway server. Three measurements, each repeated ``--rounds`` times (medians shown):

- **drain**: ``--jobs`` no-op jobs are enqueued with no worker running; then a fresh worker
  starts and is timed from its first acknowledgement until the stream is empty: the
  worker alone (start-up excluded), with no enqueuer competing for the two cores.
- **live**: the same number enqueued as fast as this process can while the worker runs,
  timed from the first enqueue to the stream being empty: enqueuer, Redis and worker
  sharing the machine.
- **latency**: ``--latency-jobs`` jobs at ``--rate`` per second (light load); each job
  records how long after its enqueue it started (one clock: same machine).

Failed jobs (``job_failed`` and ``job_dead`` in the worker's log) are counted per
measurement. :func:`run` is the one implementation: ``just bench`` runs it too, one
round at a time (``bench.scenarios``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, TypeAlias

from redis.asyncio import Redis
from taskiq import AsyncBroker, TaskiqDepends

from app.infrastructure.config import Settings
from app.infrastructure.jobs.broker import JOB_STREAM, create_job_broker
from bench import backing

LATENCIES = "bench.jobs.latency"
#: What the worker logs for a failed job (retried, or given up).
FAILURES = ("job_failed", "job_dead")
#: A running worker process and the file its output goes to.
Worker: TypeAlias = tuple[asyncio.subprocess.Process, Path]
_POLL_SECONDS = 0.002
_TIMEOUT_SECONDS = 300.0


class JobsError(RuntimeError):
    """The worker exited, or made no progress."""


async def noop() -> None:
    """The trivial job: what the measurement sees is the broker and the worker, not the job."""


class LatencyLog:
    """Where each latency job writes how long after its enqueue it started (a Redis list)."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def add(self, seconds: float) -> None:
        await self._redis.rpush(LATENCIES, seconds)


async def started_after(enqueued_at: float, log: LatencyLog = TaskiqDepends()) -> None:
    await log.add(time.time() - enqueued_at)


def _register(broker: AsyncBroker) -> tuple[Any, Any]:
    return (
        broker.register_task(noop, task_name="bench.noop"),
        broker.register_task(started_after, task_name="bench.started_after"),
    )


def create_broker() -> AsyncBroker:
    """The worker's side (``taskiq worker bench.jobs:create_broker``): the service's broker plus the bench jobs."""
    broker = create_job_broker(Settings(redis_url=os.environ["REDIS_URL"]))
    broker.add_dependency_context({LatencyLog: LatencyLog(Redis.from_url(os.environ["REDIS_URL"]))})
    _register(broker)
    return broker


@contextlib.asynccontextmanager
async def _worker(redis_url: str) -> AsyncIterator[Worker]:
    """One worker process, as ``just worker`` runs it (multiprocess metrics included), and its log."""
    with tempfile.TemporaryDirectory(prefix="bench-worker.") as directory:
        environment = {
            **os.environ,
            "REDIS_URL": redis_url,
            "LOG_LEVEL": "WARNING",
            "JOB_METRICS_PORT": "0",
            "PROMETHEUS_MULTIPROC_DIR": directory,
        }
        command = [sys.executable, "-m", "taskiq", "worker", "bench.jobs:create_broker", "--workers", "1"]
        log_path = Path(directory) / "worker.log"
        with log_path.open("wb") as log:
            process = await asyncio.create_subprocess_exec(
                *command,
                "--no-configure-logging",
                "--log-level",
                "WARNING",
                env=environment,
                start_new_session=True,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
            )
        try:
            yield process, log_path
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            await process.wait()


async def _running(worker: Worker, client: Redis, probe: Any) -> None:
    """Once the worker has run a first job (importing everything takes it seconds)."""
    await probe.kiq()
    await _progress(worker, client, below=1)


async def _progress(worker: Worker, client: Redis, *, below: int) -> float:
    """When fewer than ``below`` jobs are left; fails if the worker exits first."""
    process, log_path = worker
    for _ in range(round(_TIMEOUT_SECONDS / _POLL_SECONDS)):
        if await client.xlen(JOB_STREAM) < below:
            return time.perf_counter()
        if process.returncode is not None:
            raise JobsError(f"the worker exited:\n{log_path.read_bytes()[-4000:].decode()}")
        await asyncio.sleep(_POLL_SECONDS)
    raise JobsError(f"the worker made no progress in {_TIMEOUT_SECONDS:.0f} s")


def _failed(worker: Worker) -> int:
    """How many failed runs of jobs the worker has logged so far."""
    text = worker[1].read_text(errors="replace")
    return sum(text.count(event) for event in FAILURES)


async def _drained(worker: Worker, client: Redis) -> float:
    """When every job was acknowledged (the broker deletes acknowledged entries)."""
    return await _progress(worker, client, below=1)


async def _enqueue(task: Any, count: int, *args: Any) -> None:
    """Enqueue ``count`` jobs, a hundred in flight at a time (as a busy API would)."""
    for start in range(0, count, 100):
        await asyncio.gather(*(task.kiq(*args) for _ in range(min(100, count - start))))


async def _drain(redis_url: str, client: Redis, task: Any, jobs: int) -> tuple[float, int]:
    """Jobs per second of a fresh worker on a queued backlog, and the failed runs."""
    await _enqueue(task, jobs)
    async with _worker(redis_url) as worker:
        started = await _progress(worker, client, below=jobs)
        left = await client.xlen(JOB_STREAM)
        return left / (await _drained(worker, client) - started), _failed(worker)


async def _live(worker: Worker, client: Redis, task: Any, jobs: int) -> tuple[float, float, int]:
    """Jobs per second run and enqueued, enqueuing while the worker runs, and the failed runs."""
    failed = _failed(worker)
    started = time.perf_counter()
    await _enqueue(task, jobs)
    enqueued = time.perf_counter()
    done = jobs / (await _drained(worker, client) - started)
    return done, jobs / (enqueued - started), _failed(worker) - failed


async def _latencies(
    worker: Worker, client: Redis, task: Any, jobs: int, rate: float
) -> tuple[list[float], float, int]:
    """Each job's enqueue-to-start (ms, sorted), the rate enqueued at, and the failed runs."""
    await client.delete(LATENCIES)
    failed = _failed(worker)
    started = time.perf_counter()
    for _ in range(jobs):
        await task.kiq(time.time())
        await asyncio.sleep(1 / rate)
    reached = jobs / (time.perf_counter() - started)
    await _drained(worker, client)
    latencies = sorted(float(value) * 1000 for value in await client.lrange(LATENCIES, 0, -1))
    return latencies, reached, _failed(worker) - failed


async def run(redis_url: str, jobs: int, rounds: int, latency_jobs: int, rate: float) -> dict[str, Any]:
    """Every measurement, ``rounds`` times each, on the Redis of ``redis_url`` (its job stream must be the bench's)."""
    client = Redis.from_url(redis_url)
    broker = create_job_broker(Settings(redis_url=redis_url))
    noop_task, latency_task = _register(broker)
    try:
        drain = [await _drain(redis_url, client, noop_task, jobs) for _ in range(rounds)]
        async with _worker(redis_url) as worker:
            await _running(worker, client, noop_task)
            await _live(worker, client, noop_task, 1000)  # warm-up
            live = [await _live(worker, client, noop_task, jobs) for _ in range(rounds)]
            latency = [await _latencies(worker, client, latency_task, latency_jobs, rate) for _ in range(rounds)]
    finally:
        await broker.shutdown()
        await client.aclose()
    return {
        "machine": f"{os.cpu_count()} CPUs ({platform.machine()}), Python {platform.python_version()}",
        "jobs": jobs,
        "rounds": rounds,
        "drain_jobs_per_second": [round(rate, 1) for rate, _ in drain],
        "drain_failed": [failed for _, failed in drain],
        "live_jobs_per_second": [round(done, 1) for done, _, _ in live],
        "live_enqueued_per_second": [round(enqueued, 1) for _, enqueued, _ in live],
        "live_failed": [failed for _, _, failed in live],
        "latency_jobs": latency_jobs,
        "latency_rate_per_second": rate,
        "latency_reached_per_second": [round(reached, 1) for _, reached, _ in latency],
        "latency_median_ms": [round(statistics.median(r), 2) for r, _, _ in latency],
        "latency_p95_ms": [round(statistics.quantiles(r, n=20)[-1], 2) for r, _, _ in latency],
        "latency_p99_ms": [round(statistics.quantiles(r, n=100)[-1], 2) for r, _, _ in latency],
        "latency_failed": [failed for _, _, failed in latency],
    }


def main() -> None:
    # A stop (as `timeout` or a supervisor sends it) unwinds like Ctrl-C: the worker and Redis are stopped.
    signal.signal(signal.SIGTERM, lambda *_: signal.raise_signal(signal.SIGINT))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=20_000, help="jobs per throughput round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--latency-jobs", type=int, default=500)
    parser.add_argument("--rate", type=float, default=50.0, help="jobs per second in the latency rounds")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()
    with backing.redis_server() as redis_url:
        results = asyncio.run(run(redis_url, args.jobs, args.rounds, args.latency_jobs, args.rate))
    median = statistics.median
    print(results["machine"])
    drain, live = results["drain_jobs_per_second"], results["live_jobs_per_second"]
    print(f"drain   {median(drain):>8.0f} jobs/s  (rounds: {drain})")
    enqueued = median(results["live_enqueued_per_second"])
    print(f"live    {median(live):>8.0f} jobs/s  (rounds: {live}; enqueued at {enqueued:.0f}/s)")
    print(
        f"latency {median(results['latency_median_ms']):>8.2f} ms median, "
        f"{median(results['latency_p95_ms']):.2f} ms p95, {median(results['latency_p99_ms']):.2f} ms p99 "
        f"at {args.rate:g} jobs/s (round medians: {results['latency_median_ms']})"
    )
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
