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
``app_http_workers`` counts the live processes serving the app. The job series
(``app_jobs_*``, see ``app/infrastructure/jobs/metrics.py``) are here too: welcome-email
jobs are enqueued by the API processes' outbox relay, and in embedded mode jobs run in them.

Several worker processes (``just serve`` with ``WORKERS`` > 1): each worker counts in
its own memory, so a scrape answered by one worker would show only its share. With
``PROMETHEUS_MULTIPROC_DIR`` set, prometheus_client's multiprocess mode keeps every
worker's series in files there and any worker answering a scrape reports the sum over
all of them; process metrics then carry a ``pid`` label, one series per live worker.
The directory must be set before the workers start and be empty at each start of the
server (``just serve`` makes a fresh one every time). How a scrape adds the files up is
in ``app/interfaces/prometheus.py``, shared with the job worker's endpoint.
"""

from __future__ import annotations

from litestar import Response, get
from litestar.config.app import AppConfig
from litestar.plugins import InitPluginProtocol
from litestar.plugins.prometheus import PrometheusConfig, PrometheusController
from prometheus_client import CONTENT_TYPE_LATEST, Gauge, generate_latest

from app.interfaces.prometheus import scrape_registry

METRICS_PATH = "/metrics"
#: Set to True in a route handler's ``opt`` to leave its requests out of the series.
EXCLUDE_FROM_METRICS = "exclude_from_metrics"

#: The text exposition format's media type; Litestar appends ``; charset=utf-8`` itself.
MEDIA_TYPE = CONTENT_TYPE_LATEST.partition("; charset=")[0]

#: Each process serving the app sets 1; "livesum" adds up the live ones. It also makes
#: every worker leave a file in the multiprocess directory from the start, which is how
#: :class:`~app.interfaces.prometheus.WorkerProcessCollector` finds workers that have not served a request yet.
WORKERS = Gauge("app_http_workers", "Processes serving the HTTP app", multiprocess_mode="livesum")


def prometheus_config() -> PrometheusConfig:
    return PrometheusConfig(
        app_name="app",
        prefix="app_http",
        group_path=True,  # Label with the route template, not the raw path.
        exclude_opt_key=EXCLUDE_FROM_METRICS,
    )


class MetricsController(PrometheusController):
    path = METRICS_PATH
    tags = ["health"]

    @get(
        operation_id="metrics",
        opt={EXCLUDE_FROM_METRICS: True},
        media_type=MEDIA_TYPE,
        sync_to_thread=False,  # Reads a few small memory-mapped files at most.
        summary="Prometheus metrics",
        description="Request counts and latency histograms by route template, method and status; process metrics.",
    )
    def get(self) -> Response[bytes]:
        return Response(generate_latest(scrape_registry()), media_type=MEDIA_TYPE)


class MetricsPlugin(InitPluginProtocol):
    """Adds ``GET /metrics`` and the request-measuring middleware to the app."""

    def __init__(self, config: PrometheusConfig | None = None) -> None:
        self._config = config or prometheus_config()

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        WORKERS.set(1)
        app_config.route_handlers.append(MetricsController)
        app_config.middleware.insert(0, self._config.middleware)
        return app_config
