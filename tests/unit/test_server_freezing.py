"""The test servers' ``pause()``: it returns only once every thread of the server has stopped."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.servers.common import (
    _all_threads_stopped,
    _proc_stat_fields,
    _process_group,
    _wait_until_frozen,
)

#: A process with several busy threads, as the Erlang VM has: it prints once they all run.
_BUSY_THREADS = """
import threading
def spin():
    while True:
        pass
for _ in range(4):
    threading.Thread(target=spin, daemon=True).start()
print("spinning", flush=True)
spin()
"""


@pytest.fixture
def busy_process() -> Iterator[subprocess.Popen[str]]:
    process = subprocess.Popen(
        [sys.executable, "-c", _BUSY_THREADS], stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline() == "spinning\n"
        yield process
    finally:
        with contextlib.suppress(ProcessLookupError):  # Unless the test has ended it.
            os.killpg(process.pid, signal.SIGCONT)
        process.kill()
        process.wait()


def test_a_frozen_process_has_every_thread_stopped(busy_process: subprocess.Popen[str]) -> None:
    threads = list(Path(f"/proc/{busy_process.pid}/task").iterdir())
    assert len(threads) == 5
    assert not _all_threads_stopped(busy_process.pid)

    os.killpg(busy_process.pid, signal.SIGSTOP)
    _wait_until_frozen(_process_group(busy_process.pid))

    assert _all_threads_stopped(busy_process.pid)
    states = {_proc_stat_fields(thread / "stat")[0] for thread in threads}
    assert states == {"T"}


def test_a_process_that_does_not_stop_is_reported(busy_process: subprocess.Popen[str]) -> None:
    with pytest.raises(RuntimeError, match=rf"process {busy_process.pid} did not stop within 0.2s"):
        _wait_until_frozen([busy_process.pid], timeout=0.2)


def test_the_process_group_lists_its_members(busy_process: subprocess.Popen[str]) -> None:
    assert _process_group(busy_process.pid) == [busy_process.pid]


def test_a_process_that_has_ended_counts_as_stopped(busy_process: subprocess.Popen[str]) -> None:
    busy_process.kill()
    deadline = time.monotonic() + 5
    while not _all_threads_stopped(busy_process.pid):  # a zombie until reaped below
        assert time.monotonic() < deadline, "the killed process still runs"
        time.sleep(0.01)
    _wait_until_frozen([busy_process.pid], timeout=0.2)
    busy_process.wait()
    assert _all_threads_stopped(busy_process.pid)  # reaped: gone from /proc
