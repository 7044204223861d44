"""Fixed-window rate limiting: atomic in Redis (shared by every worker), in memory otherwise.

Litestar's own limiter reads a history and writes it back under a per-process lock, so
several workers sharing Redis can each read the same count and let a burst through. A
Redis ``INCR`` is one atomic step, whichever worker runs it.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Literal

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError

log = structlog.get_logger("app.rate_limit")

_SECONDS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}


@dataclass(frozen=True, slots=True)
class Rate:
    limit: int
    window_seconds: int

    @classmethod
    def parse(cls, text: str) -> Rate:
        """``"20/minute"`` (the settings already checked the shape)."""
        count, _, unit = text.partition("/")
        return cls(limit=int(count), window_seconds=_SECONDS[unit])


@dataclass(frozen=True, slots=True)
class Verdict:
    allowed: bool
    retry_after: int


class MemoryWindow:
    """Per-process counters: the embedded default, and the fallback while Redis is down."""

    def __init__(self) -> None:
        self._counts: dict[str, tuple[int, int]] = {}

    def hit(self, key: str, rate: Rate, now: float) -> Verdict:
        window = int(now // rate.window_seconds)
        if len(self._counts) > 100_000:  # bounded: forget windows that have passed
            self._counts = {k: v for k, v in self._counts.items() if v[0] >= window}
        seen_window, count = self._counts.get(key, (window, 0))
        count = count + 1 if seen_window == window else 1
        self._counts[key] = (window, count)
        return _verdict(count, rate, now)


class RateLimiter:
    def __init__(self, rate: Rate, redis: Redis | None, namespace: str) -> None:
        self._rate = rate
        self._redis = redis
        self._namespace = namespace
        self._memory = MemoryWindow()

    @property
    def backend(self) -> Literal["redis", "memory"]:
        return "redis" if self._redis is not None else "memory"

    async def hit(self, identity: str) -> Verdict:
        """Count one request for ``identity`` and say whether it is within the rate.

        If Redis fails, the request is counted in this process instead (documented: the
        limit then holds per worker until Redis is back) rather than refused or let
        through unlimited.
        """
        now = time.time()
        if self._redis is None:
            return self._memory.hit(identity, self._rate, now)
        window = int(now // self._rate.window_seconds)
        key = f"ratelimit:{self._namespace}:{identity}:{window}"
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.incr(key)
                pipe.expire(key, self._rate.window_seconds + 1)
                count, _ = await pipe.execute()
        except (RedisError, OSError, TimeoutError) as exc:
            log.warning("rate_limit_degraded", error=type(exc).__name__)
            return self._memory.hit(identity, self._rate, now)
        return _verdict(int(count), self._rate, now)


def _verdict(count: int, rate: Rate, now: float) -> Verdict:
    window_end = (int(now // rate.window_seconds) + 1) * rate.window_seconds
    return Verdict(allowed=count <= rate.limit, retry_after=max(1, math.ceil(window_end - now)))
