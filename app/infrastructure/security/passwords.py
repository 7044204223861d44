"""argon2id password hashing, on a few low-priority threads of its own.

argon2-cffi releases the GIL while hashing, so threads give real parallelism and the event
loop keeps serving other requests during the hundreds of milliseconds a hash takes. But a
hash is all CPU (and argon2 runs ``parallelism`` threads of its own for each), so a burst
of sign-ins would otherwise take the cores from the event loop and every request waits.
The hashing threads therefore run at a lower scheduling priority (Linux: per-thread nice,
which argon2's own threads inherit): when the event loop has work, it gets the CPU at once;
when it has none, hashing gets all of it. The priority is lowered from the process's own,
not set to a fixed value: a process started under ``nice`` (or in a niced container) would
otherwise hash at the event loop's priority, or above it. There are as many threads as cores, since more
hashes at once would only share the same cores.

Batches (``hash_many``: the passwords of a bulk create) take a lane of their own, one
thread that hashes one password at a time, whoever queued it. They never queue in front of
a sign-in, which finds one of the interactive threads free at once and shares the cores
with at most that one batch hash: a batch delays a sign-in by about one hash, however many
batches are waiting.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import secrets
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from argon2 import PasswordHasher as Argon2
from argon2 import Type
from argon2.exceptions import InvalidHashError, VerificationError
from argon2.low_level import ARGON2_VERSION

#: How far below the process's own priority the hashing threads run, in niceness steps.
HASHING_NICENESS = 10
#: The lowest priority Linux has: a niceness past it is taken as it.
LOWEST_PRIORITY = 19

_T = TypeVar("_T")


class Argon2PasswordHasher:
    def __init__(self, *, time_cost: int, memory_kib: int, parallelism: int) -> None:
        self._argon2 = Argon2(time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism, type=Type.ID)
        # Verified against when there is no hash: costs what a real verification costs.
        self._dummy_hash = unmatchable_hash(self._argon2)
        self._threads = ThreadPoolExecutor(
            max_workers=os.cpu_count() or 1, thread_name_prefix="argon2", initializer=yield_to_the_event_loop
        )
        self._batch_lane = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="argon2-batch", initializer=yield_to_the_event_loop
        )

    async def hash(self, password: str) -> str:
        return await self._off_the_loop(self._argon2.hash, password)

    async def hash_many(self, passwords: Sequence[str]) -> list[str]:
        loop = asyncio.get_running_loop()
        hashes = (loop.run_in_executor(self._batch_lane, self._argon2.hash, password) for password in passwords)
        return list(await asyncio.gather(*hashes))

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


def unmatchable_hash(argon2: Argon2) -> str:
    """An encoded argon2id hash with ``argon2``'s parameters and a random digest: no password matches it.

    Verifying against it costs exactly a real verification, since that cost is set by the
    parameters the string names, not by its digest. It used to be the hash of a random
    secret, which cost a whole hash (half a second with the default parameters) at every
    start of every process, before it could serve; the random digest is as unmatchable
    (a password matches with probability 2^-256) and costs nothing to make.
    """
    salt, digest = (_b64(secrets.token_bytes(size)) for size in (argon2.salt_len, argon2.hash_len))
    parameters = f"m={argon2.memory_cost},t={argon2.time_cost},p={argon2.parallelism}"
    return f"$argon2id$v={ARGON2_VERSION}${parameters}${salt}${digest}"


def _b64(data: bytes) -> str:
    """Base64 as argon2's encoded hashes write it: standard alphabet, no padding."""
    return base64.b64encode(data).rstrip(b"=").decode("ascii")


def yield_to_the_event_loop() -> None:
    """Lower this thread's priority below the process's; where threads have no priority of their own, leave it.

    The process's priority is its main thread's (on Linux the main thread's id is the process id).
    Public for the load test, whose argon2 ceiling must hash at the priority the service does.
    """
    with contextlib.suppress(AttributeError, OSError):
        own = os.getpriority(os.PRIO_PROCESS, os.getpid())
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), min(LOWEST_PRIORITY, own + HASHING_NICENESS))
