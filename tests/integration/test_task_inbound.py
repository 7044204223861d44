"""``task.create`` on real PostgreSQL: applied once per envelope id, poison when it can never succeed."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from app.application.inbound import PoisonMessage
from app.bootstrap import Container
from app.domain.organizations.values import OrgRole
from tests.support.factories import PASSWORD, unique_email
from tests.support.tenancy import create_organization


async def _member_of_an_organization(container: Container) -> tuple[uuid.UUID, uuid.UUID]:
    user_id = (await container.users.sign_up(unique_email(), PASSWORD, {})).id
    return user_id, await create_organization(container.engine, {user_id: OrgRole.MEMBER})


async def test_concurrent_deliveries_of_one_id_create_one_task(container: Container) -> None:
    member, org_id = await _member_of_an_organization(container)
    data = {"organization_id": str(org_id), "created_by": str(member), "title": "Once", "tags": ["a", "b"]}
    message_id = uuid.uuid4()

    outcomes = await asyncio.gather(*(container.inbound.apply(message_id, "task.create", data) for _ in range(4)))

    assert sorted(outcomes) == [False, False, False, True]
    (task,) = (await container.tasks.list(member, org_id, {})).items
    assert (task.title, task.created_by, task.status, task.tags) == ("Once", member, "todo", ["a", "b"])


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"created_by": "stranger"}, "not a member"),
        ({"organization_id": str(uuid.uuid4())}, "unknown organization"),
        ({"tags": ["a", "a"]}, "tags"),
        ({"status": "done"}, "invalid data"),  # not a field of the message
        ({"due_at": "2027-01-01T12:00:00"}, "invalid data"),  # no offset
    ],
)
async def test_a_message_that_can_never_apply_is_poison_and_leaves_nothing(
    container: Container, change: dict[str, Any], reason: str
) -> None:
    member, org_id = await _member_of_an_organization(container)
    stranger = (await container.users.sign_up(unique_email(), PASSWORD, {})).id
    data = {"organization_id": str(org_id), "created_by": str(member), "title": "Never", **change}
    if data["created_by"] == "stranger":
        data["created_by"] = str(stranger)
    message_id = uuid.uuid4()

    with pytest.raises(PoisonMessage, match=reason):
        await container.inbound.apply(message_id, "task.create", data)
    assert (await container.tasks.list(member, org_id, {})).items == []
    # Nothing was claimed: the same id, once it can apply, applies.
    fixed = {"organization_id": str(org_id), "created_by": str(member), "title": "Now"}
    assert await container.inbound.apply(message_id, "task.create", fixed) is True
