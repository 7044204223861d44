"""The interactive API docs, served whole by this service: they work with no internet access.

Swagger UI (``/schema`` and ``/schema/swagger``, with "Authorize" for trying calls) and
ReDoc (``/schema/redoc``, for reading) are pages of our own markup over the two projects'
browser bundles, which are committed under ``docs_assets/`` at the versions pinned in
:data:`BUNDLES` (``just docs-ui`` fetches them through npm, checks the package's
integrity hash and writes ``MANIFEST.json``; a test checks every file against it). They are
served from ``/schema/assets/<package>-<version>/…``, cached for a day (a new version is a
new path; our own ``swagger-init.js`` has none, hence not longer).

Nothing on these pages comes from elsewhere and no script is inline, so their policy
(:data:`DOCS_UI_CSP`) allows scripts from this origin only. Styles may be inline: both
projects set style attributes and inject style elements at run time. Litestar's own
render plugins load their bundles and a favicon from CDNs, with inline scripts, and
Scalar's bundle (5 MB) also fetches fonts from its vendor, which is why neither is used.

``SHOW_API_DOCS=false`` removes the pages and their assets; ``/schema/openapi.json`` and
``.yaml`` stay, as clients are generated from them.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from litestar import Request
from litestar.datastructures import CacheControlHeader
from litestar.exceptions import NotFoundException
from litestar.openapi.plugins import JsonRenderPlugin, OpenAPIRenderPlugin, YamlRenderPlugin
from litestar.router import Router
from litestar.static_files import create_static_files_router

ASSETS_DIR = Path(__file__).parent / "docs_assets"
ASSETS_ROUTE = "docs_ui_assets"

#: script, styles and images from this origin only; no framing, no <base>, no form posts.
DOCS_UI_CSP = (
    b"default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    b"font-src 'self' data:; connect-src 'self'; worker-src blob:; "
    b"frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)


@dataclass(frozen=True, slots=True)
class Bundle:
    """An npm package whose files are committed under ``docs_assets/<package>-<version>/``."""

    package: str
    version: str
    #: npm's ``dist.integrity`` of the package tarball: what ``just docs-ui`` accepts.
    integrity: str
    #: Paths inside the package; each is written under the bundle's folder by its file name.
    files: tuple[str, ...]

    @property
    def folder(self) -> str:
        return f"{self.package}-{self.version}"


SWAGGER_UI = Bundle(
    package="swagger-ui-dist",
    version="5.35.0",
    integrity="sha512-U06rpMtW9V3XPGOBeamTUSr0Z09jMX4IJuANpE/EZbAhw0G8CgwrzU4YmXkn/h0wCDNsXdGarTNNHC3sU8yVUQ==",
    files=("swagger-ui-bundle.js", "swagger-ui.css", "swagger-ui-bundle.js.LICENSE.txt", "LICENSE", "NOTICE"),
)
REDOC = Bundle(
    package="redoc",
    version="2.5.2",
    integrity="sha512-sTJfItvRkcDTojB6wdLN4M+Ua6mlZwElV21Tf8Mn7IbQF/1Os6GvgQpZyLWPGZZHbhy7GC1Or1hTMHfz1vKh5A==",
    files=("bundles/redoc.standalone.js", "bundles/redoc.standalone.js.LICENSE.txt", "LICENSE"),
)
BUNDLES = (SWAGGER_UI, REDOC)
#: Our own script that starts Swagger UI (kept out of the page, which may run no inline script).
SWAGGER_INIT = "swagger-init.js"


def assets_router(docs_path: str) -> Router:
    """``{docs_path}/assets/…``: the bundles and our script, cached for a day."""
    return create_static_files_router(
        path=f"{docs_path.rstrip('/')}/assets",
        directories=[ASSETS_DIR],
        name=ASSETS_ROUTE,
        cache_control=CacheControlHeader(max_age=86_400, public=True),
        include_in_schema=False,
    )


def render_plugins(*, show_docs: bool) -> list[OpenAPIRenderPlugin]:
    """The document in both formats, and the UI pages unless switched off."""
    documents: list[OpenAPIRenderPlugin] = [JsonRenderPlugin(), YamlRenderPlugin()]
    if not show_docs:
        # Litestar serves some plugin at the root; without this one it would be the JSON document.
        return [SwitchedOff(path="/"), *documents]
    # Swagger UI first: Litestar serves the first plugin at the root (/schema) as well.
    return [SwaggerPage(path=["/", "/swagger"]), RedocPage(path="/redoc"), *documents]


class _DocsPage(OpenAPIRenderPlugin):
    """An HTML page of our own markup whose scripts and styles are this service's assets."""

    styles: Sequence[str] = ()
    scripts: Sequence[str] = ()

    def body(self, spec_url: str) -> str:
        raise NotImplementedError

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        def asset(file: str) -> str:
            return html.escape(request.app.route_reverse(ASSETS_ROUTE, file_path=f"/{file}"))

        links = "".join(f'<link rel="stylesheet" href="{asset(file)}">' for file in self.styles)
        scripts = "".join(f'<script src="{asset(file)}"></script>' for file in self.scripts)
        title = html.escape(str(openapi_schema["info"]["title"]))
        spec_url = html.escape(self.get_openapi_json_route(request))
        return (
            '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            # An empty icon: the browser would otherwise ask for /favicon.ico, which is not ours to serve.
            f'<link rel="icon" href="data:,"><title>{title}</title>{links}</head>'
            f"<body>{self.body(spec_url)}{scripts}</body></html>"
        ).encode()


class SwitchedOff(OpenAPIRenderPlugin):
    """The root of the docs when ``SHOW_API_DOCS=false``: 404, like the other pages."""

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        raise NotFoundException("The API docs are switched off (SHOW_API_DOCS=false)")


class SwaggerPage(_DocsPage):
    styles = (f"{SWAGGER_UI.folder}/swagger-ui.css",)
    scripts = (f"{SWAGGER_UI.folder}/swagger-ui-bundle.js", SWAGGER_INIT)

    def body(self, spec_url: str) -> str:
        return f'<div id="swagger-ui" data-spec-url="{spec_url}"></div>'


class RedocPage(_DocsPage):
    scripts = (f"{REDOC.folder}/redoc.standalone.js",)

    def body(self, spec_url: str) -> str:
        # The standalone bundle starts itself on this element.
        return f'<redoc spec-url="{spec_url}"></redoc>'
