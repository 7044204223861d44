"""The job worker (``just worker``) and the scheduler (``just scheduler``), as Taskiq factories.

``taskiq worker app.interfaces.worker:create_worker_broker`` calls ``create_worker_broker``
in each worker process, and ``taskiq scheduler app.interfaces.worker:create_scheduler``
calls ``create_scheduler``: both build the container like every other entry point, so
jobs run the API's own use cases over the same adapters. Both need Redis: without
``REDIS_URL`` jobs run inside the API process and there is nothing to work on here. A
worker whose settings are missing or invalid stops, saying why.

A worker process also serves its metrics (``app_jobs_*``, its connection pool, process metrics) on
``HOST:JOB_METRICS_PORT``; with several worker processes the first to bind the port
serves, adding up all of theirs (multiprocess mode, see ``app/interfaces/prometheus.py``).

The scheduler enqueues the jobs whose ``schedule`` label says so (``LabelScheduleSource``):
``purge_expired_sessions`` hourly, ``send_owed_welcome_emails`` every ten minutes. Run one
scheduler: two would enqueue each run twice (harmless for both, but wasted).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal

from taskiq import AsyncBroker, TaskiqEvents, TaskiqScheduler, TaskiqState
from taskiq.schedule_sources import LabelScheduleSource

from app.bootstrap import Container, build_container
from app.infrastructure.config import load_settings_or_exit
from app.infrastructure.db.pool_metrics import report_pool
from app.infrastructure.logging import configure_logging
from app.interfaces.prometheus import metrics_served


def create_worker_broker() -> AsyncBroker:
    try:
        container = _container()
    except SystemExit:
        # Taskiq's supervisor restarts a worker process that exits, for ever, and settings
        # that are wrong now will be wrong at every restart: stop the supervisor too (with
        # the one signal it handles cleanly), so that the worker ends with the reason.
        os.kill(os.getppid(), signal.SIGTERM)
        raise
    broker = container.jobs.broker
    metrics = contextlib.ExitStack()
    pool_gauges: list[asyncio.Task[None]] = []

    async def start(_: TaskiqState) -> None:
        settings = container.settings
        metrics.enter_context(metrics_served(settings.host, settings.job_metrics_port, "JOB_METRICS_PORT"))
        pool_gauges.append(asyncio.create_task(report_pool(container.engine), name="pool-metrics"))

    async def stop(_: TaskiqState) -> None:
        for task in pool_gauges:
            task.cancel()
        metrics.close()
        await container.close(job_broker=False)  # The worker is shutting the job broker down: that is why we are here.

    broker.add_event_handler(TaskiqEvents.WORKER_STARTUP, start)
    broker.add_event_handler(TaskiqEvents.WORKER_SHUTDOWN, stop)
    return broker


def create_scheduler() -> TaskiqScheduler:
    container = _container()
    broker = container.jobs.broker

    async def stop(_: TaskiqState) -> None:
        await container.close(job_broker=False)

    broker.add_event_handler(TaskiqEvents.CLIENT_SHUTDOWN, stop)
    return TaskiqScheduler(broker, sources=[LabelScheduleSource(broker)])


def _container() -> Container:
    settings = load_settings_or_exit(role="worker")
    configure_logging(settings)
    return build_container(settings)
