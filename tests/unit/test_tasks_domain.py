"""The task aggregate and its bodies: events, ``completed_at``, who may change it, the bounds of its values."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import msgspec
import pytest

from app.application.tasks.dto import TaskCreate, TaskPatch
from app.domain.errors import ValidationFailed
from app.domain.organizations.membership import Membership
from app.domain.organizations.values import OrgRole
from app.domain.tasks.events import TaskCompleted, TaskCreated, TaskDeleted, TaskUpdated
from app.domain.tasks.model import Task
from app.domain.tasks.values import TaskStatus, check_tags

NOW = datetime(2026, 12, 7, 9, tzinfo=UTC)
LATER = NOW + timedelta(hours=1)
ORG, CREATOR, ASSIGNEE = uuid4(), uuid4(), uuid4()


def new_task(**fields: Any) -> Task:
    return Task.create(id=uuid4(), organization_id=ORG, created_by=CREATOR, now=NOW, fields={"title": "T", **fields})


def test_creation_records_created_then_assigned_then_completed() -> None:
    task = new_task(assignee_id=ASSIGNEE, status=TaskStatus.DONE)

    assert [event.type for event in task.pull_events()] == ["task.created", "task.assigned", "task.completed"]
    assert task.completed_at == NOW


def test_a_plain_creation_records_one_event() -> None:
    task = new_task()
    (event,) = task.pull_events()
    assert event == TaskCreated(task_id=task.id, organization_id=ORG, occurred_at=NOW, created_by=CREATOR)
    assert task.completed_at is None


def test_an_update_records_what_changed_and_nothing_when_nothing_did() -> None:
    task = new_task(title="Same")
    task.pull_events()

    assert task.update({"title": "Same"}, CREATOR, LATER) == []
    assert task.pull_events() == []
    assert task.updated_at == NOW
    assert task.update({"title": "New", "priority": "high", "description": None}, CREATOR, LATER) == [
        "title",
        "priority",
    ]
    (event,) = task.pull_events()
    assert isinstance(event, TaskUpdated)
    assert event.changed == ("title", "priority")
    assert task.updated_at == LATER


def test_assigning_records_the_assignee_and_unassigning_does_not() -> None:
    task = new_task()
    task.pull_events()

    task.update({"assignee_id": ASSIGNEE}, CREATOR, LATER)
    assert [e.type for e in task.pull_events()] == ["task.updated", "task.assigned"]
    task.update({"assignee_id": None}, CREATOR, LATER)
    assert [e.type for e in task.pull_events()] == ["task.updated"]


def test_completed_at_is_set_on_done_kept_while_done_and_cleared_after() -> None:
    task = new_task()
    task.update({"status": TaskStatus.DONE}, ASSIGNEE, LATER)
    completed = [e for e in task.pull_events() if isinstance(e, TaskCompleted)]
    assert [e.completed_by for e in completed] == [ASSIGNEE]
    assert task.completed_at == LATER

    task.update({"title": "Renamed"}, CREATOR, LATER + timedelta(hours=1))
    assert task.completed_at == LATER
    task.update({"status": TaskStatus.CANCELED}, CREATOR, LATER)
    assert task.completed_at is None


def test_deleting_records_it() -> None:
    task = new_task()
    task.pull_events()
    task.delete(LATER)
    assert (task.deleted_at, task.pull_events()) == (
        LATER,
        [TaskDeleted(task_id=task.id, organization_id=ORG, occurred_at=LATER)],
    )


def test_only_editable_fields_change() -> None:
    with pytest.raises(ValueError, match="created_by"):
        new_task().update({"created_by": uuid4()}, CREATOR, LATER)


def _member(user_id: UUID, role: OrgRole = OrgRole.MEMBER) -> Membership:
    return Membership(organization_id=ORG, user_id=user_id, role=role, joined_at=NOW)


@pytest.mark.parametrize(
    ("who", "role", "edit", "delete"),
    [
        (CREATOR, OrgRole.MEMBER, True, True),
        (ASSIGNEE, OrgRole.MEMBER, True, False),
        (uuid4(), OrgRole.MEMBER, False, False),
        (uuid4(), OrgRole.ADMIN, True, True),
        (uuid4(), OrgRole.OWNER, True, True),
    ],
)
def test_who_may_edit_and_delete(who: UUID, role: OrgRole, edit: bool, delete: bool) -> None:
    task = new_task(assignee_id=ASSIGNEE)
    assert (task.may_edit(_member(who, role)), task.may_delete(_member(who, role))) == (edit, delete)


@pytest.mark.parametrize(
    "tags", [["a", "a"], [f"t{n}" for n in range(21)], [""], ["x" * 51]], ids=["repeated", "21", "empty", "long"]
)
def test_tags_out_of_bounds_are_refused_naming_tags(tags: list[str]) -> None:
    with pytest.raises(ValidationFailed) as refused:
        check_tags(tags)
    assert [error.field for error in refused.value.errors] == ["tags"]


def test_twenty_distinct_tags_of_fifty_characters_are_fine() -> None:
    tags = [f"{n:02}" + "x" * 48 for n in range(20)]
    assert check_tags(tags) == tuple(tags)


def test_a_body_gives_domain_values() -> None:
    body = msgspec.json.decode(
        b'{"title": "T", "due_at": "2027-01-01T13:00:00+01:00", "tags": ["a"], "priority": "high"}', type=TaskCreate
    )
    fields = body.fields()
    assert fields["due_at"] == datetime(2027, 1, 1, 12, tzinfo=UTC)
    assert fields["due_at"].tzinfo is UTC
    assert (fields["tags"], fields["status"], fields["meta"]) == (("a",), TaskStatus.TODO, {})


def test_a_patch_tells_absent_from_null() -> None:
    patch = msgspec.json.decode(b'{"description": null, "assignee_id": null}', type=TaskPatch)
    assert patch.changes() == {"description": None, "assignee_id": None}
    assert msgspec.json.decode(b"{}", type=TaskPatch).changes() == {}


@pytest.mark.parametrize(
    ("document", "field"), [({"tags": ["a", "a"]}, "tags"), ({"meta": {"k": "x" * 17_000}}, "meta")]
)
def test_a_patch_names_what_its_type_cannot_check(document: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        msgspec.convert(document, TaskPatch).changes()
    assert [error.field for error in refused.value.errors] == [field]
