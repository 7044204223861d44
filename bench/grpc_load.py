"""Driving gRPC load: what wrk is to the HTTP scenarios, for ``app.v1.UserService/GetMe``.

No packaged tool generates gRPC load here, so this is a ``grpc.aio`` client run in
``processes`` separate processes (``python -m bench.grpc_load``), each keeping
``in_flight`` calls in flight on one channel for a fixed duration and recording the
latency of every answered call. The runner starts them, lets them all begin at once
when each has connected (a line on stdin), and combines the one-line JSON reports they
print after :data:`MARKER` (:func:`parse_report`, :func:`combine`).

Unlike wrk, the client is Python: each call costs it CPU that the server then lacks on a
small machine. The reference (the bare gRPC server) is driven by the very same client,
so the ratio between the two still says what the service's layers cost.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import grpc
import grpc.aio
import msgspec
from grpc_health.v1 import health_pb2

from app.interfaces.grpc.v1 import users_pb2, users_pb2_grpc
from bench.measure import Result, percentiles

MARKER = "grpc-load-report: "
READY = "ready"
#: Bound on a client process connecting, and on its finishing once its duration is up.
_START_SECONDS = 60.0
_GRACE_SECONDS = 15.0


class GrpcLoadError(RuntimeError):
    """A client process failed, hung, or printed no report."""


@dataclass(frozen=True, slots=True)
class GrpcLoad:
    """What the client processes send: ``GetMe`` to ``target`` with ``metadata``."""

    target: str
    metadata: Sequence[tuple[str, str]]
    in_flight: int
    processes: int = 1
    #: A call slower than this fails (DEADLINE_EXCEEDED) and counts as an error.
    timeout_seconds: float = 10.0


class Report(msgspec.Struct, frozen=True):
    """One client process's run: calls answered or failed over its span, failures by status."""

    calls: int
    seconds: float
    errors: dict[str, int]
    #: Of the successful calls, in microseconds.
    latencies_us: list[int]


def parse_report(output: str) -> Report:
    """The report in a client's output; GrpcLoadError when absent or unreadable."""
    for line in reversed(output.splitlines()):
        if line.startswith(MARKER):
            try:
                return msgspec.json.decode(line[len(MARKER) :], type=Report)
            except msgspec.DecodeError as exc:
                raise GrpcLoadError(f"unreadable gRPC load report: {exc}") from exc
    raise GrpcLoadError(f"the gRPC client printed no report:\n{output[-2000:]}")


def combine(reports: Sequence[Report]) -> Result:
    """The processes' reports as one result: they ran at once, so the rate is the sum over the longest span."""
    p50_ms, p99_ms = percentiles([us / 1000 for report in reports for us in report.latencies_us])
    return Result(
        operations=sum(report.calls for report in reports),
        seconds=max((report.seconds for report in reports), default=0.0),
        errors=sum(sum(report.errors.values()) for report in reports),
        p50_ms=p50_ms,
        p99_ms=p99_ms,
    )


def command(load: GrpcLoad, seconds: float) -> list[str]:
    argv = [sys.executable, "-m", "bench.grpc_load", "--target", load.target, "--in-flight", str(load.in_flight)]
    argv += ["--seconds", f"{seconds:g}", "--timeout", f"{load.timeout_seconds:g}"]
    for name, value in load.metadata:
        argv += ["--metadata", f"{name}: {value}"]
    return argv


def run(load: GrpcLoad, seconds: float) -> Result:
    """Run the client processes for ``seconds``, all starting together; bounded even if one hangs."""
    return asyncio.run(_run(load, seconds))


async def _run(load: GrpcLoad, seconds: float) -> Result:
    argv = command(load, seconds)
    clients = [
        await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        for _ in range(load.processes)
    ]
    try:
        async with asyncio.timeout(_START_SECONDS):
            for client in clients:
                assert client.stdout is not None  # noqa: S101 - a pipe, as asked above
                if (await client.stdout.readline()).decode().strip() != READY:
                    _, stderr = await client.communicate()
                    raise GrpcLoadError(f"a gRPC client could not connect to {load.target}:\n{stderr[-2000:]!r}")
        outputs = []
        async with asyncio.timeout(seconds + _GRACE_SECONDS):
            for client in clients:
                assert client.stdin is not None  # noqa: S101 - a pipe, as asked above
                client.stdin.write(b"go\n")
            for client in clients:
                stdout, stderr = await client.communicate()
                if client.returncode != 0:
                    raise GrpcLoadError(f"a gRPC client exited with status {client.returncode}:\n{stderr[-2000:]!r}")
                outputs.append(stdout.decode())
    except TimeoutError as exc:
        raise GrpcLoadError(f"the gRPC clients did not finish within {seconds + _GRACE_SECONDS:.0f} s") from exc
    finally:
        for client in clients:
            if client.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    client.kill()
                await client.wait()
    return combine([parse_report(output) for output in outputs])


async def drive(load: GrpcLoad, seconds: float) -> Report:
    """Connect, say :data:`READY`, wait for the go on stdin, then keep ``in_flight`` calls going for ``seconds``."""
    calls = 0
    errors: Counter[str] = Counter()
    latencies: list[int] = []
    async with grpc.aio.insecure_channel(load.target) as channel:
        await asyncio.wait_for(channel.channel_ready(), _START_SECONDS)
        stub = users_pb2_grpc.UserServiceStub(channel)
        request = users_pb2.GetMe()
        print(READY, flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        started = time.perf_counter()
        deadline = started + seconds

        async def caller() -> None:
            nonlocal calls
            while (begun := time.perf_counter()) < deadline:
                try:
                    await stub.GetMe(request, metadata=load.metadata, timeout=load.timeout_seconds)
                except grpc.aio.AioRpcError as exc:
                    errors[exc.code().name] += 1
                else:
                    latencies.append(round((time.perf_counter() - begun) * 1e6))
                calls += 1

        await asyncio.gather(*(caller() for _ in range(load.in_flight)))
        return Report(calls, time.perf_counter() - started, dict(errors), latencies)


def grpc_ready(address: str) -> bool:
    """Whether the gRPC server at ``address`` answers the standard health check with ``SERVING``."""
    with grpc.insecure_channel(address) as channel:
        # The generated health stub is untyped; this is the same call, typed.
        check = channel.unary_unary(
            "/grpc.health.v1.Health/Check",
            request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
            response_deserializer=health_pb2.HealthCheckResponse.FromString,
        )
        try:
            answer: health_pb2.HealthCheckResponse = check(health_pb2.HealthCheckRequest(), timeout=1.0)
        except grpc.RpcError:
            return False
        return answer.status == health_pb2.HealthCheckResponse.SERVING


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.grpc_load", description=__doc__.splitlines()[0])
    parser.add_argument("--target", required=True, help="host:port of the gRPC server")
    parser.add_argument("--in-flight", type=int, default=16, help="calls kept in flight (default 16)")
    parser.add_argument("--seconds", type=float, required=True, help="how long to keep them going")
    parser.add_argument("--timeout", type=float, default=10.0, help="deadline of one call, in seconds")
    parser.add_argument("--metadata", action="append", default=[], help="'name: value', sent with every call")
    args = parser.parse_args(argv)
    metadata = [(name, value) for name, _, value in (item.partition(": ") for item in args.metadata)]
    load = GrpcLoad(args.target, metadata, args.in_flight, timeout_seconds=args.timeout)
    report = asyncio.run(drive(load, args.seconds))
    print(MARKER + msgspec.json.encode(report).decode(), flush=True)


if __name__ == "__main__":
    main()
