"""Security headers on every HTTP response, errors and unknown routes included.

Like the request context, this wraps the application's ASGI handler rather than being
Litestar middleware, which would only run once a route matched.

- Every response: ``X-Content-Type-Options: nosniff``, ``X-Frame-Options: DENY``,
  ``Referrer-Policy: no-referrer``, ``Cross-Origin-Opener-Policy: same-origin``,
  ``Cross-Origin-Resource-Policy: same-origin``.
- ``Content-Security-Policy: default-src 'none'; frame-ancestors 'none'`` on the API:
  JSON needs no sources at all, and nothing may frame it.
- The interactive API docs (``/schema`` and its pages, not the documents
  ``/schema/openapi.json`` / ``.yaml``): ``docs_ui.DOCS_UI_CSP``, scripts from this
  origin only (the pages and their assets are all served here, see ``docs_ui``).
- ``Strict-Transport-Security`` only on requests that came over https (the ASGI scope's
  scheme, which behind a proxy in ``FORWARDED_ALLOW_IPS`` is its ``X-Forwarded-Proto``): browsers
  ignore it over http, and sending it from a plain-http development server is useless.

The header lists are built once; per response this costs one list concatenation.
A response that sets one of these headers itself still gets ours appended.
"""

from __future__ import annotations

from litestar.types import ASGIApp, HTTPScope, Message, Receive, Send

from app.interfaces.http.asgi import HttpMiddleware
from app.interfaces.http.docs_ui import DOCS_UI_CSP

Headers = list[tuple[bytes, bytes]]

API_CSP = b"default-src 'none'; frame-ancestors 'none'"
HSTS = b"max-age=31536000; includeSubDomains"

_COMMON: Headers = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
]
_HSTS = (b"strict-transport-security", HSTS)
_API: Headers = [*_COMMON, (b"content-security-policy", API_CSP)]
_DOCS_UI: Headers = [*_COMMON, (b"content-security-policy", DOCS_UI_CSP)]
_SCHEMA_DOCUMENTS = (".json", ".yaml", ".yml")


def api_security_headers(*, https: bool) -> Headers:
    """The headers of an API answer; also written by the HTTP connection on the errors it answers itself."""
    return [*_API, _HSTS] if https else _API


class SecurityHeadersMiddleware(HttpMiddleware):
    def __init__(self, app: ASGIApp, *, docs_path: str = "/schema") -> None:
        super().__init__(app)
        self._docs_path = docs_path.rstrip("/")
        self._docs_prefix = self._docs_path + "/"
        # Indexed by (is the docs UI, came over https).
        self._headers: dict[tuple[bool, bool], Headers] = {
            (False, False): api_security_headers(https=False),
            (False, True): api_security_headers(https=True),
            (True, False): _DOCS_UI,
            (True, True): [*_DOCS_UI, _HSTS],
        }

    async def handle(self, scope: HTTPScope, receive: Receive, send: Send) -> None:
        extra = self._headers[self._is_docs_ui(scope["path"]), scope.get("scheme") == "https"]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), *extra]
            await send(message)

        await self._app(scope, receive, send_with_headers)

    def _is_docs_ui(self, path: str) -> bool:
        if path == self._docs_path:
            return True
        return path.startswith(self._docs_prefix) and not path.endswith(_SCHEMA_DOCUMENTS)
