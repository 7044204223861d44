"""Self-check: ``python -m tests.support.servers`` starts, uses, restarts and stops each server."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from pathlib import Path

from tests.support.servers.postgres import _postgres_version, throwaway_postgres
from tests.support.servers.rabbitmq import _rabbitmq_get, _rabbitmq_put, _rabbitmq_version, throwaway_rabbitmq
from tests.support.servers.redis import _redis_version, throwaway_redis


def _processes_using_port(port: int) -> list[str]:
    """Command lines that name ``port`` (our epmd's is on every beam's): left-overs, after a stop."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        with contextlib.suppress(OSError):
            argv = cmdline.read_bytes().split(b"\0")
            if str(port).encode() in argv:
                found.append(b" ".join(argv).decode(errors="replace"))
    return found


def main() -> int:
    """Start, use and stop each throwaway server, so a broken machine is found in seconds."""
    started = time.monotonic()
    with throwaway_postgres(crash_safe=True) as postgres:
        print(f"postgres: {postgres.url}")
        print(f"postgres: {asyncio.run(_postgres_version(postgres.url))}")
        postgres.stop()
        postgres.start()
        print(f"postgres: {asyncio.run(_postgres_version(postgres.url))} (answered again after a restart)")
    with throwaway_redis() as server:
        print(f"redis: {server.url}")
        server.stop()
        server.start()
        print(f"redis: {_redis_version(server.url)} (answered again after a restart)")
    booted = time.monotonic()
    with throwaway_rabbitmq() as rabbit:
        print(f"rabbitmq: {rabbit.url} (booted in {time.monotonic() - booted:.1f}s)")
        print(f"rabbitmq: {asyncio.run(_rabbitmq_version(rabbit.url))}")
        asyncio.run(_rabbitmq_put(rabbit.url, "self-check", b"kept"))
        rabbit.stop()
        restarted = time.monotonic()
        rabbit.start()
        kept = asyncio.run(_rabbitmq_get(rabbit.url, "self-check"))
        if kept != b"kept":
            raise RuntimeError(f"a persistent message in a durable queue did not survive a restart: {kept!r}")
        print(f"rabbitmq: answered again after a kill and restart ({time.monotonic() - restarted:.1f}s), data kept")
        epmd_port = rabbit.epmd_port
    if leftovers := _processes_using_port(epmd_port):
        raise RuntimeError(f"processes of the RabbitMQ node survived its stop: {leftovers}")
    print(f"ok ({time.monotonic() - started:.1f}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
