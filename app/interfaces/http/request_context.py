"""Request id and access log around the whole application, routing errors included.

Litestar's own middleware runs only once a route matched; this wraps the application's
ASGI handler instead, so that a 404 for an unknown route carries ``X-Request-ID`` and is
logged like any other request.
"""

from __future__ import annotations

import time

import structlog
from litestar.types import HTTPScope, Message, Receive, Scope, Send

from app.interfaces.http.asgi import HttpMiddleware
from app.interfaces.request_id import REQUEST_ID_KEY, request_id

log = structlog.get_logger("app.access")

_HEADER = REQUEST_ID_KEY.encode()
USER_ID_STATE_KEY = "user_id"


class RequestContextMiddleware(HttpMiddleware):
    async def handle(self, scope: HTTPScope, receive: Receive, send: Send) -> None:
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
    sent = next((value.decode("latin-1") for name, value in scope["headers"] if name == _HEADER), None)
    return request_id(sent)
