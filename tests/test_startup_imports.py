"""An API worker imports what serving HTTP needs, and not the other processes' stacks.

Every module the HTTP app imports is paid at each start of each worker (``just serve``).
The job stack (Taskiq, which brings aiohttp) is imported on the first enqueue
(``DeferredJobs``), the message broker's (FastStream) only with ``BROKER_URL``, and gRPC
never. The app is created in a fresh interpreter, as a worker creates it; nothing connects.
OpenTelemetry is imported by no process (API, consumer, job worker) unless tracing is on.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: Top-level packages an API worker must not import at its start.
NOT_AT_START = frozenset(
    {"taskiq", "taskiq_redis", "aiohttp", "faststream", "aio_pika", "grpc", "google", "opentelemetry"}
)
CREATE_APP = "from app.interfaces.http.app import create_app\ncreate_app()\n"
#: Each process's factory, as its command calls it (none of them connects anything).
CREATE_CONSUMER = "from app.interfaces.consumer import create_app\ncreate_app()\n"
CREATE_WORKER = "from app.interfaces.worker import create_worker_broker\ncreate_worker_broker()\n"
#: What the supervisor of ``python -m app.interfaces.http.serve`` does before it forks its workers.
AS_THE_SUPERVISOR = (
    "from app.infrastructure.config import load_settings_or_exit\n"
    "from app.infrastructure.logging_imports import skip_console_only_imports\n"
    "from app.interfaces.http import serve\n"
    "skip_console_only_imports(load_settings_or_exit())\n"
    "serve.fork_workers_with_the_app_imported()\n"
)
#: Packages of the modules imported (a None entry marks a module absent: see app/__init__.py).
LOADED = (
    "import sys\n"
    "print(' '.join(sorted({name.split('.')[0] for name, module in sys.modules.items() if module is not None})))\n"
)


def packages_after_create_app(tmp_path: Path, settings: dict[str, str], create: str = CREATE_APP) -> set[str]:
    # The embedded database and generated key go to a private folder, never the checkout's.
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/app.db",
        "BROKER_URL": "",
        "OTEL_EXPORTER_OTLP_ENDPOINT": "",
        **settings,
    }
    result = subprocess.run(
        [sys.executable, "-c", create + LOADED], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
        check=True,
    )  # fmt: skip
    return set(result.stdout.split())


@pytest.mark.parametrize("redis_url", ["", "redis://127.0.0.1:6379/0"], ids=["embedded", "redis"])
def test_the_http_app_starts_without_the_job_message_broker_or_grpc_stacks(tmp_path: Path, redis_url: str) -> None:
    loaded = packages_after_create_app(tmp_path, {"REDIS_URL": redis_url})

    assert {"litestar", "sqlalchemy"} <= loaded  # what it does need: the probe sees imports
    assert loaded & NOT_AT_START == set()


@pytest.mark.parametrize(("log_format", "imports_rich"), [("json", False), ("console", True)])
def test_a_worker_logging_json_lines_does_not_import_rich(tmp_path: Path, log_format: str, imports_rich: bool) -> None:
    """structlog would import rich for the console renderer's tracebacks, which JSON lines never show."""
    loaded = packages_after_create_app(tmp_path, {"LOG_FORMAT": log_format}, AS_THE_SUPERVISOR + CREATE_APP)

    assert {"litestar", "structlog"} <= loaded
    assert ("rich" in loaded) is imports_rich


def test_a_broker_url_brings_the_message_broker_stack_alone(tmp_path: Path) -> None:
    loaded = packages_after_create_app(tmp_path, {"BROKER_URL": "amqp://127.0.0.1:5672/"})

    assert loaded & NOT_AT_START == {"faststream", "aio_pika"}


@pytest.mark.parametrize(
    ("create", "settings"),
    [
        (CREATE_APP, {}),
        (CREATE_CONSUMER, {"BROKER_URL": "amqp://127.0.0.1:5672/"}),
        (CREATE_WORKER, {"REDIS_URL": "redis://127.0.0.1:6379/0", "JOB_METRICS_PORT": "0"}),
    ],
    ids=["api", "consumer", "worker"],
)
def test_no_process_imports_opentelemetry_with_tracing_off(
    tmp_path: Path, create: str, settings: dict[str, str]
) -> None:
    loaded = packages_after_create_app(tmp_path, settings, create)

    assert "sqlalchemy" in loaded
    assert "opentelemetry" not in loaded


def test_an_otlp_endpoint_turns_tracing_on(tmp_path: Path) -> None:
    """The other side of the test above: the probe sees OpenTelemetry when it is there."""
    loaded = packages_after_create_app(tmp_path, {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"})

    assert "opentelemetry" in loaded


def test_a_serving_app_imports_the_job_stack_in_the_background(tmp_path: Path) -> None:
    """So that the first enqueue finds it imported, instead of stalling the event loop to import it."""
    serve = (
        "import asyncio, sys\n"
        "from app.interfaces.http.app import create_app\n"
        "async def main():\n"
        "    app = create_app()\n"
        "    async with app.lifespan():\n"
        "        for _ in range(600):\n"
        "            if 'app.infrastructure.jobs.definitions' in sys.modules:\n"
        "                break\n"
        "            await asyncio.sleep(0.05)\n"
        "        print('app.infrastructure.jobs.definitions' in sys.modules)\n"
        "asyncio.run(main())\n"
    )
    env = {**os.environ, "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/app.db", "BROKER_URL": "", "REDIS_URL": ""}
    result = subprocess.run(
        [sys.executable, "-c", serve], cwd=ROOT, env=env, capture_output=True, text=True, timeout=90, check=True
    )

    assert result.stdout.split()[-1] == "True", result.stdout + result.stderr
