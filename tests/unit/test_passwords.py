"""The argon2id password hasher: correct hashes, safe failure, and an event loop left free."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from argon2 import PasswordHasher as Argon2
from argon2 import extract_parameters

from app.infrastructure.security.passwords import (
    HASHING_NICENESS,
    LOWEST_PRIORITY,
    Argon2PasswordHasher,
    unmatchable_hash,
)

PASSWORD = "correct horse battery"


def _hasher(time_cost: int = 1, memory_kib: int = 1024) -> Argon2PasswordHasher:
    return Argon2PasswordHasher(time_cost=time_cost, memory_kib=memory_kib, parallelism=1)


@pytest.fixture(scope="module")
def hasher() -> Argon2PasswordHasher:
    return _hasher()


@pytest.fixture(scope="module")
def slow_hasher() -> Argon2PasswordHasher:
    """Costly enough (tens of milliseconds) that blocking the loop for one hash would show."""
    return _hasher(time_cost=2, memory_kib=16 * 1024)


async def test_hashes_are_salted_argon2id(hasher: Argon2PasswordHasher) -> None:
    first, second = await hasher.hash(PASSWORD), await hasher.hash(PASSWORD)

    assert first.startswith("$argon2id$")
    assert "m=1024,t=1,p=1" in first
    assert first != second
    assert PASSWORD not in first


@pytest.mark.parametrize(
    ("attempt", "accepted"),
    [(PASSWORD, True), ("correct horse batterY", False), ("", False)],
    ids=["right", "wrong-case", "empty"],
)
async def test_verify(hasher: Argon2PasswordHasher, attempt: str, accepted: bool) -> None:
    assert await hasher.verify(await hasher.hash(PASSWORD), attempt) is accepted


@pytest.mark.parametrize("stored", [None, "", "not-an-argon2-hash", "$argon2id$v=19$m=1024,t=1,p=1$broken"])
async def test_verify_without_a_usable_hash_is_false(hasher: Argon2PasswordHasher, stored: str | None) -> None:
    """No hash (unknown email, password-less user) or a corrupt one never matches, and never raises."""
    assert await hasher.verify(stored, PASSWORD) is False


async def test_verify_without_a_hash_costs_a_real_verification() -> None:
    """Sign-in for an unknown email must not answer faster than for a wrong password.

    A shortcut that skips argon2 is two to three orders of magnitude faster than a real
    verification, so the bound is loose (a tenth) to stay clear of scheduling noise on a
    busy machine; rounds are interleaved and the fastest of each kept for the same reason.
    """
    slow = _hasher(time_cost=2, memory_kib=4 * 1024)
    real_hash = await slow.hash(PASSWORD)
    with_hash: list[float] = []
    without_hash: list[float] = []
    for _ in range(5):
        for stored, timings in ((real_hash, with_hash), (None, without_hash)):
            started = time.perf_counter()
            await slow.verify(stored, "wrong password")
            timings.append(time.perf_counter() - started)

    assert min(without_hash) > min(with_hash) / 10


def test_making_a_hasher_computes_no_hash(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every process makes one at start-up, before it serves: with the default cost a hash took half a second."""

    def refuse(*_: Any, **__: Any) -> str:
        raise AssertionError("hashed while being made")

    monkeypatch.setattr(Argon2, "hash", refuse)
    Argon2PasswordHasher(time_cost=3, memory_kib=64 * 1024, parallelism=4)


@pytest.mark.parametrize(("time_cost", "memory_kib", "parallelism"), [(1, 1024, 1), (3, 64 * 1024, 4)])
async def test_the_stand_in_hash_is_a_real_hash_with_the_live_parameters(
    time_cost: int, memory_kib: int, parallelism: int
) -> None:
    """What a verification without a stored hash runs against: argon2 reads it as one of its own."""
    argon2 = Argon2(time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism)
    stand_in = unmatchable_hash(argon2)

    assert extract_parameters(stand_in) == extract_parameters(argon2.hash(PASSWORD))
    assert not argon2.check_needs_rehash(stand_in)
    assert stand_in != unmatchable_hash(argon2)


async def test_needs_rehash_only_when_the_parameters_change(hasher: Argon2PasswordHasher) -> None:
    stored = await hasher.hash(PASSWORD)

    assert not hasher.needs_rehash(stored)
    assert _hasher(time_cost=2).needs_rehash(stored)
    assert _hasher(memory_kib=2048).needs_rehash(stored)


async def test_a_hash_from_old_parameters_still_verifies(hasher: Argon2PasswordHasher) -> None:
    """Raising the cost must not lock anybody out: old hashes verify, then get replaced at login."""
    assert await _hasher(time_cost=2).verify(await hasher.hash(PASSWORD), PASSWORD)


@pytest.mark.parametrize("operation", ["hash", "verify"])
async def test_hashing_runs_off_the_event_loop(slow_hasher: Argon2PasswordHasher, operation: str) -> None:
    """While a hash is computed, other requests on the same loop keep being served."""
    stored = await slow_hasher.hash(PASSWORD)
    ticks = 0
    done = asyncio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while not done.is_set():
            ticks += 1
            await asyncio.sleep(0.001)

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0)  # let the ticker start
    before = ticks
    if operation == "hash":
        await slow_hasher.hash(PASSWORD)
    else:
        await slow_hasher.verify(stored, PASSWORD)
    during = ticks - before
    done.set()
    await task

    assert during >= 3, f"the loop ran only {during} times while hashing"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="threads have a priority of their own on Linux")
@pytest.mark.parametrize("operation", ["hash", "verify"])
async def test_hashing_yields_the_cpu_to_the_event_loop(monkeypatch: pytest.MonkeyPatch, operation: str) -> None:
    """Hashes run at a lower priority than the loop's thread: a burst of sign-ins cannot starve other requests."""
    hasher = _hasher()
    stored = await hasher.hash(PASSWORD)
    priorities: list[int] = []

    def recording(real: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            priorities.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
            return real(*args, **kwargs)

        return wrapper

    monkeypatch.setattr(Argon2, operation, recording(getattr(Argon2, operation)))
    if operation == "hash":
        await hasher.hash(PASSWORD)
    else:
        await hasher.verify(stored, PASSWORD)

    loop_priority = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    assert priorities == [min(19, loop_priority + HASHING_NICENESS)]


async def test_a_batch_is_hashed_in_order(hasher: Argon2PasswordHasher) -> None:
    passwords = [f"{PASSWORD} {i}" for i in range(5)]

    hashes = await hasher.hash_many(passwords)

    assert [await hasher.verify(stored, password) for stored, password in zip(hashes, passwords, strict=True)] == [
        True
    ] * len(passwords)
    assert await hasher.hash_many([]) == []


BATCH_HASH_SECONDS = 0.05


async def test_batches_hash_one_at_a_time_and_never_ahead_of_a_sign_in(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two batches of five (each hash made to take 50 ms) and then one interactive hash: the
    batches' hashes never overlap, and the interactive one is done before two of them are."""
    hasher = _hasher()
    finished: list[str] = []
    running_batch_hashes: list[int] = [0, 0]  # now, most at once
    real_hash = Argon2.hash

    def recording(self: Argon2, password: str | bytes, **kwargs: Any) -> str:
        batch = threading.current_thread().name.startswith("argon2-batch")
        if batch:
            running_batch_hashes[0] += 1
            running_batch_hashes[1] = max(running_batch_hashes)
            time.sleep(BATCH_HASH_SECONDS)
            running_batch_hashes[0] -= 1
        result = real_hash(self, password, **kwargs)
        finished.append("batch" if batch else "interactive")
        return result

    monkeypatch.setattr(Argon2, "hash", recording)
    batches = [asyncio.create_task(hasher.hash_many([PASSWORD] * 5)) for _ in range(2)]
    await asyncio.sleep(BATCH_HASH_SECONDS / 5)  # both batches are queued, the first hash runs
    await hasher.hash(PASSWORD)
    await asyncio.gather(*batches)

    assert running_batch_hashes[1] == 1
    assert finished.count("batch") == 10
    assert finished.index("interactive") <= 2, finished


#: Run under ``nice``: prints the process's niceness, then the niceness its hashes ran at.
_NICED_HASHING = """
import asyncio, os, threading
from argon2 import PasswordHasher
from app.infrastructure.security.passwords import Argon2PasswordHasher

seen = []
real_hash = PasswordHasher.hash
def recording(self, *args, **kwargs):
    seen.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
    return real_hash(self, *args, **kwargs)
PasswordHasher.hash = recording
hasher = Argon2PasswordHasher(time_cost=1, memory_kib=1024, parallelism=1)
asyncio.run(hasher.hash("correct horse battery"))
print(os.getpriority(os.PRIO_PROCESS, os.getpid()), *seen)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="threads have a priority of their own on Linux")
@pytest.mark.parametrize("niceness", [0, 5, 9, 12, 19])
def test_hashing_runs_below_the_process_priority_however_the_process_is_niced(niceness: int) -> None:
    """Started under ``nice -n N``, a process still hashes HASHING_NICENESS steps below its own
    priority (down to the lowest there is), never at the event loop's or above it."""
    started = subprocess.run(
        ["nice", "-n", str(niceness), sys.executable, "-c", _NICED_HASHING],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )

    process, *hashed = (int(word) for word in started.stdout.split())
    assert process == min(LOWEST_PRIORITY, os.getpriority(os.PRIO_PROCESS, 0) + niceness)
    assert hashed == [min(LOWEST_PRIORITY, process + HASHING_NICENESS)]
    if process < LOWEST_PRIORITY:
        assert hashed[0] > process
