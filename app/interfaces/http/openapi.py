"""OpenAPI pieces shared by the controllers: security schemes and documented error responses."""

from __future__ import annotations

from litestar.openapi.config import OpenAPIConfig
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.plugins import ScalarRenderPlugin, SwaggerRenderPlugin
from litestar.openapi.spec import Components, OAuthFlow, OAuthFlows, SecurityScheme

from app.interfaces.http.problems import ProblemBody

BEARER = "BearerToken"
OAUTH2 = "OAuth2Password"
API_KEY = "ApiKey"

#: Any scheme satisfies a protected route; OAuth2 is what drives the UI's "Authorize".
AUTHENTICATED: list[dict[str, list[str]]] = [{BEARER: []}, {OAUTH2: []}, {API_KEY: []}]

_DESCRIPTIONS = {
    400: "Body is not parseable JSON or form data",
    401: "Missing, malformed, expired or revoked credentials",
    403: "Authenticated but not allowed",
    404: "Unknown resource",
    409: "Conflicts with existing data",
    413: "Body over the size limit",
    422: "Invalid input; `errors` names every offending field",
    429: "Too many requests; see `Retry-After`",
    500: "Unexpected failure; report the `error_id`",
    503: "A dependency is unavailable; retry shortly",
}


def problems(*statuses: int) -> dict[int, ResponseSpec]:
    """Document the problem+json responses a route can return (500 and 503 apply to all)."""
    return {
        status: ResponseSpec(
            data_container=ProblemBody, description=_DESCRIPTIONS[status], media_type="application/problem+json"
        )
        for status in (*statuses, 500, 503)
    }


def openapi_config() -> OpenAPIConfig:
    return OpenAPIConfig(
        title="app",
        version="1.0.0",
        description="Users, session authentication and administration. Errors are RFC 9457 problem details.",
        path="/schema",
        render_plugins=[ScalarRenderPlugin(path="/"), SwaggerRenderPlugin(path="/swagger")],
        components=Components(
            security_schemes={
                BEARER: SecurityScheme(type="http", scheme="bearer", bearer_format="JWT"),
                API_KEY: SecurityScheme(type="apiKey", name="X-API-Key", security_scheme_in="header"),
                OAUTH2: SecurityScheme(
                    type="oauth2",
                    flows=OAuthFlows(password=OAuthFlow(token_url="/api/v1/auth/token", scopes={})),  # noqa: S106
                ),
            }
        ),
    )
