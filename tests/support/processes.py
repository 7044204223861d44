"""Starting the justfile's recipes as real processes, the way operators start them.

Each process gets a process group of its own, so that stopping it (or killing it, as a
crash would) reaches everything it started: ``just``, ``uv`` and the server's own children.
Output goes to a file, not a pipe: a pipe nobody reads would eventually block the process.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from pathlib import Path

import httpx
import pytest

#: Generous: on a busy machine without compiled bytecode, importing the app alone takes seconds.
STARTUP_TIMEOUT_SECONDS = 60.0
_STOP_TIMEOUT_SECONDS = 15.0
#: A refused connection costs next to nothing: asking often lets the test begin as soon as the server can.
_LIVE_POLL_SECONDS = 0.05


def server_env(database_url: str, **overrides: str) -> dict[str, str]:
    """The settings a served process gets: this database, cheap password hashing, and ``overrides``.

    Without overrides it runs without Redis and without a broker, whatever the suite's own
    environment says.
    """
    return {
        "APP_ENV": "test",
        "DATABASE_URL": database_url,
        "REDIS_URL": "",
        "BROKER_URL": "",
        "SECRET_KEY": "process-test-secret-key-0123456789abcdef",
        "PASSWORD_HASH_TIME_COST": "1",
        "PASSWORD_HASH_MEMORY_KIB": "1024",
        "PASSWORD_HASH_PARALLELISM": "1",
        **overrides,
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@asynccontextmanager
async def started(recipe: str, env: dict[str, str], log_path: Path) -> AsyncIterator[asyncio.subprocess.Process]:
    """``just <recipe>`` in its own process group, stopped (SIGTERM, then SIGKILL) on exit if still running."""
    environment = {**os.environ, "LOG_LEVEL": "WARNING", **env}
    with log_path.open("ab") as log:
        process = await asyncio.create_subprocess_exec(
            "just", recipe, env=environment, start_new_session=True, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        yield process
    finally:
        await stop(process)


async def stop(process: asyncio.subprocess.Process) -> None:
    """SIGTERM to the whole group, then SIGKILL if it has not exited in time."""
    with suppress(ProcessLookupError):  # The group is gone already.
        os.killpg(process.pid, signal.SIGTERM)
    try:
        await asyncio.wait_for(process.wait(), timeout=_STOP_TIMEOUT_SECONDS)
    except TimeoutError:
        await kill(process)


async def kill(process: asyncio.subprocess.Process) -> None:
    """SIGKILL to the whole group, as a crash (or the OOM killer) would: nothing gets to clean up."""
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    await process.wait()


@asynccontextmanager
async def running(recipe: str, env: dict[str, str], log_dir: Path) -> AsyncIterator[httpx.AsyncClient]:
    """Start an HTTP-serving recipe on a free port and yield a client once it answers ``/health/live``."""
    port = free_port()
    log_path = log_dir / f"{recipe}.log"
    async with (
        started(recipe, {**env, "HOST": "127.0.0.1", "PORT": str(port)}, log_path) as process,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as client,
    ):
        await _wait_until_live(client, process, log_path)
        yield client


async def _wait_until_live(client: httpx.AsyncClient, process: asyncio.subprocess.Process, log_path: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.returncode is not None:
            pytest.fail(f"server exited with {process.returncode}:\n{log_path.read_text()[-4000:]}")
        try:
            if (await client.get("/health/live")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(_LIVE_POLL_SECONDS)
    pytest.fail(f"server did not start in time:\n{log_path.read_text()[-4000:]}")
