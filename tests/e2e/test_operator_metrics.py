"""The series an operator watches beyond the HTTP ones, each moved by what it counts.

gRPC calls by method and code, consumer messages by type and outcome, the outbox's
backlog and lag, the connection pool, and the authentication cache's lookups. Each test
reads the process's registry before and after (the series are the module-level ones every
``/metrics`` reports; tests/test_observability.py checks they are exported).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid

import aio_pika
import grpc
import msgspec
import pytest
from prometheus_client import REGISTRY

from app.bootstrap import Container, build_container
from app.infrastructure.config import Settings
from app.infrastructure.db.pool_metrics import sample
from app.infrastructure.outbox.relay import OutboxRelay
from app.interfaces.grpc.v1 import auth_pb2
from tests.e2e.grpc_helpers import Stubs, rpc_error
from tests.e2e.helpers import bearer, registered
from tests.e2e.test_auth_cache import (
    Instance,
    pair,  # noqa: F401 - the fixture: an app on Redis
)
from tests.e2e.test_consumer import consumer_app, encoded, envelope, rabbit_dead_letters, signed_up
from tests.support.waiting import until

PASSWORD = "correct horse battery"
SIGN_UP = "/app.v1.AuthService/SignUp"


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_grpc_calls_are_counted_by_method_and_code(rpc: Stubs) -> None:
    ok, invalid = (
        value("app_grpc_calls_total", method=SIGN_UP, code="OK"),
        value("app_grpc_calls_total", method=SIGN_UP, code="INVALID_ARGUMENT"),
    )
    timed = value("app_grpc_call_duration_seconds_count", method=SIGN_UP)

    await rpc.auth.SignUp(auth_pb2.SignUp(email="ada@example.com", password=PASSWORD))
    refused = await rpc_error(rpc.auth.SignUp(auth_pb2.SignUp(email="not an address", password=PASSWORD)))

    assert refused.code() == grpc.StatusCode.INVALID_ARGUMENT, refused.details()

    assert value("app_grpc_calls_total", method=SIGN_UP, code="OK") == ok + 1
    assert value("app_grpc_calls_total", method=SIGN_UP, code="INVALID_ARGUMENT") == invalid + 1
    assert value("app_grpc_call_duration_seconds_count", method=SIGN_UP) == timed + 2


async def test_consumed_messages_are_counted_by_type_and_outcome(
    settings: Settings, container: Container, broker_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    deactivate = "user.deactivate"
    before = {
        (kind, outcome): value("app_consumer_messages_total", type=kind, outcome=outcome)
        for kind in (deactivate, "unknown")
        for outcome in ("applied", "duplicate", "dead_lettered")
    }
    user_id, _ = await signed_up(container)
    applied = envelope(deactivate, user_id=str(user_id), reason="left")
    messages = [applied, applied, envelope(deactivate, user_id=str(uuid.uuid4()), reason="x"), envelope("made.up")]
    async with consumer_app(monkeypatch, settings, BROKER_URL=broker_url, CONSUMER_METRICS_PORT="0"):
        connection = await aio_pika.connect(broker_url)
        async with connection:
            channel = await connection.channel()
            for message in messages:
                await channel.default_exchange.publish(aio_pika.Message(encoded(message)), routing_key="app.inbound")

            def moved(kind: str, outcome: str) -> float:
                return value("app_consumer_messages_total", type=kind, outcome=outcome) - before[kind, outcome]

            async def all_settled() -> bool:
                return sum(moved(kind, outcome) for kind, outcome in before) == len(messages)

            await until(all_settled, "every message settled", within=30.0)
    # Taken off the dead-letter queue, which other tests read.
    dead = await rabbit_dead_letters(broker_url, 2)

    assert {json.loads(letter.body)["type"] for letter in dead} == {deactivate, "made.up"}
    assert moved(deactivate, "applied") == 1
    assert moved(deactivate, "duplicate") == 1
    assert moved(deactivate, "dead_lettered") == 1  # an unknown user
    assert moved("unknown", "dead_lettered") == 1  # a type nobody sent: not a label of its own


async def test_the_relay_measures_each_destinations_backlog_and_lag(container: Container) -> None:
    # A relay of its own, to destinations that take everything and start nothing (no jobs
    # left running into the next test).
    relay = OutboxRelay(container.engine, None)
    for i in range(3):
        await container.users.sign_up(f"user{i}@example.com", PASSWORD, {})
    await asyncio.sleep(0.05)  # the oldest event is a little older than now

    await relay.measure()

    for destination in ("broker", "jobs"):
        assert value("app_outbox_backlog", destination=destination) == 3
        assert value("app_outbox_lag_seconds", destination=destination) > 0
    await relay.publish_pending()
    await relay.measure()
    assert value("app_outbox_backlog", destination="broker") == 0
    assert value("app_outbox_lag_seconds", destination="broker") == 0


async def test_the_pool_gauges_show_connections_in_use_and_waiters(settings: Settings) -> None:
    small = build_container(msgspec.structs.replace(settings, database_pool_size=1))
    try:
        async with contextlib.AsyncExitStack() as held:
            for _ in range(2):  # pool_size 1 and as much overflow: both connections taken
                await held.enter_async_context(small.engine.connect())
            waiter = asyncio.create_task(_one_more(small))
            await asyncio.sleep(0.2)
            sample(small.engine)
            assert value("app_db_pool_in_use") == 2
            assert value("app_db_pool_max") == 2
            assert value("app_db_pool_waiting") == 1
        await waiter
        sample(small.engine)
        assert value("app_db_pool_in_use") == 0
        assert value("app_db_pool_waiting") == 0
    finally:
        await small.close()


async def _one_more(container: Container) -> None:
    async with container.engine.connect():
        pass


async def test_authentication_cache_lookups_are_counted_hit_or_miss(pair: tuple[Instance, Instance]) -> None:  # noqa: F811
    reader, _ = pair
    tokens = await registered(reader.client, "ada@example.com")
    hits, misses = (
        value("app_auth_cache_lookups_total", result="hit"),
        value("app_auth_cache_lookups_total", result="miss"),
    )

    for _ in range(3):  # the first is a miss that fills the cache, the others hits
        assert (await reader.client.get("/api/v1/users/me", headers=bearer(tokens))).status_code == 200

    assert value("app_auth_cache_lookups_total", result="miss") == misses + 1
    assert value("app_auth_cache_lookups_total", result="hit") == hits + 2
