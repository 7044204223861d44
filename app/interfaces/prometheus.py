"""The registry a scrape reports, alone or added up over processes (prometheus_client's multiprocess mode).

Shared by the HTTP app's ``/metrics`` (``just serve`` with several ``WORKERS``) and the job
worker's endpoint (``just worker`` with several ``JOB_WORKERS``). With
``PROMETHEUS_MULTIPROC_DIR`` set, every process keeps its series in files there and
whichever process answers a scrape reports the sum over all of them; process metrics
then carry a ``pid`` label, one series per live process. The directory must be set
before the processes start and be empty at each start (both recipes make a fresh one).
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

import structlog
from prometheus_client import REGISTRY, CollectorRegistry, start_http_server
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.process_collector import ProcessCollector

MULTIPROCESS_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"


def scrape_registry() -> CollectorRegistry:
    """What a scrape of this process reports: its own series, or with multiprocess mode on, every process's."""
    directory = os.environ.get(MULTIPROCESS_DIR_VARIABLE)
    if not directory:
        return REGISTRY  # One process: its own series, plus the default process collector.
    workers = _live_workers(Path(directory))  # Before collecting: it forgets the dead ones.
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
    registry.register(WorkerProcessCollector(workers))
    return registry


log = structlog.get_logger("app.metrics")


@contextlib.contextmanager
def metrics_served(host: str, port: int, setting: str) -> Iterator[None]:
    """``/metrics`` on ``host:port`` (a thread of this process) while the block runs, for processes without HTTP.

    Nothing with port 0, and nothing (said in the log) when the port is taken: a sibling
    process serves it already, adding this one's series up in multiprocess mode.
    ``setting`` names the variable of the port, for the log.
    """
    if port == 0:
        yield
        return
    try:
        server, thread = start_http_server(port, addr=host, registry=EachScrape())
    except OSError as exc:
        log.info("metrics_not_served", host=host, port=port, setting=setting, reason=repr(exc))
        yield
        return
    log.info("metrics_served", host=host, port=port, setting=setting)
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


class EachScrape:
    """A collector reporting what :func:`scrape_registry` gives at the time of each scrape.

    For servers that take one collector for good (prometheus_client's own), where the
    live processes must still be looked up on every scrape.
    """

    def collect(self) -> Iterable[Metric]:
        return scrape_registry().collect()


def _live_workers(directory: Path) -> list[int]:
    """The workers with files in the multiprocess directory that are still alive.

    Workers are known by their files (``counter_<pid>.db`` …). A dead worker's *live*
    gauge files are removed here, as prometheus_client requires (neither uvicorn nor
    Taskiq has a hook for it), so that ``livesum`` gauges such as the in-progress
    requests forget it; its counters and histograms stay, as totals must.
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


def leave_no_worker_files() -> None:
    """Remove this process's files from the multiprocess directory (if any), so that it counts as no worker.

    For a process that imported the metrics without serving: the supervisor that imports
    the app before forking its workers (``app.interfaces.http.serve``). Its files hold only
    the zeros written when the metrics were declared; each forked worker writes files of
    its own as it first touches a metric (prometheus_client notices the new pid), zeros
    included, and would otherwise be reported beside a supervisor that serves nothing.
    """
    if directory := os.environ.get(MULTIPROCESS_DIR_VARIABLE):
        for path in Path(directory).glob(f"*_{os.getpid()}.db"):
            path.unlink(missing_ok=True)


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
