"""``python -m app.interfaces.healthcheck``: the image's HEALTHCHECK, for whichever server it runs.

One image runs every role (API, gRPC, consumer, worker, scheduler) and Docker gives it one
HEALTHCHECK, so this probes, on the container's loopback, each server a role may run: the
API's ``/health/live`` on ``PORT``, the standard gRPC health service on ``GRPC_PORT``, a
worker's ``/metrics`` on ``JOB_METRICS_PORT``. A refused connection means "not this role".
It passes (exit 0) when a server answers healthy, and fails when one answers otherwise or
none listens (the consumer and the scheduler serve nothing: compose and Kubernetes do not
probe them this way). Settings come from the environment alone, with their defaults.
"""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from collections.abc import Callable

import msgspec

from app.infrastructure.config import Settings

TIMEOUT_SECONDS = 4.0
HOST = "127.0.0.1"


def setting(name: str) -> str:
    """``name``'s value in the environment, else its default."""
    field = next(field for field in msgspec.structs.fields(Settings) if field.encode_name == name)
    return os.environ.get(name) or str(field.default)


def http_ok(path: str, port_setting: str) -> bool:
    url = f"http://{HOST}:{setting(port_setting)}{path}"
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as response:
            status: int = response.status
            return 200 <= status < 300
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, ConnectionRefusedError):  # nothing listens: not this role
            raise exc.reason from exc
        raise


def grpc_serving() -> bool:
    import grpc  # noqa: PLC0415 - only the gRPC role's check needs it
    from grpc_health.v1 import health_pb2  # noqa: PLC0415

    with grpc.insecure_channel(f"{HOST}:{setting('GRPC_PORT')}") as channel:
        check = channel.unary_unary(
            "/grpc.health.v1.Health/Check",
            request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
            response_deserializer=health_pb2.HealthCheckResponse.FromString,
        )
        try:
            reply: health_pb2.HealthCheckResponse = check(health_pb2.HealthCheckRequest(), timeout=TIMEOUT_SECONDS)
        except grpc.RpcError as exc:
            if exc.code() == grpc.StatusCode.UNAVAILABLE:  # nothing listens: not this role
                raise ConnectionRefusedError from exc
            raise
    return reply.status == health_pb2.HealthCheckResponse.SERVING


PROBES: dict[str, Callable[[], bool]] = {
    "api": lambda: http_ok("/health/live", "PORT"),
    "grpc": grpc_serving,
    "worker": lambda: http_ok("/metrics", "JOB_METRICS_PORT"),
}


def main() -> int:
    for role, probe in PROBES.items():
        try:
            healthy = probe()
        except ConnectionRefusedError:
            continue
        except Exception as exc:  # noqa: BLE001 - any other failure is an unhealthy server
            print(f"{role}: unhealthy ({exc!r})")
            return 1
        print(f"{role}: {'healthy' if healthy else 'unhealthy'}")
        return 0 if healthy else 1
    print("no server listens here")
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
