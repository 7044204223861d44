"""In-process cost of the authenticated read path: ``GET /api/v1/users/me`` with a Bearer token or an API key.

``just bench-me`` calls the ASGI application directly, with no server and no network,
thousands of times, and prints the median and p90 time per request: the application's own
cost, steady enough on a busy machine to compare two versions of the code. With
``--profile`` it also prints a pyinstrument profile of those requests; with ``--api-key``
the requests carry an ``X-API-Key`` instead of the Bearer token. Settings are the load
test's (production, JSON access log, Redis authentication cache); the access log goes to
/dev/null during the measurement.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import statistics
import time
from collections.abc import Iterator
from typing import Any

from litestar import Litestar
from pyinstrument import Profiler

from app.application.auth.dto import ClientInfo
from app.bootstrap import build_container
from app.infrastructure.config import load_settings
from app.interfaces.http.app import create_app
from bench import backing

USER = ("bench-me@example.com", "bench me password")


async def measure(database_url: str, redis_url: str, requests: int, profile: bool, api_key: bool) -> list[float]:
    """Seconds per request, for ``requests`` requests after a warm-up."""
    settings = load_settings(
        {
            "APP_ENV": "prod",
            "SECRET_KEY": secrets.token_urlsafe(48),
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "LOG_FORMAT": "json",
            "LOG_LEVEL": "INFO",
        },
        env_file=None,
    )
    container = build_container(settings)
    app = create_app(settings, container)
    try:
        await container.users.create_admin(*USER)
        tokens = await container.auth.issue_tokens(*USER, ClientInfo())
        credential = (b"authorization", f"Bearer {tokens.access_token}".encode())
        if api_key:
            principal = await container.auth_queries.authenticate(tokens.access_token)
            created = await container.api_keys.create(principal, "bench-me", expires_at=None)
            credential = (b"x-api-key", created.key.encode())
        call = _request(app, credential)
        with _quiet_stderr():
            for _ in range(max(200, requests // 10)):
                await call()
            profiler = Profiler(async_mode="disabled") if profile else None
            timings = []
            if profiler:
                profiler.start()
            for _ in range(requests):
                started = time.perf_counter()
                await call()
                timings.append(time.perf_counter() - started)
            if profiler:
                profiler.stop()
        if profiler:
            print(profiler.output_text(unicode=True, color=False, show_all=False))
        return timings
    finally:
        await container.close()


def _request(app: Litestar, credential: tuple[bytes, bytes]) -> Any:
    """One ``GET /api/v1/users/me`` through the ASGI interface, as uvicorn makes it; raises unless 200."""
    headers = [(b"host", b"bench"), credential, (b"accept", b"*/*")]

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def call() -> None:
        status = 0

        async def send(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]

        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": "/api/v1/users/me",
            "raw_path": b"/api/v1/users/me",
            "query_string": b"",
            "root_path": "",
            "headers": headers,
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 8000),
            "state": {},
        }
        await app(scope, receive, send)  # type: ignore[arg-type]
        if status != 200:
            raise RuntimeError(f"GET /api/v1/users/me answered {status}")

    return call


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """The access log's lines go to /dev/null: written, as in production, but not shown."""
    saved = os.dup(2)
    with open(os.devnull, "w") as devnull:
        os.dup2(devnull.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3, help="medians of each round are printed")
    parser.add_argument("--profile", action="store_true", help="print a pyinstrument profile of the last round")
    parser.add_argument("--api-key", action="store_true", help="authenticate with an X-API-Key, not a Bearer token")
    args = parser.parse_args()
    with backing.backing_servers() as (postgres_url, redis_url), backing.fresh_database(postgres_url) as database_url:
        for number in range(1, args.rounds + 1):
            profile = args.profile and number == args.rounds
            timings = asyncio.run(measure(database_url, redis_url, args.requests, profile, args.api_key))
            p90 = statistics.quantiles(timings, n=10)[-1]
            print(
                f"round {number}: median {statistics.median(timings) * 1e6:.0f} µs, p90 {p90 * 1e6:.0f} µs "
                f"over {len(timings)} requests"
            )


if __name__ == "__main__":
    main()
