"""The ceiling for sign-in: how many argon2id verifications per second this machine does.

A sign-in is one argon2id verification plus a few queries, so its throughput cannot
exceed the machine's hash rate with the service's own parameters; the runner measures
that rate in the same run, between the sign-in loads, to compare the two.

argon2-cffi releases the GIL, so threads of one process hash in parallel, as the
service's worker threads do; and they run at the lower priority the service's hashing
threads run at (``yield_to_the_event_loop``). At normal priority the ceiling would be
measured with a larger share of a machine shared with other work than the service's
hashing gets by design, and the ratio would measure the neighbours instead of the
service.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor

from argon2 import PasswordHasher, Type

from app.infrastructure.config import Settings
from app.infrastructure.security.passwords import yield_to_the_event_loop
from bench.measure import Result, percentiles

_PASSWORD = "benchmark password"  # noqa: S105 - hashed and verified here, never stored


def _hasher(settings: Settings) -> PasswordHasher:
    return PasswordHasher(
        time_cost=settings.password_hash_time_cost,
        memory_cost=settings.password_hash_memory_kib,
        parallelism=settings.password_hash_parallelism,
        type=Type.ID,
    )


def describe(settings: Settings) -> str:
    memory = settings.password_hash_memory_kib
    size = f"{memory // 1024} MiB" if memory % 1024 == 0 else f"{memory} KiB"
    return f"argon2id t={settings.password_hash_time_cost}, m={size}, p={settings.password_hash_parallelism}"


def verifications(settings: Settings, seconds: float, threads: int | None = None) -> Result:
    """Verify one hash over and over on ``threads`` threads (default: one per core) for ``seconds``.

    Counted as wrk counts requests, so that the two rates compare: the verifications that
    ended within ``seconds``, over ``seconds``. A load test loses the requests in flight
    when its time is up (each connection's last one, half done on average: for sign-ins
    2 % of a full run's rounds, 10 % of a quick run's), and this loses each thread's last
    verification the same way.
    """
    argon2 = _hasher(settings)
    encoded = argon2.hash(_PASSWORD)
    threads = threads or os.cpu_count() or 1
    started = time.perf_counter()
    deadline = started + seconds

    def work() -> list[float]:
        durations = []
        while (begun := time.perf_counter()) < deadline:
            argon2.verify(encoded, _PASSWORD)
            if (ended := time.perf_counter()) <= deadline:
                durations.append(ended - begun)
        return durations

    with ThreadPoolExecutor(threads, thread_name_prefix="argon2", initializer=yield_to_the_event_loop) as pool:
        runs = [pool.submit(work) for _ in range(threads)]
        durations = [d * 1000 for run in runs for d in run.result()]
    p50_ms, p99_ms = percentiles(durations)
    return Result(operations=len(durations), seconds=seconds, errors=0, p50_ms=p50_ms, p99_ms=p99_ms)
