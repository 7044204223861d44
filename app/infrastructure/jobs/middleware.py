"""Taskiq middlewares every job goes through: its log context, its metrics, its retries.

Three labels travel with a job's message: ``attempt`` (1 for the first run, absent until
a retry sets it), ``waited`` (how many runs met an outage and were put off, absent until
one was) and ``delay`` (seconds the broker holds the message before delivering it; see
``broker.py``).
"""

from __future__ import annotations

import random
import time
from contextvars import ContextVar
from typing import Any

import structlog
from taskiq import BrokerMessage, TaskiqMessage, TaskiqMiddleware, TaskiqResult
from taskiq.exceptions import NoResultError
from taskiq.kicker import AsyncKicker

from app.application.ports import DependencyUnavailable
from app.infrastructure.jobs import metrics

ATTEMPT = "attempt"
WAITED = "waited"
DELAY = "delay"
#: The longest pause between two runs of a job waiting out an outage: once the dependency is
#: back, each waiting job runs within this long (or JOB_RETRY_MAX_SECONDS, if shorter).
OUTAGE_RETRY_MAX_SECONDS = 30.0

log = structlog.get_logger("app.jobs")

#: When the current job started; each job runs in an asyncio task of its own, with its own value.
_started: ContextVar[float] = ContextVar("job_started")


def attempt_of(message: TaskiqMessage) -> int:
    return int(message.labels.get(ATTEMPT, 1))


def waited_of(message: TaskiqMessage) -> int:
    return int(message.labels.get(WAITED, 0))


class LogContext(TaskiqMiddleware):
    """Everything logged while a job runs names it: ``job``, ``job_id`` and ``attempt``."""

    def pre_execute(self, message: TaskiqMessage) -> TaskiqMessage:
        structlog.contextvars.bind_contextvars(
            job=message.task_name, job_id=message.task_id, attempt=attempt_of(message)
        )
        return message

    def post_execute(self, message: TaskiqMessage, result: TaskiqResult[Any]) -> None:
        structlog.contextvars.unbind_contextvars("job", "job_id", "attempt")


class JobMetrics(TaskiqMiddleware):
    """Counts enqueued, succeeded and failed jobs and times each run (see ``metrics.py``).

    The duration is measured here rather than taken from Taskiq's result, which rounds it
    to 10 ms: most jobs take less.
    """

    def post_send(self, message: TaskiqMessage) -> None:
        if attempt_of(message) == 1:
            metrics.ENQUEUED.labels(message.task_name).inc()

    def pre_execute(self, message: TaskiqMessage) -> TaskiqMessage:
        _started.set(time.perf_counter())
        return message

    def post_execute(self, message: TaskiqMessage, result: TaskiqResult[Any]) -> None:
        metrics.DURATION.labels(message.task_name).observe(time.perf_counter() - _started.get())
        (metrics.FAILED if result.is_err else metrics.SUCCEEDED).labels(message.task_name).inc()


class RetryWithBackoff(TaskiqMiddleware):
    """A failed job is enqueued again, after an exponential backoff, until its last attempt fails.

    Attempt ``n`` that fails is retried after ``base_delay * 2 ** (n - 1)`` seconds (at
    most ``max_delay``), less a random part of up to half of it, so that jobs failing
    together (say, while the mail server is down) do not all come back in the same
    instant. The retry keeps the job's id. After attempt ``max_attempts`` the job is given
    up and logged as dead (``job_dead``, error level, with its traceback).

    A run that failed because one of ``outages`` is unavailable (``DependencyUnavailable``
    naming it: the service's own database) is not the job's fault and spends no attempt:
    it is put off (``job_postponed``) with the same backoff, capped at
    ``OUTAGE_RETRY_MAX_SECONDS``, for as long as the outage lasts, and runs within that
    cap of the dependency's return. Other dependencies (the mail server, which may refuse
    one address for ever) spend attempts as any failure does.

    The retry is enqueued before the failed message is acknowledged: if this worker dies
    in between, the failed run is redelivered and retried then. If the retry cannot be
    enqueued (Redis is down), this raises, the message stays unacknowledged, and the same
    redelivery brings it back.
    """

    def __init__(
        self, *, max_attempts: int, base_delay: float, max_delay: float, outages: frozenset[str] = frozenset()
    ) -> None:
        super().__init__()
        self._max_attempts = max_attempts
        self._base_delay = base_delay
        self._max_delay = max_delay
        self._outages = outages

    def backoff(self, attempt: int, *, limit: float | None = None) -> float:
        """Seconds to wait after failed run ``attempt`` (1-based): in ``[d / 2, d]``, d doubling each time.

        d is at most ``max_delay``, and at most ``limit`` when one is given.
        """
        ceiling = min(self._base_delay * 2.0 ** (attempt - 1), self._max_delay, limit or self._max_delay)
        return ceiling - random.uniform(0, ceiling / 2)  # noqa: S311 - jitter, not a secret

    def is_outage(self, exception: BaseException) -> bool:
        return isinstance(exception, DependencyUnavailable) and exception.dependency in self._outages

    async def on_error(self, message: TaskiqMessage, result: TaskiqResult[Any], exception: BaseException) -> None:
        if isinstance(exception, NoResultError):  # Taskiq's "no result to store", not a failure.
            return
        attempt, waited = attempt_of(message), waited_of(message)
        context = {"job": message.task_name, "job_id": message.task_id, "attempt": attempt}
        if self.is_outage(exception):
            delay = self.backoff(waited + 1, limit=OUTAGE_RETRY_MAX_SECONDS)
            log.warning("job_postponed", error=repr(exception), retry_in=round(delay, 3), waited=waited + 1, **context)
            await self._again(message, context, attempt=attempt, waited=waited + 1, delay=delay)
            metrics.POSTPONED.labels(message.task_name).inc()
        elif attempt >= self._max_attempts:
            metrics.DEAD.labels(message.task_name).inc()
            log.error("job_dead", max_attempts=self._max_attempts, exc_info=exception, **context)
            return
        else:
            delay = self.backoff(attempt)
            log.warning("job_failed", error=repr(exception), retry_in=round(delay, 3), **context)
            await self._again(message, context, attempt=attempt + 1, waited=waited, delay=delay)
            metrics.RETRIED.labels(message.task_name).inc()
        # Nothing to store for this run: the next, under the same id, will have the result.
        result.error = NoResultError()

    async def _again(
        self, message: TaskiqMessage, context: dict[str, Any], *, attempt: int, waited: int, delay: float
    ) -> None:
        """Enqueue the job again under its id, to run after ``delay`` seconds as ``attempt``."""
        kicker: AsyncKicker[Any, Any] = AsyncKicker(message.task_name, self.broker, dict(message.labels))
        try:
            await (
                kicker.with_task_id(message.task_id)
                .with_labels(attempt=attempt, waited=waited, delay=delay)
                .kiq(*message.args, **message.kwargs)
            )
        except Exception:
            log.error("job_retry_not_enqueued", exc_info=True, **context)
            raise


def delay_of(message: BrokerMessage) -> float:
    """The message's ``delay`` label in seconds (labels travel as strings), 0 without one."""
    return float(message.labels.get(DELAY) or 0)
