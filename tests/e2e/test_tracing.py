"""One trace from a request to what it caused, exported over OTLP/HTTP to a receiver the test runs.

A sign-up that arrives with a W3C ``traceparent`` is traced in that trace from the API
(the request, argon2, its SQL) through the outbox relay (one publication per destination)
to the event on RabbitMQ, which carries the header, and to the welcome-email job (run
in-process here: no ``REDIS_URL``) that its event started. A message consumed from
``app.inbound`` with a ``traceparent`` continues that trace likewise, and so do a gRPC call
and a job run by a worker process (through Redis). The tracer provider
is the process's, so it is set once here for the module, and SQLAlchemy's instrumentation
is removed again at its end.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import secrets
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aio_pika
import pytest
import structlog
from grpc_health.v1 import health_pb2
from httpx import ASGITransport, AsyncClient
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

from app.bootstrap import build_container
from app.infrastructure.config import Settings
from app.infrastructure.logging import configure_logging
from app.interfaces.grpc.v1 import auth_pb2
from app.interfaces.http.app import create_app
from tests.conftest import make_settings
from tests.e2e.grpc_helpers import health_check, private_server
from tests.e2e.test_consumer import consumer_app, envelope, rabbit_dead_letters
from tests.e2e.test_jobs import job_env, worker
from tests.support.events import bound_queue, received
from tests.support.otlp import OtlpReceiver, ReceivedSpan
from tests.support.servers import RedisServer
from tests.support.smtp import SmtpSink
from tests.support.waiting import until

pytestmark = pytest.mark.usefixtures("clean_database")
WITHIN_SECONDS = 30.0
PASSWORD = "correct horse battery"
REPORTS = Path(__file__).resolve().parents[2] / ".reports"


@pytest.fixture(scope="module")
def otlp() -> Iterator[OtlpReceiver]:
    with OtlpReceiver().serving() as receiver:
        yield receiver
    # Imported here: the tracing package makes OpenTelemetry's metrics API importable (see app/__init__.py).
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor  # noqa: PLC0415

    SQLAlchemyInstrumentor().uninstrument()
    provider = trace.get_tracer_provider()
    if isinstance(provider, TracerProvider):
        provider.shutdown()


def traced_settings(settings: Settings, otlp: OtlpReceiver, **overrides: str) -> Settings:
    return make_settings(settings.database_url, OTEL_EXPORTER_OTLP_ENDPOINT=otlp.endpoint, **overrides)


def traceparent() -> tuple[str, str, str]:
    """A caller's trace: its id, its span's id, and the header that names both."""
    trace_id, span_id = secrets.token_hex(16), secrets.token_hex(8)
    return trace_id, span_id, f"00-{trace_id}-{span_id}-01"


async def spans_of(otlp: OtlpReceiver, trace_id: str, *names: str) -> list[ReceivedSpan]:
    """The trace's spans once one of each name has arrived (the exporter sends batches in the background)."""

    async def arrived() -> bool:
        provider = trace.get_tracer_provider()
        assert isinstance(provider, TracerProvider)
        await asyncio.to_thread(provider.force_flush)
        return set(names) <= {span.name for span in otlp.of_trace(trace_id)}

    await until(arrived, f"spans {names} of trace {trace_id}", within=WITHIN_SECONDS)
    return otlp.of_trace(trace_id)


@contextlib.asynccontextmanager
async def traced_api(settings: Settings) -> AsyncIterator[AsyncClient]:
    """The HTTP app with these settings, in-process, serving (its lifespan, and so its relay, running)."""
    app = create_app(settings)
    async with app.lifespan():
        transport = ASGITransport(app=app)  # type: ignore[arg-type]  # see tests/conftest.py
        async with AsyncClient(transport=transport, base_url="http://testserver.local") as client:
            yield client


async def sign_up(client: AsyncClient, traceparent_header: str) -> None:
    """Ada signs up, in the caller's trace the header names."""
    response = await client.post(
        "/api/v1/auth/sign-up",
        json={"email": "ada@example.com", "password": PASSWORD},
        headers={"traceparent": traceparent_header},
    )
    assert response.status_code == 201, response.text


async def test_a_sign_up_is_one_trace_from_the_request_to_the_event_and_the_email(
    settings: Settings, otlp: OtlpReceiver, broker_url: str, smtp: SmtpSink
) -> None:
    trace_id, caller_span, header = traceparent()
    traced = traced_settings(settings, otlp, BROKER_URL=broker_url, SMTP_URL=smtp.url, REDIS_URL="")
    async with bound_queue(broker_url) as queue, traced_api(traced) as client:
        await sign_up(client, header)
        (message,) = await received(queue, 1)
        (email,) = await smtp.wait_for(1, within=WITHIN_SECONDS)

    spans = await spans_of(
        otlp,
        trace_id,
        "POST /api/v1/auth/sign-up",
        "argon2 hash",
        "user.registered publish",
        "execute/send_welcome_email",
    )
    by_id = {span.span_id: span for span in spans}
    (request,) = [span for span in spans if span.name == "POST /api/v1/auth/sign-up"]
    assert request.parent_id == caller_span
    assert request.kind == "server"
    assert request.attributes["http.route"] == "/api/v1/auth/sign-up"
    assert any(span.attributes.get("db.system") == "postgresql" for span in spans)  # its SQL statements
    publications = [span for span in spans if span.name == "user.registered publish"]
    assert {span.attributes["messaging.destination.name"] for span in publications} == {"broker", "jobs"}
    assert all(span.kind == "producer" for span in publications)
    # The message on RabbitMQ carries its publication's span, in the request's trace.
    sent = str(message.headers["traceparent"])
    assert sent.startswith(f"00-{trace_id}-")
    assert sent.split("-")[2] in {span.span_id for span in publications}
    assert json.loads(message.body)["type"] == "user.registered"
    # The job ran in the same trace, below the relay's hand-over to the jobs.
    (job,) = [span for span in spans if span.name == "execute/send_welcome_email"]
    ancestors = set()
    parent = by_id.get(job.parent_id)
    while parent is not None:
        ancestors.add(parent.name)
        parent = by_id.get(parent.parent_id)
    assert {"user.registered publish", "send/send_welcome_email"} <= ancestors
    assert email["To"] == "ada@example.com"
    assert all(span.service == "app" for span in spans)
    # The relay's own statements (polling, marking) are no trace of their own: only the
    # request's writing of its events (INSERT, NOTIFY) is a statement on the outbox traced.
    outbox_statements = {
        str(span.attributes["db.statement"]).split()[0]
        for span in otlp.spans
        if "outbox" in str(span.attributes.get("db.statement", ""))
    }
    assert outbox_statements == {"INSERT", "NOTIFY"}
    # What docs/trace-signup.svg is drawn from (tools/trace_svg.py).
    REPORTS.mkdir(exist_ok=True)
    (REPORTS / "trace-signup.json").write_text(json.dumps([dataclasses.asdict(span) for span in spans], indent=1))


@pytest.mark.parametrize(
    "endpoint_variable",
    [
        "OTEL_EXPORTER_OTLP_ENDPOINT",  # the base URL, below which spans go to /v1/traces
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",  # the traces' own URL, used as given
    ],
)
async def test_a_job_run_by_a_worker_process_continues_the_request_s_trace(
    settings: Settings,
    otlp: OtlpReceiver,
    stoppable_redis: RedisServer,
    smtp: SmtpSink,
    tmp_path: Path,
    *,
    endpoint_variable: str,
) -> None:
    """Across processes: the trace travels in the job's labels through Redis to ``just worker``.

    The worker is told where to export by either endpoint variable (the receiver takes
    spans on ``/v1/traces`` only, so a URL built wrong loses the worker's spans).
    """
    trace_id, _, header = traceparent()
    url = otlp.endpoint if endpoint_variable == "OTEL_EXPORTER_OTLP_ENDPOINT" else f"{otlp.endpoint}/v1/traces"
    exporting = {endpoint_variable: url, "OTEL_BSP_SCHEDULE_DELAY": "100"}
    worker_env = job_env(settings.database_url, stoppable_redis.url, SMTP_URL=smtp.url, OTEL_SERVICE_NAME="app-worker")
    api_settings = traced_settings(settings, otlp, REDIS_URL=stoppable_redis.url, SMTP_URL=smtp.url)
    async with traced_api(api_settings) as client, worker({**worker_env, **exporting}, tmp_path / "w.log") as w:
        await sign_up(client, header)
        (sent,) = await w.log.wait_for("welcome_email_sent")
        spans = await spans_of(otlp, trace_id, "send/send_welcome_email", "execute/send_welcome_email")

    (enqueued,) = [span for span in spans if span.name == "send/send_welcome_email"]
    (job,) = [span for span in spans if span.name == "execute/send_welcome_email"]
    assert (enqueued.service, job.service) == ("app", "app-worker")
    assert job.parent_id == enqueued.span_id
    assert any(span.service == "app-worker" and "db.statement" in span.attributes for span in spans)  # its SQL
    assert sent["trace_id"] == trace_id  # the worker's log lines carry the trace


async def test_a_grpc_call_continues_the_trace_of_its_traceparent_metadata(
    settings: Settings, otlp: OtlpReceiver
) -> None:
    trace_id, caller_span, header = traceparent()
    async with private_server(traced_settings(settings, otlp)) as rpc:
        await rpc.auth.SignUp(
            auth_pb2.SignUp(email="ada@example.com", password=PASSWORD), metadata=(("traceparent", header),)
        )
        await health_check(rpc.channel)(health_pb2.HealthCheckRequest(), metadata=(("traceparent", header),))

    spans = await spans_of(otlp, trace_id, "/app.v1.AuthService/SignUp", "argon2 hash")
    (call,) = [span for span in spans if span.name == "/app.v1.AuthService/SignUp"]
    assert call.parent_id == caller_span
    assert call.kind == "server"
    assert any(span.attributes.get("db.system") == "postgresql" for span in spans)
    assert [span.name for span in spans if span.kind == "server"] == ["/app.v1.AuthService/SignUp"]  # no probe


async def test_probes_and_scrapes_are_not_traced(settings: Settings, otlp: OtlpReceiver) -> None:
    trace_id, _, header = traceparent()
    async with traced_api(traced_settings(settings, otlp)) as client:
        for path in ("/health/live", "/health/ready", "/metrics"):
            assert (await client.get(path, headers={"traceparent": header})).status_code == 200, path
        assert (await client.get("/api/v1/users/me", headers={"traceparent": header})).status_code == 401

    spans = await spans_of(otlp, trace_id, "GET /api/v1/users/me")
    assert [span.name for span in spans if span.kind == "server"] == ["GET /api/v1/users/me"]


async def test_a_consumed_message_continues_the_trace_of_its_traceparent_header(
    settings: Settings, otlp: OtlpReceiver, broker_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    trace_id, caller_span, header = traceparent()
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", otlp.endpoint)
    async with consumer_app(monkeypatch, settings, BROKER_URL=broker_url):
        connection = await aio_pika.connect(broker_url)
        async with connection:
            channel = await connection.channel()
            poison = envelope("user.deactivate", user_id=str(uuid.uuid4()), reason="x")  # unknown user: dead-lettered
            await channel.default_exchange.publish(
                aio_pika.Message(json.dumps(poison).encode(), message_id=poison["id"], headers={"traceparent": header}),
                routing_key="app.inbound",
            )
            spans = await spans_of(otlp, trace_id, "default.app.inbound process")
    (dead,) = await rabbit_dead_letters(broker_url, 1)  # taken off the queue other tests read

    (consumed,) = [span for span in spans if span.name == "default.app.inbound process"]
    assert consumed.parent_id == caller_span
    assert consumed.kind == "consumer"
    assert dead.reason.startswith("unknown user")
    assert any(span.attributes.get("db.system") == "postgresql" for span in spans)


async def test_log_lines_carry_the_trace_and_span_of_their_work(
    settings: Settings, otlp: OtlpReceiver, capsys: pytest.CaptureFixture[str]
) -> None:
    traced = traced_settings(settings, otlp, LOG_FORMAT="json", LOG_LEVEL="INFO")
    await build_container(traced).close()  # starts the tracer provider, if no earlier test did
    suite_logging = structlog.get_config()
    configure_logging(traced)  # writes to this test's captured stderr: put back below
    try:
        with trace.get_tracer("test").start_as_current_span("work") as span:
            structlog.get_logger("test").info("inside")
        structlog.get_logger("test").info("outside")
    finally:
        structlog.configure(**suite_logging)

    inside, outside = (json.loads(line) for line in capsys.readouterr().err.splitlines()[-2:])
    assert inside["event"] == "inside"
    assert inside["trace_id"] == trace.format_trace_id(span.get_span_context().trace_id)
    assert inside["span_id"] == trace.format_span_id(span.get_span_context().span_id)
    assert "trace_id" not in outside
