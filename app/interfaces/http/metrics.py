"""Prometheus metrics at ``GET /metrics``, on Litestar's own prometheus plugin.

Request series, from the plugin's middleware (outermost of the app's middleware, so
that responses made by other middleware, such as 429s, are counted too):

- ``app_http_requests_total`` and ``app_http_request_duration_seconds`` (a histogram),
  ``app_http_requests_in_progress`` and ``app_http_requests_error_total`` (5xx), all
  labelled ``method``, ``path``, ``status_code`` and ``app_name``. ``path`` is the route
  *template* (``/api/v1/users/{user_id}``), never the raw path, so ids cannot blow up
  the number of series.
- Requests for unknown routes never reach a route, so they are not counted (they are in
  the access log); that also keeps scanners from inventing label values. Scrapes of
  ``/metrics`` are left out.

Process metrics (``process_cpu_seconds_total``, ``process_resident_memory_bytes``,
``process_open_fds`` …) come from prometheus_client's process collector, and
``app_http_workers`` counts the live processes serving the app.

Several worker processes (``just serve`` with ``WORKERS`` > 1): each worker counts in
its own memory, so a scrape answered by one worker would show only its share. With
``PROMETHEUS_MULTIPROC_DIR`` set, prometheus_client's multiprocess mode keeps every
worker's series in files there and any worker answering a scrape reports the sum over
all of them; process metrics then carry a ``pid`` label, one series per live worker.
The directory must be set before the workers start and be empty at each start of the
server (``just serve`` makes a fresh one every time).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable
from pathlib import Path

from litestar import Response, get
from litestar.config.app import AppConfig
from litestar.plugins import InitPluginProtocol
from litestar.plugins.prometheus import PrometheusConfig, PrometheusController
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Gauge, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.process_collector import ProcessCollector

MULTIPROCESS_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"

#: Set to True in a route handler's ``opt`` to leave its requests out of the series.
EXCLUDE_FROM_METRICS = "exclude_from_metrics"

#: The text exposition format's media type; Litestar appends ``; charset=utf-8`` itself.
MEDIA_TYPE = CONTENT_TYPE_LATEST.partition("; charset=")[0]

#: Each process serving the app sets 1; "livesum" adds up the live ones. It also makes
#: every worker leave a file in the multiprocess directory from the start, which is how
#: :class:`WorkerProcessCollector` finds workers that have not served a request yet.
WORKERS = Gauge("app_http_workers", "Processes serving the HTTP app", multiprocess_mode="livesum")


def prometheus_config() -> PrometheusConfig:
    return PrometheusConfig(
        app_name="app",
        prefix="app_http",
        group_path=True,  # Label with the route template, not the raw path.
        exclude_opt_key=EXCLUDE_FROM_METRICS,
    )


class MetricsController(PrometheusController):
    path = "/metrics"
    tags = ["health"]

    @get(
        opt={EXCLUDE_FROM_METRICS: True},
        media_type=MEDIA_TYPE,
        sync_to_thread=False,  # Reads a few small memory-mapped files at most.
        summary="Prometheus metrics",
        description="Request counts and latency histograms by route template, method and status; process metrics.",
    )
    def get(self) -> Response[bytes]:
        return Response(generate_latest(_registry()), media_type=MEDIA_TYPE)


class MetricsPlugin(InitPluginProtocol):
    """Adds ``GET /metrics`` and the request-measuring middleware to the app."""

    def __init__(self, config: PrometheusConfig | None = None) -> None:
        self._config = config or prometheus_config()

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        WORKERS.set(1)
        app_config.route_handlers.append(MetricsController)
        app_config.middleware.insert(0, self._config.middleware)
        return app_config


def _registry() -> CollectorRegistry:
    directory = os.environ.get(MULTIPROCESS_DIR_VARIABLE)
    if not directory:
        return REGISTRY  # One process: its own series, plus the default process collector.
    workers = _live_workers(Path(directory))  # Before collecting: it forgets the dead ones.
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
    registry.register(WorkerProcessCollector(workers))
    return registry


def _live_workers(directory: Path) -> list[int]:
    """The workers with files in the multiprocess directory that are still alive.

    Workers are known by their files (``counter_<pid>.db`` …). A dead worker's *live*
    gauge files are removed here, as prometheus_client requires (uvicorn has no hook
    for it), so that ``livesum`` gauges such as the in-progress requests forget it; its
    counters and histograms stay, as totals must.
    """
    pids = {os.getpid()}
    for path in directory.glob("*.db"):
        suffix = path.stem.rpartition("_")[2]
        if suffix.isdigit():
            pids.add(int(suffix))
    dead = {pid for pid in pids if not _is_alive(pid)}
    for pid in dead:
        mark_process_dead(pid, str(directory))  # type: ignore[no-untyped-call]
    return sorted(pids - dead)


def _is_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # Exists, owned by someone else.
    return True


class WorkerProcessCollector:
    """Process metrics of each worker, labelled ``pid``, for multiprocess mode.

    The default process collector describes only the process answering the scrape,
    which would be a different worker each time.
    """

    def __init__(self, pids: Iterable[int]) -> None:
        self._pids = list(pids)

    def collect(self) -> Iterable[Metric]:
        families: dict[str, Metric] = {}
        for pid in self._pids:
            for family in ProcessCollector(pid=functools.partial(int, pid), registry=None).collect():
                merged = families.setdefault(family.name, Metric(family.name, family.documentation, family.type))
                for sample in family.samples:
                    merged.add_sample(sample.name, {**sample.labels, "pid": str(pid)}, sample.value)
        return families.values()
