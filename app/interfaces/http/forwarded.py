"""Behind a trusted proxy, a request's client and scheme are those the proxy reports.

Installed by ``create_app`` only when ``FORWARDED_ALLOW_IPS`` names a proxy, outermost, so
that everything after it (the rate limit, sessions, the HSTS header) sees the real client.
uvicorn's own proxy-header handling is turned off wherever it is started
(``--no-proxy-headers``): it trusts 127.0.0.1 unless told otherwise, and would let any
local client pick its own address.
"""

from __future__ import annotations

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Receive, Scope, Send

from app.infrastructure.setting_values import TrustedProxies
from app.interfaces.client_address import FORWARDED_FOR, client_host

_FORWARDED_FOR = FORWARDED_FOR.encode()
_FORWARDED_PROTO = b"x-forwarded-proto"
_SCHEMES = {"http", "https"}


class ForwardedClientMiddleware:
    def __init__(self, app: ASGIApp, trusted: TrustedProxies) -> None:
        self._app = app
        self._trusted = trusted

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        client = scope.get("client")
        if scope["type"] == ScopeType.HTTP and client and client[0] in self._trusted:
            headers = scope["headers"]
            forwarded = [value.decode("latin-1") for name, value in headers if name == _FORWARDED_FOR]
            if forwarded:
                scope["client"] = (client_host(client[0], forwarded, self._trusted), 0)
            protos = [value.decode("latin-1") for name, value in headers if name == _FORWARDED_PROTO]
            # The entry the nearest proxy added: the scheme the request reached it with.
            proto = protos[-1].rpartition(",")[2].strip().lower() if protos else None
            if proto in _SCHEMES:
                scope["scheme"] = proto
        await self._app(scope, receive, send)
