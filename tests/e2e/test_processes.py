"""The service as operators start it: real server processes over real sockets.

These start the justfile's own recipes, so a broken recipe fails here, not in production.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import grpc
import grpc.aio
import httpx
import pytest
from grpc_health.v1 import health_pb2
from prometheus_client.parser import text_string_to_metric_families

from app.interfaces.grpc.v1 import auth_pb2, auth_pb2_grpc, users_pb2, users_pb2_grpc
from tests.e2e.grpc_helpers import bearer_metadata, health_check
from tests.e2e.helpers import PASSWORD, assert_problem, bearer
from tests.support.processes import STARTUP_TIMEOUT_SECONDS, free_port, running, server_env, started

REQUEST_ID = ("x-request-id", "process-test-request")


async def sign_up_and_in(client: httpx.AsyncClient, email: str) -> dict[str, str]:
    signed_up = await client.post("/api/v1/auth/sign-up", json={"email": email, "password": PASSWORD})
    assert signed_up.status_code == 201, signed_up.text
    tokens = await client.post("/api/v1/auth/tokens", json={"email": email, "password": PASSWORD})
    assert tokens.status_code == 200, tokens.text
    pair: dict[str, str] = tokens.json()
    return pair


async def test_production_server_serves_a_whole_session(database_url: str, tmp_path: Path) -> None:
    """``just serve`` with two workers: sign up, sign in, refresh, read, log out over TCP.

    With two worker processes, consecutive requests land on different workers, so this
    also shows that tokens and revocation hold across processes.
    """
    env = {**server_env(database_url), "WORKERS": "2", "LOG_FORMAT": "json", "LOG_LEVEL": "INFO"}
    async with running("serve", env, tmp_path) as client:
        tokens = await sign_up_and_in(client, "smoke@example.com")
        assert await healthcheck({"PORT": str(client.base_url.port)}) == (0, "api: healthy")
        user_id = (await client.get("/api/v1/users/me", headers=bearer(tokens))).json()["id"]

        refreshed = await client.post("/api/v1/auth/tokens/refresh", json={"refresh_token": tokens["refresh_token"]})
        assert refreshed.status_code == 200, refreshed.text
        access = refreshed.json()["access_token"]

        for _ in range(4):
            me = await client.get("/api/v1/users/me", headers=bearer(access))
            assert me.status_code == 200
            assert me.json()["email"] == "smoke@example.com"
            assert me.headers["x-request-id"]

        assert (await client.post("/api/v1/auth/logout", headers=bearer(access))).status_code == 204
        for _ in range(4):
            assert_problem(await client.get("/api/v1/users/me", headers=bearer(access)), 401, "unauthorized")
        ready = await client.get("/health/ready")
        assert ready.json() == {"status": "ok", "checks": {"database": "ok"}}

        # Metrics add up over both workers (multiprocess mode), whichever one answers
        # (new connections; the second worker may still be starting on the first tries).
        me_ok = {"method": "GET", "path": "/api/v1/users/me", "status_code": "200"}
        for attempt in range(50):
            scraped = await client.get("/metrics", headers={"Connection": "close"})
            samples = [s for family in text_string_to_metric_families(scraped.text) for s in family.samples]
            served = [s for s in samples if s.name == "app_http_requests_total" and me_ok.items() <= s.labels.items()]
            assert [s.value for s in served] == [5.0]
            workers = [s.value for s in samples if s.name == "app_http_workers"]
            if workers == [2.0] or attempt == 49:
                assert workers == [2.0]
                pids = {s.labels["pid"] for s in samples if s.name == "process_resident_memory_bytes"}
                assert len(pids) == 2
                # Forked from the supervisor, which imported the app (app/interfaces/http/serve.py):
                # a worker's command line is the supervisor's, not multiprocessing's spawn_main.
                for pid in pids:
                    command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
                    assert b"app.interfaces.http.serve" in command, command
                break
            await asyncio.sleep(0.2)

    log = (tmp_path / "serve.log").read_text()
    assert PASSWORD not in log
    assert "password_hash" not in log
    assert_request_logged(log, route="/api/v1/users/me", status=200, user_id=user_id)
    assert_request_logged(log, route="/api/v1/users/me", status=401, user_id=None)


def assert_request_logged(log: str, *, route: str, status: int, user_id: str | None) -> None:
    """The access log is JSON lines with request id, route template, status, duration and user."""
    events = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    matching = [e for e in events if e.get("event") == "request" and e["route"] == route and e["status"] == status]
    assert matching, f"no request log for {route} {status}"
    event = matching[0]
    assert event["user_id"] == user_id
    assert event["request_id"]
    assert event["duration_ms"] >= 0
    assert event["method"] == "GET"


async def test_dev_server_runs_on_embedded_sqlite(tmp_path: Path) -> None:
    """``just dev`` migrates an empty SQLite file and serves on it: no servers needed."""
    database = tmp_path / "embedded.db"
    async with running("dev", server_env(f"sqlite+aiosqlite:///{database}"), tmp_path) as client:
        tokens = await sign_up_and_in(client, "embedded@example.com")
        me = await client.get("/api/v1/users/me", headers=bearer(tokens))
        assert me.json()["email"] == "embedded@example.com"
        duplicate = await client.post(
            "/api/v1/auth/sign-up", json={"email": "EMBEDDED@example.com", "password": PASSWORD}
        )
        assert_problem(duplicate, 409, "conflict")
    assert database.is_file()


async def run_just(*args: str, env: dict[str, str], stdin: str = "") -> tuple[int, str]:
    """Run a recipe with ``stdin`` as its standard input (a pipe: not a terminal)."""
    process = await asyncio.create_subprocess_exec(
        "just",
        *args,
        env={**os.environ, **env},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(stdin.encode()), timeout=120)
    assert process.returncode is not None
    return process.returncode, output.decode()


async def test_create_admin_creates_then_promotes(database_url: str, client: httpx.AsyncClient) -> None:
    """``just create-admin EMAIL`` makes the first admin, and promotes an existing user in place.

    The password is read from standard input (one line), never from the command line.
    """
    env = server_env(database_url)

    password = "an admin password with a trailing space "
    code, output = await run_just("create-admin", "root@example.com", env=env, stdin=f"{password}\n")
    assert code == 0, output
    assert "Created admin root@example.com" in output
    assert password.strip() not in output
    admin = await client.post("/api/v1/auth/tokens", json={"email": "root@example.com", "password": password})
    assert (await client.get("/api/v1/users/me", headers=bearer(admin.json()))).json()["role"] == "admin"

    tokens = await sign_up_and_in(client, "ada@example.com")
    code, output = await run_just("create-admin", "ADA@example.com", env=env, stdin="ignored password\n")
    assert code == 0, output
    assert "Promoted existing user" in output
    assert (await client.get("/api/v1/users/me", headers=bearer(tokens))).json()["role"] == "admin"
    assert (
        await client.post("/api/v1/auth/tokens", json={"email": "ada@example.com", "password": PASSWORD})
    ).is_success

    code, output = await run_just("create-admin", "not-an-email", env=env, stdin="short\n")
    assert code != 0
    assert "email" in output
    assert "password" in output


async def test_create_admin_takes_no_password_from_the_command_line(database_url: str) -> None:
    env = server_env(database_url)

    code, output = await run_just("create-admin", "root@example.com", "a password on argv", env=env)
    assert code != 0
    assert "Created admin" not in output

    code, output = await run_just("create-admin", "root@example.com", env=env, stdin="")
    assert code != 0
    assert "password: expected on standard input" in output
    assert "Traceback" not in output


async def test_demo_fills_the_embedded_database_and_can_run_again(tmp_path: Path) -> None:
    """``just demo`` on the embedded default: an admin, users who can sign in and an organization
    with tasks, twice without harm."""
    database = tmp_path / "demo.db"
    env = server_env(f"sqlite+aiosqlite:///{database}")

    code, first = await run_just("demo", env=env)
    assert code == 0, first
    code, again = await run_just("demo", env=env)
    assert code == 0, again

    assert "Added admin admin@example.com" in first
    assert "Kept admin admin@example.com" in again
    assert "Added organization analytical-engines" in first
    assert "Kept organization analytical-engines" in again
    assert first.count("Added member ") == again.count("Kept member ") == 2
    assert first.count("Added user ") == again.count("Kept user ") >= 2
    assert "Added" not in again
    assert "/schema" in first
    assert "demo-password" in first
    with sqlite3.connect(database) as connection:
        roles = dict(connection.execute("SELECT email, role FROM users").fetchall())
    assert roles.pop("admin@example.com") == "admin"
    assert len(roles) == first.count("Added user ")
    assert set(roles.values()) == {"user"}
    with sqlite3.connect(database) as connection:
        members = connection.execute(
            "SELECT u.email, m.role FROM memberships m JOIN users u ON u.id = m.user_id ORDER BY u.email"
        ).fetchall()
    assert members == [("ada@example.com", "owner"), ("alan@example.com", "member"), ("grace@example.com", "admin")]
    assert first.count("Added task ") == 3
    assert "Kept the tasks of analytical-engines" in again
    with sqlite3.connect(database) as connection:
        assigned = connection.execute(
            "SELECT u.email FROM tasks t JOIN users u ON u.id = t.assignee_id ORDER BY u.email"
        ).fetchall()
    assert assigned == [("ada@example.com",), ("alan@example.com",), ("grace@example.com",)]
    async with running("dev", env, tmp_path) as client:
        for email in ["admin@example.com", *roles]:
            signed_in = await client.post("/api/v1/auth/tokens", json={"email": email, "password": "demo-password"})
            assert signed_in.status_code == 200, email


async def test_demo_refuses_production(database_url: str) -> None:
    env = server_env(database_url, APP_ENV="prod")

    code, output = await run_just("demo", env=env)
    assert code != 0
    assert "refused with APP_ENV=prod" in output
    assert "Added" not in output


async def healthcheck(ports: dict[str, str]) -> tuple[int, str]:
    """``python -m app.interfaces.healthcheck`` with these ports (the others closed): its status and its line."""
    closed = {name: str(free_port()) for name in ("PORT", "GRPC_PORT", "JOB_METRICS_PORT")}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "app.interfaces.healthcheck",
        env={**os.environ, **closed, **ports},
        stdout=subprocess.PIPE,
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=30)
    assert process.returncode is not None
    return process.returncode, output.decode().strip()


async def test_the_image_healthcheck_fails_where_no_server_listens() -> None:
    assert await healthcheck({}) == (1, "no server listens here")


async def _wait_until_serving(channel: grpc.aio.Channel, process: asyncio.subprocess.Process, log_path: Path) -> None:
    check = health_check(channel)
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.returncode is not None:
            pytest.fail(f"server exited with {process.returncode}:\n{log_path.read_text()[-4000:]}")
        try:
            response = await check(health_pb2.HealthCheckRequest(), timeout=5)
            if response.status == health_pb2.HealthCheckResponse.SERVING:
                return
        except grpc.aio.AioRpcError:
            pass
        await asyncio.sleep(0.2)
    pytest.fail(f"server did not start in time:\n{log_path.read_text()[-4000:]}")


async def test_grpc_server_serves_and_stops_gracefully(database_url: str, tmp_path: Path) -> None:
    """``just grpc``: a session over TCP, then SIGTERM while a sign-in is running.

    The running call still gets its answer, new calls are refused, and the process exits
    cleanly. Hashing is made slow so that the sign-in is surely in flight when the signal
    arrives (it takes seconds; the signal comes half a second after the call).
    """
    port = free_port()
    env = {
        **os.environ,
        **server_env(database_url),
        "LOG_FORMAT": "json",
        "LOG_LEVEL": "INFO",
        "HOST": "127.0.0.1",
        "GRPC_PORT": str(port),
        "PASSWORD_HASH_TIME_COST": "12",
        "PASSWORD_HASH_MEMORY_KIB": "131072",
        "GRPC_SHUTDOWN_GRACE_SECONDS": "60",
    }
    log_path = tmp_path / "grpc.log"
    target = f"127.0.0.1:{port}"
    async with started("grpc", env, log_path) as process, grpc.aio.insecure_channel(target) as channel:
        await _wait_until_serving(channel, process, log_path)
        auth, users = auth_pb2_grpc.AuthServiceStub(channel), users_pb2_grpc.UserServiceStub(channel)
        credentials = {"email": "grpc-process@example.com", "password": PASSWORD}
        user = await auth.SignUp(auth_pb2.SignUp(**credentials))
        tokens = await auth.IssueTokens(auth_pb2.IssueTokens(**credentials))
        me = await users.GetMe(users_pb2.GetMe(), metadata=(*bearer_metadata(tokens.access_token), REQUEST_ID))
        assert me.id == user.id
        # The image's HEALTHCHECK under a plain `docker run IMAGE python -m app.interfaces.grpc`.
        assert await healthcheck({"GRPC_PORT": str(port)}) == (0, "grpc: healthy")

        in_flight = asyncio.ensure_future(auth.IssueTokens(auth_pb2.IssueTokens(**credentials)))
        await asyncio.sleep(0.5)
        os.killpg(process.pid, signal.SIGTERM)

        async def refused() -> bool:
            async with grpc.aio.insecure_channel(target) as fresh:
                try:
                    await health_check(fresh)(health_pb2.HealthCheckRequest(), timeout=5)
                except grpc.aio.AioRpcError as exc:
                    return exc.code() == grpc.StatusCode.UNAVAILABLE
            return False

        deadline = time.monotonic() + 30
        while not await refused():
            assert time.monotonic() < deadline, "new calls are still served after SIGTERM"
            await asyncio.sleep(0.05)
        answered = await asyncio.wait_for(in_flight, timeout=60)
        assert answered.session_id
        # just reports the SIGTERM it got (143) whatever the server did; the server's log says how it ended.
        await asyncio.wait_for(process.wait(), timeout=30)

    events = [json.loads(line) for line in log_path.read_text().splitlines() if line.startswith("{")]
    [logged] = [e for e in events if e.get("event") == "rpc" and e.get("request_id") == REQUEST_ID[1]]
    assert logged["method"] == "/app.v1.UserService/GetMe"
    assert (logged["code"], logged["user_id"]) == ("OK", user.id)
    assert logged["duration_ms"] >= 0
    signed_in = [e for e in events if e.get("event") == "rpc" and e["method"] == "/app.v1.AuthService/IssueTokens"]
    assert [e["code"] for e in signed_in] == ["OK", "OK"]
    assert {e["user_id"] for e in signed_in} == {None}
    assert [e["event"] for e in events if e["event"].startswith("grpc_")] == [
        "grpc_serving",
        "grpc_stopping",
        "grpc_stopped",
    ]
    assert PASSWORD not in log_path.read_text()
