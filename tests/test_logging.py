"""Every log line of a process goes through structlog: the libraries' (Taskiq's, FastStream's…) too.

With ``LOG_FORMAT=json`` a process's stderr is JSON lines only, each with its level,
timestamp and logger, and, inside a span with tracing on, its trace and span ids. Run in a
fresh interpreter, as a process configures its logging once at start (the test runner's own
log capture would keep its handlers otherwise).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: How a process sets its logging up: by itself (consumer, worker, gRPC), or through the HTTP app.
CONFIGURE = "from app.infrastructure.logging import configure_logging\nconfigure_logging(settings)\n"
CREATE_APP = "from app.interfaces.http.app import create_app\ncreate_app(settings)\n"
LIBRARY_LINES = """
import logging
from app.infrastructure.config import load_settings

settings = load_settings()
{setup}
logging.getLogger("taskiq.receiver.receiver").info("Executing task %s", "send_welcome_email")
logging.getLogger("sqlalchemy.pool").debug("below the level: not shown")
try:
    raise ZeroDivisionError("division by zero")
except ZeroDivisionError:
    logging.getLogger("faststream").exception("failed")
if settings.tracing_enabled:
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider

    trace.set_tracer_provider(TracerProvider())
    with trace.get_tracer("test").start_as_current_span("job") as span:
        trace_id = format(span.get_span_context().trace_id, "032x")
        logging.getLogger("taskiq.receiver.receiver").warning("inside %s", trace_id)
"""


def stderr_lines(tmp_path: Path, setup: str = CONFIGURE, **settings: str) -> list[str]:
    env = {**os.environ, "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/app.db", "LOG_LEVEL": "INFO", **settings}
    script = LIBRARY_LINES.format(setup=setup)
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=True
    )
    return result.stderr.splitlines()


@pytest.mark.parametrize("setup", [CONFIGURE, CREATE_APP], ids=["process", "http-app"])
def test_library_log_lines_are_json_lines_with_the_service_s_fields(tmp_path: Path, setup: str) -> None:
    """The HTTP app too: Litestar's own logging set-up would put its text format back."""
    lines = [
        json.loads(line) for line in stderr_lines(tmp_path, setup, LOG_FORMAT="json", OTEL_EXPORTER_OTLP_ENDPOINT="")
    ]

    executing, failed = lines
    assert executing["event"] == "Executing task send_welcome_email"
    assert executing["logger"] == "taskiq.receiver.receiver"
    assert executing["level"] == "info"
    assert executing["timestamp"].endswith("Z")
    assert failed["level"] == "error"
    assert "ZeroDivisionError: division by zero" in failed["exception"]


def test_with_tracing_on_a_library_line_inside_a_span_carries_its_ids(tmp_path: Path) -> None:
    lines = stderr_lines(tmp_path, LOG_FORMAT="json", OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:4318")

    inside = json.loads(lines[-1])
    assert inside["trace_id"] == inside["event"].removeprefix("inside ")
    assert len(inside["span_id"]) == 16
    assert all("trace_id" not in json.loads(line) for line in lines[:-1])
