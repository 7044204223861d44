"""OpenAPI pieces shared by the controllers: security schemes, documented error responses, closed bodies."""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec
from litestar.openapi.config import OpenAPIConfig
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import Components, OAuthFlow, OAuthFlows, Schema, SecurityScheme
from litestar.plugins import OpenAPISchemaPlugin
from litestar.typing import FieldDefinition

from app.infrastructure.config import Settings
from app.interfaces.http.docs_ui import render_plugins
from app.interfaces.http.problems import ProblemBody

if TYPE_CHECKING:
    from litestar._openapi.schema_generation import SchemaCreator

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


#: Said by every route that can demote, deactivate or delete a user (``app.application.users.admins``).
LAST_ADMIN_RULE = "Demoting, deactivating or deleting the last active admin is refused with 409 `conflict`."


def problems(*statuses: int) -> dict[int, ResponseSpec]:
    """Document the problem+json responses a route can return (500 and 503 apply to all)."""
    return {
        status: ResponseSpec(
            data_container=ProblemBody, description=_DESCRIPTIONS[status], media_type="application/problem+json"
        )
        for status in (*statuses, 500, 503)
    }


DOCS_PATH = "/schema"


def openapi_config(settings: Settings) -> OpenAPIConfig:
    """The document at ``/schema/openapi.json``, titled from the settings, and the docs UI unless switched off."""
    return OpenAPIConfig(
        title=settings.api_title,
        version=settings.api_version,
        description="Users, session authentication and administration. Errors are RFC 9457 problem details.",
        path=DOCS_PATH,
        render_plugins=render_plugins(show_docs=settings.show_api_docs),
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


class ClosedBodies(OpenAPISchemaPlugin):
    """Documents a struct that refuses unknown fields as ``additionalProperties: false``.

    Request bodies refuse unknown fields (``forbid_unknown_fields``), but Litestar documents
    only a struct's declared fields, which in JSON Schema leaves any other field allowed: a
    client validating against the document would send a body the service answers with 422.
    This plugin lets Litestar's own struct schema be built, then closes it.
    """

    def is_plugin_supported_field(self, field_definition: FieldDefinition) -> bool:
        return (
            not field_definition.is_union
            and field_definition.is_subclass_of(msgspec.Struct)
            and field_definition.type_.__struct_config__.forbid_unknown_fields
        )

    def to_openapi_schema(self, field_definition: FieldDefinition, schema_creator: SchemaCreator) -> Schema:
        builtin = next(
            plugin
            for plugin in schema_creator.plugins
            if plugin is not self and schema_creator.plugin_supports_field(plugin, field_definition)
        )
        schema = builtin.to_openapi_schema(field_definition=field_definition, schema_creator=schema_creator)
        schema.additional_properties = False
        return schema
