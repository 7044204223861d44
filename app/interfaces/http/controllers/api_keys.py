"""``/api/v1/api-keys``: the caller's API keys."""

from __future__ import annotations

from uuid import UUID

from litestar import Controller, delete, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody

from app.application.auth.api_keys import ApiKeyCommands
from app.application.auth.dto import ApiKeyCreateBody, ApiKeyCreated, ApiKeyRead
from app.application.auth.principal import Principal
from app.interfaces.http.openapi import AUTHENTICATED, problems


class ApiKeysController(Controller):
    path = "/api/v1/api-keys"
    tags = ["auth"]
    security = AUTHENTICATED

    @post(
        operation_id="createApiKey",
        status_code=201,
        responses=problems(400, 401, 413, 422),
        summary="Create an API key; the key is shown in this response only",
    )
    async def create(
        self,
        data: JSONBody[ApiKeyCreateBody],
        principal: NamedDependency[Principal],
        api_keys: NamedDependency[ApiKeyCommands],
    ) -> ApiKeyCreated:
        return await api_keys.create(principal, data.name, data.expires_at)

    @get(
        operation_id="listApiKeys",
        responses=problems(401),
        summary="The caller's API keys, without the keys themselves",
    )
    async def list_keys(
        self, principal: NamedDependency[Principal], api_keys: NamedDependency[ApiKeyCommands]
    ) -> list[ApiKeyRead]:
        return await api_keys.list_keys(principal)

    @delete(
        "/{key_id:uuid}",
        operation_id="deleteApiKey",
        status_code=204,
        responses=problems(400, 401, 404),
        summary="Revoke an API key at once",
    )
    async def revoke(
        self,
        key_id: FromPath[UUID],
        principal: NamedDependency[Principal],
        api_keys: NamedDependency[ApiKeyCommands],
    ) -> None:
        await api_keys.revoke(principal, key_id)
