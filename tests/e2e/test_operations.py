"""What operators and browsers rely on: metrics, readiness with Redis, security headers."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterable
from contextlib import AbstractAsyncContextManager

import pytest
from httpx import ASGITransport, AsyncClient, Response
from litestar import Litestar
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from app.bootstrap import build_container
from tests.conftest import make_settings
from tests.e2e.helpers import Client, assert_problem, bearer, create
from tests.support.in_process import in_process_client, ready_within
from tests.support.servers import RedisServer
from tests.support.waiting import ANSWER_WITHIN_SECONDS

REQUESTS = "app_http_requests_total"
DURATION_COUNT = "app_http_request_duration_seconds_count"
DURATION_BUCKET = "app_http_request_duration_seconds_bucket"
USER_TEMPLATE = "/api/v1/users/{user_id}"

COMMON_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
}
API_CSP = "default-src 'none'; frame-ancestors 'none'"


# ------------------------------------------------------------------------- metrics


async def scrape(client: Client) -> list[Sample]:
    response = await client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=")
    return [sample for family in text_string_to_metric_families(response.text) for sample in family.samples]


def total(samples: Iterable[Sample], name: str, **labels: str) -> float:
    return sum(s.value for s in samples if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()))


async def test_metrics_count_requests_by_route_template(client: Client, admin: dict[str, str]) -> None:
    user = await create(client, admin, email="ada@example.com")
    missing = uuid.uuid4()
    before = await scrape(client)

    assert (await client.get(f"/api/v1/users/{user['id']}", headers=bearer(admin))).status_code == 200
    assert (await client.get(f"/api/v1/users/{user['id']}/", headers=bearer(admin))).status_code == 200
    assert_problem(await client.get(f"/api/v1/users/{missing}", headers=bearer(admin)), 404, "not_found")
    assert_problem(await client.get(f"/api/v1/no-such-route/{missing}"), 404, "not_found")
    after = await scrape(client)

    def delta(name: str, **labels: str) -> float:
        return total(after, name, **labels) - total(before, name, **labels)

    found = {"method": "GET", "path": USER_TEMPLATE, "status_code": "200"}
    not_found = {**found, "status_code": "404"}
    assert delta(REQUESTS, **found) == 2
    assert delta(REQUESTS, **not_found) == 1
    assert delta(DURATION_COUNT, **found) == 2
    assert delta(DURATION_BUCKET, **found, le="+Inf") == 2
    assert delta(DURATION_COUNT, **not_found) == 1

    # Labels are templates: no id, no unknown path, and scrapes are not counted.
    label_values = {value for sample in after for value in sample.labels.values()}
    assert not any(str(missing) in value or user["id"] in value for value in label_values)
    assert not any("no-such-route" in value for value in label_values)
    # The registry is the process's, shared with earlier tests: compare, don't count from zero.
    assert delta(REQUESTS, path="/metrics") == 0


async def test_metrics_include_process_metrics(client: Client) -> None:
    samples = await scrape(client)
    names = {sample.name for sample in samples}
    assert {"process_cpu_seconds_total", "process_resident_memory_bytes", "process_open_fds"} <= names


# ----------------------------------------------------------------- readiness + Redis


@pytest.fixture
async def redis_app_client(database_url: str, stoppable_redis: RedisServer) -> AsyncIterator[AsyncClient]:
    """The app with Redis configured: a private server this test may stop and start."""
    async with app_client(database_url, stoppable_redis.url) as client:
        yield client


def app_client(database_url: str, redis_url: str) -> AbstractAsyncContextManager[AsyncClient]:
    """A separate app with ``REDIS_URL`` set, called in-process like the session ``client``."""
    return in_process_client(build_container(make_settings(database_url, REDIS_URL=redis_url)))


async def timed_ready(client: AsyncClient) -> Response:
    return await ready_within(client, ANSWER_WITHIN_SECONDS)


async def test_readiness_follows_redis_down_and_back(
    redis_app_client: AsyncClient, stoppable_redis: RedisServer
) -> None:
    ready = await timed_ready(redis_app_client)
    assert ready.status_code == 200, ready.text
    assert ready.json() == {"status": "ok", "checks": {"database": "ok", "redis": "ok"}}

    stoppable_redis.stop()
    for _ in range(2):  # First the pooled connection that died, then refused connections.
        down = await timed_ready(redis_app_client)
        assert down.status_code == 503
        assert down.json() == {"status": "error", "checks": {"database": "ok", "redis": "error"}}
    assert (await redis_app_client.get("/health/live")).status_code == 200

    stoppable_redis.start()
    back = await timed_ready(redis_app_client)
    assert back.status_code == 200, back.text
    assert back.json()["checks"] == {"database": "ok", "redis": "ok"}


async def test_readiness_is_bounded_when_redis_hangs(database_url: str, silent_port: int) -> None:
    async with app_client(database_url, f"redis://127.0.0.1:{silent_port}/0") as client:
        ready = await timed_ready(client)
    assert ready.status_code == 503
    assert ready.json() == {"status": "error", "checks": {"database": "ok", "redis": "error"}}


# ------------------------------------------------------------------ security headers


def assert_security_headers(response: Response, *, csp: str = API_CSP, https: bool = False) -> None:
    for name, value in {**COMMON_HEADERS, "content-security-policy": csp}.items():
        assert response.headers.get_list(name) == [value], name
    if https:
        assert response.headers["strict-transport-security"].startswith("max-age=")
    else:
        assert "strict-transport-security" not in response.headers


async def test_security_headers_on_success_and_on_errors(client: Client) -> None:
    ok = await client.get("/health/live")
    assert ok.status_code == 200
    assert_security_headers(ok)

    unknown_route = await client.get("/api/v1/no-such-route")
    assert_problem(unknown_route, 404, "not_found")
    assert_security_headers(unknown_route)

    invalid = await client.post("/api/v1/auth/sign-up", json={"email": "not-an-email", "password": "short"})
    assert_problem(invalid, 422, "validation_failed")
    assert_security_headers(invalid)

    assert_security_headers(await client.get("/metrics"))
    assert_security_headers(await client.get("/schema/openapi.json"))


async def test_hsts_only_over_https(app: Litestar) -> None:
    transport = ASGITransport(app=app)  # type: ignore[arg-type]
    async with AsyncClient(transport=transport, base_url="https://testserver.local") as client:
        assert_security_headers(await client.get("/health/live"), https=True)
        assert_security_headers(await client.get("/api/v1/no-such-route"), https=True)
