"""API keys: created (and shown) once, listed without the secret, revoked at once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import msgspec

from app.application.auth.dto import ApiKeyCreated, ApiKeyRead
from app.application.auth.ports import OpaqueTokens
from app.application.auth.principal import Principal
from app.application.ports import Clock, IdFactory, UnitOfWorkFactory
from app.application.validation import in_utc
from app.domain.auth.model import ApiKey
from app.domain.errors import NotFound, ValidationFailed

#: Every key starts with this, so a leaked one is recognisable (secret scanners, logs).
API_KEY_MARKER = "ak_"
#: How much of the key is stored in clear: the marker and 9 random characters (54 bits).
API_KEY_PREFIX_LENGTH = 12


@dataclass(kw_only=True, eq=False)
class ApiKeyCommands:
    uow: UnitOfWorkFactory
    secrets: OpaqueTokens
    clock: Clock
    ids: IdFactory

    async def create(self, principal: Principal, name: str, expires_at: datetime | None) -> ApiKeyCreated:
        now = self.clock()
        if expires_at is not None:
            expires_at = in_utc(expires_at, field="expires_at")
            if expires_at <= now:
                raise ValidationFailed.single("expires_at", "Must be in the future")
        secret, _ = self.secrets.new()
        key = f"{API_KEY_MARKER}{secret}"
        api_key = ApiKey(
            id=self.ids(),
            user_id=principal.user_id,
            name=name,
            prefix=key[:API_KEY_PREFIX_LENGTH],
            key_hash=self.secrets.hash(key),
            created_at=now,
            expires_at=expires_at,
        )
        async with self.uow() as uow:
            await uow.api_keys.add(api_key)
            await uow.commit()
        return ApiKeyCreated(**msgspec.structs.asdict(_read(api_key)), key=key)

    async def list_keys(self, principal: Principal) -> list[ApiKeyRead]:
        async with self.uow() as uow:
            keys = await uow.api_keys.list_unrevoked(principal.user_id)
        return [_read(key) for key in keys]

    async def revoke(self, principal: Principal, key_id: UUID) -> None:
        """Revoke one of the caller's keys; anyone else's (or a revoked one) reads as not found."""
        async with self.uow() as uow:
            key = await uow.api_keys.get(key_id)
            if key is None or key.user_id != principal.user_id or key.revoked_at is not None:
                raise NotFound(f"API key {key_id} does not exist")
            key.revoke(self.clock())
            await uow.api_keys.save(key)
            await uow.commit()


def _read(key: ApiKey) -> ApiKeyRead:
    return msgspec.convert(key, ApiKeyRead, from_attributes=True)
