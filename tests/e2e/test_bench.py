"""``just bench``'s scenarios end to end, each in its shortest form, against the processes the load test starts."""

from __future__ import annotations

import asyncio
import sys
from dataclasses import replace
from pathlib import Path

import aio_pika
import grpc

from app.application.auth.dto import ClientInfo
from app.bootstrap import build_container
from app.infrastructure.config import load_settings
from app.infrastructure.messaging.publisher import INBOUND_QUEUE
from app.interfaces.grpc.v1 import auth_pb2, auth_pb2_grpc
from bench import backing, grpc_load, scenarios, servers, wrk
from bench.measure import Result
from bench.run import service_env
from bench.scenarios import Targets

EMAIL, PASSWORD = "bench-grpc@example.com", "bench grpc password"


def _targets(**servers_for_scenario: str) -> Targets:
    settings = load_settings({}, env_file=None)
    return Targets("", settings, "", "", "", "", "", "", "", **servers_for_scenario)


def _health_scenario(database_url: str, redis_url: str, log_dir: Path) -> tuple[Result, dict[int, int]]:
    wrk_path = wrk.ensure_installed()
    env = service_env(database_url, redis_url, workers=1)
    spec = servers.ServerSpec("service", ["just", "serve"], env, servers.http_ready("/health/live"))
    with servers.serving(spec, log_dir) as service:
        health = next(s for s in scenarios.scenarios(cursor_depth=1) if s.name == scenarios.HEALTH)
        settings = load_settings(env, env_file=None)
        targets = Targets(wrk_path, settings, service.base_url, "", "", "", "", "", "")
        [(name, result)] = health.run(targets, seconds=1)
        assert name == scenarios.HEALTH
        return result, servers.worker_rss_bytes(service.base_url)


async def test_the_health_scenario_measures_a_real_server(database_url: str, redis_url: str, tmp_path: Path) -> None:
    result, rss = await asyncio.to_thread(_health_scenario, database_url, redis_url, tmp_path)

    assert result.operations > 0
    assert result.errors == 0
    assert result.p50_ms is not None
    assert result.p99_ms is not None
    assert 0 < result.p50_ms <= result.p99_ms
    assert len(rss) == 1
    assert all(10 * 2**20 < size < 2**30 for size in rss.values())


async def test_the_in_process_listing_scenario_counts_the_cpu_of_each_page(database_url: str, redis_url: str) -> None:
    settings = load_settings(service_env(database_url, redis_url, workers=1), env_file=None)
    container = build_container(settings)
    try:
        await container.users.create_admin(EMAIL, PASSWORD)
        token = (await container.auth.issue_tokens(EMAIL, PASSWORD, ClientInfo())).access_token
    finally:
        await container.close()
    [scenario] = [s for s in scenarios.scenarios(cursor_depth=1) if isinstance(s, scenarios.InProcessScenario)]
    targets = Targets("", settings, "", "", "", "", token, "", "")

    [(name, result)] = await asyncio.to_thread(scenario.run, targets, 0.5)

    assert name == scenarios.USERS_FIRST_PAGE_IN_PROCESS
    assert (result.operations, result.errors) == (25, 0)
    assert result.cpu_ms is not None
    assert result.p50_ms is not None
    assert 0 < result.cpu_ms < 1000
    # Another token is refused, and counted as an error rather than measured as a page.
    [(_, refused)] = await asyncio.to_thread(scenario.run, replace(targets, admin_token="not a token"), 0.2)
    assert refused.errors == refused.operations == 10


def _access_token(address: str) -> str:
    """A user signed up and signed in through the gRPC server itself."""
    with grpc.insecure_channel(address) as channel:
        auth = auth_pb2_grpc.AuthServiceStub(channel)
        auth.SignUp(auth_pb2.SignUp(email=EMAIL, password=PASSWORD), timeout=30)
        tokens: auth_pb2.TokenPair = auth.IssueTokens(auth_pb2.IssueTokens(email=EMAIL, password=PASSWORD), timeout=30)
        return tokens.access_token


def _grpc_scenario(database_url: str, redis_url: str, log_dir: Path) -> tuple[Result, Result]:
    env = service_env(database_url, redis_url, workers=1)
    service_spec = servers.ServerSpec("grpc", ["just", "grpc"], env, grpc_load.grpc_ready, port_variable="GRPC_PORT")
    bare = [sys.executable, "-m", "bench.grpc_baseline"]
    baseline_spec = servers.ServerSpec("grpc-baseline", bare, env, grpc_load.grpc_ready, port_variable="GRPC_PORT")
    with servers.serving(service_spec, log_dir) as service, servers.serving(baseline_spec, log_dir) as baseline:
        targets = Targets(
            "", load_settings(env, env_file=None), "", "", _access_token(service.address), "", "", "", "",
            grpc_service=service.address, grpc_baseline=baseline.address,
        )  # fmt: skip
        [scenario] = [s for s in scenarios.scenarios(cursor_depth=1) if isinstance(s, scenarios.GrpcScenario)]
        [(name, result)] = scenario.run(targets, seconds=1)
        assert name == scenarios.GRPC_GET_ME
        assert scenario.reference is not None
        return result, scenario.reference.measure(targets, seconds=1)


async def test_the_grpc_scenario_and_its_bare_reference_serve_get_me(
    database_url: str, redis_url: str, tmp_path: Path
) -> None:
    results = await asyncio.to_thread(_grpc_scenario, database_url, redis_url, tmp_path)

    for result in results:
        assert result.operations > 0
        assert result.errors == 0  # a wrong token or a missing user would fail every call
        assert result.p50_ms is not None
        assert result.p99_ms is not None
        assert 0 < result.p50_ms <= result.p99_ms


def _assert_named(rows: list[tuple[str, Result]], names: list[str]) -> dict[str, Result]:
    assert [name for name, _ in rows] == names
    for _, result in rows:
        assert result.operations > 0
        assert result.per_second > 0
        assert result.errors == 0
    return dict(rows)


async def test_the_job_queue_scenario_measures_a_real_worker(redis_url: str) -> None:
    targets = _targets(jobs_redis=backing.other_redis_database(redis_url))

    rows = await asyncio.to_thread(scenarios.JobsScenario().run, targets, 0.2)

    named = _assert_named(rows, [scenarios.JOBS_DRAIN, scenarios.JOBS_LIVE, scenarios.JOBS_ENQUEUE_TO_START])
    assert named[scenarios.JOBS_DRAIN].operations == 200
    assert named[scenarios.JOBS_DRAIN].p99_ms is None
    latency = named[scenarios.JOBS_ENQUEUE_TO_START]
    assert latency.operations == 10
    assert latency.p50_ms is not None
    assert latency.p99_ms is not None
    assert 0 < latency.p50_ms <= latency.p99_ms


async def test_the_event_pipeline_scenario_measures_real_processes(postgres_server_url: str, broker_url: str) -> None:
    targets = _targets(postgres_server=postgres_server_url, broker=broker_url)

    rows = await asyncio.to_thread(scenarios.EventsScenario().run, targets, 0.5)

    named = _assert_named(
        rows, [scenarios.EVENTS_END_TO_END, scenarios.EVENTS_CONSUMED, scenarios.EVENTS_COMMIT_TO_PUBLISH]
    )
    assert named[scenarios.EVENTS_END_TO_END].operations == 50
    assert named[scenarios.EVENTS_END_TO_END].p99_ms is None
    consumed = named[scenarios.EVENTS_CONSUMED]
    assert consumed.operations == 50
    assert consumed.cpu_ms is not None
    assert 0 < consumed.cpu_ms < 1000
    latency = named[scenarios.EVENTS_COMMIT_TO_PUBLISH]
    assert latency.operations == 250
    assert latency.p50_ms is not None
    assert latency.p99_ms is not None
    assert 0 < latency.p50_ms <= latency.p99_ms
    # The bench routes its events to the consumer's queue for the round only, and leaves it empty.
    connection = await aio_pika.connect(broker_url, timeout=10)
    async with connection, connection.channel() as channel:
        inbound = await channel.declare_queue(INBOUND_QUEUE, passive=True)
        assert inbound.declaration_result.message_count == 0
