"""The last layer before Litestar: requests it cannot represent, and failures it cannot answer.

Litestar builds each request's URL from its ``Host`` header, and a port that is not a
number (``Host: a:b``) or is over 65535 raises while it does: in the metrics middleware,
then again in the error handler that tries to answer. The exception escaped to uvicorn,
which answered a bare ``500 text/plain`` without a request id or security headers. RFC 9112
(section 3.2) asks for a 400 on a missing (HTTP/1.1), repeated or invalid ``Host``; this
guard answers it before any of Litestar runs. Whatever else escapes Litestar before an
answer began is answered here as a 500 problem. The middlewares around this one add the
request id and the security headers to both, as to every answer.
"""

from __future__ import annotations

import ipaddress
import re

import structlog
from litestar.types import HTTPResponseStartEvent, HTTPScope, Message, Receive, Scope, Send

from app.interfaces.errors import new_error_id
from app.interfaces.http.asgi import HttpMiddleware
from app.interfaces.http.problems import problem_document

log = structlog.get_logger("app.errors")

#: RFC 3986 ``host [":" port]``: an IP literal in brackets, or a registered name (which covers IPv4).
_HOST = re.compile(
    r"(?:\[(?P<ip_literal>[0-9A-Fa-f:.]+)\]|(?:[A-Za-z0-9\-._~!$&'()*+,;=]|%[0-9A-Fa-f]{2})*)(?::(?P<port>[0-9]{0,5}))?"
)
_MAX_PORT = 65535
PROBLEM_JSON = b"application/problem+json"


def host_header_error(scope: Scope) -> str | None:
    """Why the request's ``Host`` is unusable, or None when it is fine."""
    hosts = [value for name, value in scope["headers"] if name == b"host"]
    if len(hosts) > 1:
        return "The request has more than one Host header"
    if not hosts:
        return "An HTTP/1.1 request needs a Host header" if scope.get("http_version") == "1.1" else None
    match = _HOST.fullmatch(hosts[0].decode("latin-1"))
    if match is None or (match["port"] and int(match["port"]) > _MAX_PORT) or not _is_ipv6(match["ip_literal"]):
        return "The Host header is not a host name or address with an optional port (0-65535)"
    return None


def _is_ipv6(literal: str | None) -> bool:
    if literal is None:
        return True
    try:
        ipaddress.IPv6Address(literal)
    except ValueError:
        return False
    return True


class RequestGuard(HttpMiddleware):
    async def handle(self, scope: HTTPScope, receive: Receive, send: Send) -> None:
        bad_host = host_header_error(scope)
        if bad_host is not None:
            await _answer(send, scope, 400, bad_host)
            return
        answering = False

        async def watched_send(message: Message) -> None:
            nonlocal answering
            answering = answering or message["type"] == "http.response.start"
            await send(message)

        try:
            await self._app(scope, receive, watched_send)
        except Exception as exc:
            if answering:  # too late for another answer: uvicorn closes the connection
                raise
            await _answer(send, scope, 500, "An unexpected error occurred", cause=exc)


async def _answer(send: Send, scope: Scope, status: int, detail: str, *, cause: Exception | None = None) -> None:
    error_id = new_error_id()
    if cause is None:
        log.info("request_rejected", detail=detail, error_id=error_id, status=status)
    else:
        log.error("request_failed", detail=detail, error_id=error_id, status=status, exc_info=cause)
    body = problem_document(status, detail, instance=scope["path"], error_id=error_id)
    headers: list[tuple[bytes, bytes]] = [
        (b"content-type", PROBLEM_JSON),
        (b"content-length", str(len(body)).encode()),
        (b"x-error-id", error_id.encode()),
    ]
    start: HTTPResponseStartEvent = {"type": "http.response.start", "status": status, "headers": headers}
    await send(start)
    await send({"type": "http.response.body", "body": body, "more_body": False})
