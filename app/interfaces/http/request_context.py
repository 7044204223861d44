"""Request id and access log around the whole application, routing errors included.

Litestar's own middleware runs only once a route matched; this wraps the application's
ASGI handler instead, so that a 404 for an unknown route carries ``X-Request-ID`` and is
logged like any other request.
"""

from __future__ import annotations

import re
import time

import structlog
import uuid_utils.compat as uuid_utils
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

log = structlog.get_logger("app.access")

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
_HEADER = b"x-request-id"
USER_ID_STATE_KEY = "user_id"


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self._app(scope, receive, send)
            return
        request_id = _request_id(scope)
        encoded_id = request_id.encode()
        status = 500
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), (_HEADER, encoded_id)]
            await send(message)

        with structlog.contextvars.bound_contextvars(request_id=request_id):
            try:
                await self._app(scope, receive, send_with_id)
            finally:
                log.info(
                    "request",
                    method=scope["method"],
                    path=scope["path"],
                    route=scope.get("path_template"),
                    status=status,
                    duration_ms=round((time.perf_counter() - started) * 1000, 2),
                    user_id=scope.get("state", {}).get(USER_ID_STATE_KEY),
                )


def _request_id(scope: Scope) -> str:
    """The client's id when it is a sane token (it ends up in logs and headers), else a new one."""
    for name, value in scope["headers"]:
        if name == _HEADER:
            candidate = value.decode("latin-1")
            if _REQUEST_ID.match(candidate):
                return candidate
            break
    return uuid_utils.uuid4().hex
