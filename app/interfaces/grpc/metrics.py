"""Prometheus series of the gRPC server: each call by method and status code, and its duration.

``method`` is the full method name the server serves (``/app.v1.AuthService/SignUp``):
calls to methods it does not serve never reach the interceptors, so a client cannot invent
label values.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

CALLS = Counter("app_grpc_calls", "gRPC calls answered, by method and status code", ["method", "code"])
DURATION = Histogram(
    "app_grpc_call_duration_seconds",
    "Time from a call's start to its answer, by method",
    ["method"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
