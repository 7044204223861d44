"""``just bench-startup``: from starting ``just serve`` to the first 200 from ``/health/live``, again and again.

The load test measures start-up once per run, on a machine it is about to load; one
start says little on a shared machine. This starts the service the same way (``just
serve``, the load test's production settings and ``WORKERS``, bytecode compiled as the
image build does) ``--starts`` times, stopping it in between, and prints every start
with the load average before it, and the medians. Besides the time, each start's CPU
time (all its processes: just, uv, uvicorn and the workers) is shown: it depends far
less on how busy the machine is, so it compares two versions of the code on a shared one.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from bench import backing, servers
from bench.run import HEALTHY, service_env


def measure(database_url: str, redis_url: str, workers: int, starts: int) -> list[servers.Server]:
    """Each start of the service, with how long it took and the CPU time it used."""
    spec = servers.ServerSpec("service", ["just", "serve"], service_env(database_url, redis_url, workers), HEALTHY)
    started = []
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as logs:
        for number in range(1, starts + 1):
            load = os.getloadavg()[0]
            with servers.serving(spec, Path(logs)) as service:
                started.append(service)
            print(f"start {number}: {service.startup_seconds:.2f} s, {service.startup_cpu_seconds:.2f} s of CPU "
                  f"(load average {load:.2f})", flush=True)  # fmt: skip
            time.sleep(1)  # the stopped workers' exit is not the next start's cost
    return started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--starts", type=int, default=7)
    parser.add_argument("--workers", type=int, default=int(os.environ.get("WORKERS") or os.cpu_count() or 1))
    parser.add_argument("--no-compile", action="store_true", help="leave bytecode as it is (a fresh clone)")
    args = parser.parse_args()
    if not args.no_compile:
        servers.compile_bytecode()
    with backing.backing_servers() as (postgres_url, redis_url), backing.fresh_database(postgres_url) as database_url:
        started = measure(database_url, redis_url, args.workers, args.starts)
    seconds = [service.startup_seconds for service in started]
    cpu = statistics.median(service.startup_cpu_seconds for service in started)
    print(f"median {statistics.median(seconds):.2f} s (min {min(seconds):.2f} s, max {max(seconds):.2f} s), "
          f"{cpu:.2f} s of CPU, over {len(seconds)} starts of {args.workers} workers")  # fmt: skip


if __name__ == "__main__":
    main()
