"""The base of the raw ASGI layers that wrap the whole application, outside Litestar's routing."""

from __future__ import annotations

from litestar.enums import ScopeType
from litestar.types import ASGIApp, HTTPScope, Receive, Scope, Send


class HttpMiddleware:
    """Wraps HTTP requests only: lifespan and websocket scopes pass straight through.

    Plain ASGI rather than Litestar's ``ASGIMiddleware``: these layers see every request,
    including ones Litestar cannot route or even parse, and cost one comparison here.
    """

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self._app(scope, receive, send)
            return
        await self.handle(scope, receive, send)

    async def handle(self, scope: HTTPScope, receive: Receive, send: Send) -> None:
        """One HTTP request; ``self._app`` is the application inside."""
        raise NotImplementedError
