"""The last-resort guard: whatever escapes the application before it answered is a 500 problem.

A real escape is a bug, so there is no route that makes one on purpose: these tests put a
failing ASGI application inside the same layers ``create_app`` puts Litestar in.
"""

from __future__ import annotations

import pytest
from httpx import ASGITransport, AsyncClient
from litestar.types import Receive, Scope, Send

from app.interfaces.http.guard import RequestGuard, host_header_error
from app.interfaces.http.request_context import RequestContextMiddleware
from app.interfaces.http.security_headers import SecurityHeadersMiddleware


async def fails_before_answering(scope: Scope, receive: Receive, send: Send) -> None:
    raise ValueError("Port could not be cast to integer value")


async def fails_while_answering(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    raise ValueError("half an answer")


def client_of(app: object) -> AsyncClient:
    layered = RequestContextMiddleware(SecurityHeadersMiddleware(RequestGuard(app)))  # type: ignore[arg-type]
    return AsyncClient(transport=ASGITransport(app=layered), base_url="http://testserver.local")  # type: ignore[arg-type]


async def test_an_exception_before_the_answer_is_a_500_problem_with_every_header() -> None:
    async with client_of(fails_before_answering) as client:
        response = await client.get("/api/v1/anything", headers={"X-Request-ID": "req-1"})

    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body == {
        "type": "about:blank",
        "title": "Internal Server Error",
        "status": 500,
        "detail": "An unexpected error occurred",
        "instance": "/api/v1/anything",
        "code": "internal_error",
        "error_id": response.headers["x-error-id"],
    }
    assert "Port" not in response.text
    assert response.headers["x-request-id"] == "req-1"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"


async def test_an_exception_after_the_answer_began_is_left_to_the_server() -> None:
    """A second answer cannot follow the first's head: the server closes the connection instead."""
    async with client_of(fails_while_answering) as client:
        with pytest.raises(ValueError, match="half an answer"):
            await client.get("/")


@pytest.mark.parametrize(
    ("version", "hosts", "error"),
    [
        ("1.1", [b"a:b"], True),
        ("1.1", [b"a:65536"], True),
        ("1.1", [b"a:" + b"9" * 5000], True),
        ("1.1", [b"[::1"], True),
        ("1.1", [b"[1.2.3.4]"], True),
        ("1.1", [b"a", b"a"], True),
        ("1.1", [], True),
        ("1.0", [], False),
        ("1.1", [b""], False),
        ("1.1", [b"a:"], False),
        ("1.1", [b"a:65535"], False),
        ("1.1", [b"[2001:db8::1]:443"], False),
        ("1.1", [b"%61.example"], False),
    ],
)
def test_host_header_rules(version: str, hosts: list[bytes], error: bool) -> None:
    scope = {"type": "http", "http_version": version, "headers": [(b"host", host) for host in hosts]}

    assert (host_header_error(scope) is not None) == error  # type: ignore[arg-type]
