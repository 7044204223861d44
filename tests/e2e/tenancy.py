"""Steps the tenancy's end-to-end tests repeat: an organization with a member of each role, and its events."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from app.infrastructure.db.organizations.models import MembershipModel
from app.infrastructure.outbox.model import OutboxModel
from tests.e2e.helpers import Client, bearer, registered

ORGS = "/api/v1/organizations"
ACCEPT = "/api/v1/invitations/accept"
#: Who calls a route of an organization: a member of each role, someone else, and a platform admin.
CALLERS = ("owner", "admin", "member", "outsider", "platform_admin")


async def new_organization(client: Client, tokens: dict[str, Any], name: str = "Acme", **body: Any) -> dict[str, Any]:
    response = await client.post(ORGS, json={"name": name, **body}, headers=bearer(tokens))
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def user_id(client: Client, tokens: dict[str, Any]) -> str:
    response = await client.get("/api/v1/users/me", headers=bearer(tokens))
    assert response.status_code == 200, response.text
    return str(response.json()["id"])


async def add_member(engine: AsyncEngine, organization_id: str, member_id: str, role: str) -> None:
    """Make a user a member directly in the database: the arrangement of a test, not what it checks
    (joining through an invitation is ``test_invitations``' subject)."""
    async with engine.begin() as connection:
        await connection.execute(
            insert(MembershipModel).values(
                organization_id=organization_id, user_id=member_id, role=role, joined_at=datetime.now(UTC)
            )
        )


@dataclass
class Team:
    """An organization with an owner, an admin and two members, and two callers who are not in it."""

    organization: dict[str, Any]
    tokens: dict[str, dict[str, Any]]
    ids: dict[str, str]

    @property
    def url(self) -> str:
        return f"{ORGS}/{self.organization['id']}"

    def headers(self, who: str) -> dict[str, str]:
        return bearer(self.tokens[who])


async def make_team(client: Client, engine: AsyncEngine, platform_admin: dict[str, Any]) -> Team:
    tokens = {"platform_admin": platform_admin}
    for who in ("owner", "admin", "member", "other", "outsider"):
        tokens[who] = await registered(client, f"{who}@example.com")
    ids = {who: await user_id(client, t) for who, t in tokens.items()}
    organization = await new_organization(client, tokens["owner"])
    for who, role in (("admin", "admin"), ("member", "member"), ("other", "member")):
        await add_member(engine, organization["id"], ids[who], role)
    return Team(organization, tokens, ids)


async def events(engine: AsyncEngine, prefix: str = "organization.") -> list[tuple[str, dict[str, Any]]]:
    """The events written to the outbox so far, oldest first, as ``(type, data)``."""
    async with engine.connect() as connection:
        rows = await connection.execute(select(OutboxModel.type, OutboxModel.envelope).order_by(OutboxModel.id))
        return [(kind, envelope["data"]) for kind, envelope in rows.tuples() if kind.startswith(prefix)]
