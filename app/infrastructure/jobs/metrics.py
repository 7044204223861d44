"""Prometheus series of background jobs, labelled ``job`` (the task name).

Counted where it happens: ``enqueued`` in the process that enqueues (API processes, whose
relay starts the welcome emails, and the scheduler), the rest where jobs run (the worker,
on its own ``/metrics`` endpoint; or the API process itself in embedded mode).
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

ENQUEUED = Counter("app_jobs_enqueued", "Jobs enqueued (first attempts; retries are counted as retried)", ["job"])
SUCCEEDED = Counter("app_jobs_succeeded", "Job runs that succeeded", ["job"])
FAILED = Counter("app_jobs_failed", "Job runs that raised (each attempt counts)", ["job"])
RETRIED = Counter("app_jobs_retried", "Failed runs enqueued again, after a backoff", ["job"])
POSTPONED = Counter(
    "app_jobs_postponed", "Runs that met an outage of the database, enqueued again without spending an attempt", ["job"]
)
DEAD = Counter("app_jobs_dead", "Jobs given up after their last attempt failed", ["job"])
DURATION = Histogram(
    "app_jobs_duration_seconds",
    "Run time of a job, from the worker taking it to the job returning or raising",
    ["job"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
