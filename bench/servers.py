"""The servers under test (HTTP and gRPC), each in a process group of its own.

A server is started with ``start_new_session``, so that stopping it reaches everything it
started (``just`` → ``uv`` → uvicorn → its workers), and so that Ctrl-C in the terminal
goes to the runner alone, which then stops it. :func:`serving` always stops the group:
SIGTERM first, SIGKILL if it is still there after a grace period. A server counts as
started once its readiness probe answers: an HTTP route (:func:`http_ready`) or the gRPC
health service (``bench.grpc_load.grpc_ready``).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import sysconfig
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeAlias

import httpx
from prometheus_client.parser import text_string_to_metric_families

from bench import environment

STARTUP_TIMEOUT_SECONDS = 60.0
_STOP_GRACE_SECONDS = 15.0
_POLL_SECONDS = 0.02


#: Whether the server at ``host:port`` serves yet; any failure to answer is a no.
Probe: TypeAlias = Callable[[str], bool]


class ServerError(RuntimeError):
    """A server did not start, with the end of its log."""


@dataclass(frozen=True, slots=True)
class ServerSpec:
    """How to start one server; ``HOST`` and the ``port_variable`` are added to ``env``."""

    name: str
    argv: Sequence[str]
    env: Mapping[str, str]
    ready: Probe
    #: The setting the server reads its port from (``just grpc``: ``GRPC_PORT``).
    port_variable: str = "PORT"


@dataclass(frozen=True, slots=True)
class Server:
    address: str
    #: From the start of the command to the first yes of its readiness probe.
    startup_seconds: float
    #: CPU time every process of the command had used by then (what the start costs, however busy the machine).
    startup_cpu_seconds: float

    @property
    def base_url(self) -> str:
        return f"http://{self.address}"


def http_ready(path: str) -> Probe:
    """Ready once ``path`` answers with a status below 500."""

    def probe(address: str) -> bool:
        try:
            return httpx.get(f"http://{address}{path}", timeout=1.0).status_code < 500
        except httpx.TransportError:
            return False

    return probe


@contextlib.contextmanager
def serving(spec: ServerSpec, log_dir: Path, *, startup_timeout: float = STARTUP_TIMEOUT_SECONDS) -> Iterator[Server]:
    port = free_port()
    env = {**os.environ, **spec.env, "HOST": "127.0.0.1", spec.port_variable: str(port)}
    log = log_dir / f"{spec.name}.log"
    # Output goes to a file: a pipe that nobody reads would block the server once full.
    with log.open("wb") as output:
        started = time.perf_counter()
        process = subprocess.Popen(  # noqa: S603 - our own argv, no shell
            list(spec.argv),
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        address = f"127.0.0.1:{port}"
        _wait_until_serving(process, spec, address, log, deadline=started + startup_timeout)
        yield Server(address, time.perf_counter() - started, environment.session_cpu_seconds(process.pid))
    finally:
        _stop_group(process)


def _stop_group(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process group, then SIGKILL it if the leader has not exited after a grace period."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=_STOP_GRACE_SECONDS)
    # Whatever is left of the group (a worker that ignored SIGTERM) goes too.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=_STOP_GRACE_SECONDS)


def compile_bytecode() -> None:
    """Compile the dependencies' and the app's bytecode, as the image build does.

    Without it, a machine with ``PYTHONDONTWRITEBYTECODE`` set compiles every module at each
    start, and start-up would measure the compiler. Files already compiled are skipped.
    """
    targets = [sysconfig.get_paths()["purelib"], "app", "bench"]
    subprocess.run([sys.executable, "-m", "compileall", "-q", "-j", "0", *targets], stdout=subprocess.DEVNULL,  # noqa: S603
                   timeout=600, check=True)  # fmt: skip


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_until_serving(
    process: subprocess.Popen[bytes], spec: ServerSpec, address: str, log: Path, deadline: float
) -> None:
    while time.perf_counter() < deadline:
        if process.poll() is not None:
            raise ServerError(f"{spec.name} ({address}): exited with status {process.returncode}\n{_tail(log)}")
        if spec.ready(address):
            return
        time.sleep(_POLL_SECONDS)
    raise ServerError(f"{spec.name} ({address}): not ready within the start-up timeout\n{_tail(log)}")


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-4000:]


def worker_rss_bytes(base_url: str) -> dict[int, int]:
    """Resident memory of each worker, by pid, from the service's own ``/metrics``.

    In multiprocess mode (``just serve``) any worker answering reports every live one,
    labelled ``pid``.
    """
    scraped = httpx.get(f"{base_url}/metrics", timeout=5.0, headers={"Connection": "close"})
    scraped.raise_for_status()
    return {
        int(sample.labels["pid"]): int(sample.value)
        for family in text_string_to_metric_families(scraped.text)
        for sample in family.samples
        if sample.name == "process_resident_memory_bytes" and "pid" in sample.labels
    }
