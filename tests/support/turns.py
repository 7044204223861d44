"""Turns on the machine for the test processes of one run (``just test`` starts one per core).

Tests run beside each other, except those marked ``alone``: a test that compares timings
taken at different moments (a sign-in alone, then during a bulk hash) would measure the
other processes' load as much as the service. Such a test waits until the tests running
beside it have finished, and no other test starts until it has.

Two ``flock`` locks in the run's temporary directory: every test holds ``machine``
shared, an ``alone`` test holds it exclusively. To get ``machine``, a test first takes the
``queue`` lock, exclusively and briefly; an ``alone`` test keeps it while it waits, so the
tests that come after it cannot keep taking turns ahead of it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def turn(lock_dir: Path | None, *, alone: bool) -> Iterator[None]:
    """Hold a turn on the machine for the duration of the block; ``lock_dir`` None: this process runs alone."""
    if lock_dir is None:
        yield
        return
    with contextlib.ExitStack() as held:
        with _locked(lock_dir / "queue.lock", fcntl.LOCK_EX):
            held.enter_context(_locked(lock_dir / "machine.lock", fcntl.LOCK_EX if alone else fcntl.LOCK_SH))
        yield


@contextlib.contextmanager
def _locked(path: Path, operation: int) -> Iterator[None]:
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(descriptor, operation)  # Blocks until granted; released when the descriptor closes.
        yield
    finally:
        os.close(descriptor)
