"""argon2id password hashing, on a few low-priority threads of its own.

argon2-cffi releases the GIL while hashing, so threads give real parallelism and the event
loop keeps serving other requests during the hundreds of milliseconds a hash takes. But a
hash is all CPU (and argon2 runs ``parallelism`` threads of its own for each), so a burst
of sign-ins would otherwise take the cores from the event loop and every request waits.
The hashing threads therefore run at a lower scheduling priority (Linux: per-thread nice,
which argon2's own threads inherit): when the event loop has work, it gets the CPU at once;
when it has none, hashing gets all of it. There are as many threads as cores, since more
hashes at once would only share the same cores.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from argon2 import PasswordHasher as Argon2
from argon2 import Type
from argon2.exceptions import InvalidHashError, VerificationError

#: How much the hashing threads yield to the event loop (0 = not at all, 19 = the most).
HASHING_NICENESS = 10

_T = TypeVar("_T")


class Argon2PasswordHasher:
    def __init__(self, *, time_cost: int, memory_kib: int, parallelism: int) -> None:
        self._argon2 = Argon2(time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism, type=Type.ID)
        # A hash of a random secret with the live parameters: verifying against it costs
        # exactly what a real verification costs, and nothing can match it.
        self._dummy_hash = self._argon2.hash(secrets.token_urlsafe(32))
        self._threads = ThreadPoolExecutor(
            max_workers=os.cpu_count() or 1, thread_name_prefix="argon2", initializer=_yield_to_the_event_loop
        )

    async def hash(self, password: str) -> str:
        return await self._off_the_loop(self._argon2.hash, password)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        matched = await self._off_the_loop(self._verify, password_hash or self._dummy_hash, password)
        return matched and bool(password_hash)

    def needs_rehash(self, password_hash: str) -> bool:
        return self._argon2.check_needs_rehash(password_hash)

    def _verify(self, password_hash: str, password: str) -> bool:
        try:
            return self._argon2.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    async def _off_the_loop(self, work: Callable[..., _T], *args: Any) -> _T:
        return await asyncio.get_running_loop().run_in_executor(self._threads, work, *args)


def _yield_to_the_event_loop() -> None:
    """Lower this thread's priority; where threads have no priority of their own, leave it."""
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), HASHING_NICENESS)
