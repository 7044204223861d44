"""The API docs UI works with no internet access: every page and asset comes from the service.

Each page's HTML may reference only this origin (or ``data:``), each reference must be
served, and the pages' policy allows scripts from this origin only, none inline.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest
from httpx import ASGITransport, AsyncClient
from litestar import Litestar

from app.bootstrap import Container
from app.infrastructure.config import Settings
from app.interfaces.http.app import create_app
from app.interfaces.http.docs_ui import REDOC, SWAGGER_UI
from tests.conftest import make_settings
from tests.e2e.helpers import Client

UI_PATHS = ["/schema", "/schema/", "/schema/swagger", "/schema/redoc"]
#: Every URL an HTML page names: attributes that load or link something.
_REFERENCE = re.compile(r"""\b(?:src|href|spec-url|data-spec-url)\s*=\s*["']([^"']*)["']""", re.IGNORECASE)
_CONTENT_TYPES = {".js": "text/javascript", ".css": "text/css", ".json": "application/vnd.oai.openapi+json"}


def references(page: str) -> list[str]:
    return _REFERENCE.findall(page)


@pytest.mark.parametrize("path", UI_PATHS)
async def test_a_docs_page_references_nothing_outside_the_service(client: Client, path: str) -> None:
    response = await client.get(path)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    found = references(page)
    assert len(found) >= 3, found  # icon, document, at least one script
    assert [url for url in found if not (url.startswith("/") and not url.startswith("//")) and url != "data:,"] == []
    assert re.search(r"(?:https?:)?//", page) is None, "an absolute or protocol-relative URL"


@pytest.mark.parametrize("path", UI_PATHS)
async def test_every_asset_a_docs_page_names_is_served(client: Client, path: str) -> None:
    page = (await client.get(path)).text
    assets = [url for url in references(page) if url.startswith("/")]

    assert any(url.endswith(".js") for url in assets)
    for url in assets:
        response = await client.get(url)
        assert response.status_code == 200, url
        assert response.content, url
        suffix = url[url.rfind(".") :]
        if suffix in _CONTENT_TYPES:
            assert response.headers["content-type"].startswith(_CONTENT_TYPES[suffix]), url


async def test_the_pages_load_the_pinned_bundles(client: Client) -> None:
    swagger = (await client.get("/schema")).text
    redoc = (await client.get("/schema/redoc")).text

    assert f"/schema/assets/{SWAGGER_UI.package}-{SWAGGER_UI.version}/swagger-ui-bundle.js" in swagger
    assert f"/schema/assets/{REDOC.package}-{REDOC.version}/redoc.standalone.js" in redoc
    assert 'data-spec-url="/schema/openapi.json"' in swagger
    assert 'spec-url="/schema/openapi.json"' in redoc


@pytest.mark.parametrize("path", UI_PATHS)
async def test_a_docs_page_may_run_only_this_origins_scripts(client: Client, path: str) -> None:
    response = await client.get(path)

    directives = dict(
        [*part.split(" ", 1), ""][:2]
        for part in (d.strip() for d in response.headers["content-security-policy"].split(";"))
    )
    assert directives["default-src"] == "'none'"
    assert directives["script-src"] == "'self'"
    assert directives["connect-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert "<script>" not in response.text.replace(" ", "")
    assert re.search(r"<script(?![^>]*\bsrc=)[^>]*>", response.text) is None, "an inline script"
    assert response.headers["x-frame-options"] == "DENY"


async def test_the_document_is_titled_and_versioned_from_the_settings(client: Client, settings: Settings) -> None:
    info = (await client.get("/schema/openapi.json")).json()["info"]

    assert (info["title"], info["version"]) == (settings.api_title, settings.api_version)


@pytest.fixture
async def docs_off_client(database_url: str, container: Container) -> AsyncIterator[Client]:
    settings = make_settings(database_url, SHOW_API_DOCS="false", API_TITLE="Acme API", API_VERSION="2.3.4")
    app: Litestar = create_app(settings, container)
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://testserver.local") as client:  # type: ignore[arg-type]
        yield client


async def test_show_api_docs_false_removes_the_pages_but_keeps_the_document(docs_off_client: Client) -> None:
    for path in [*UI_PATHS, f"/schema/assets/{SWAGGER_UI.folder}/swagger-ui-bundle.js"]:
        assert (await docs_off_client.get(path)).status_code == 404, path

    document = await docs_off_client.get("/schema/openapi.json")
    assert document.status_code == 200
    assert (document.json()["info"]["title"], document.json()["info"]["version"]) == ("Acme API", "2.3.4")
    assert (await docs_off_client.get("/schema/openapi.yaml")).status_code == 200
