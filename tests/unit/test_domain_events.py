"""Events are read off their classes: the envelope, the subscribers' decoding and the catalog of what is published."""

from __future__ import annotations

import importlib
import pkgutil
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar
from uuid import UUID, uuid4

import pytest

import app.domain
from app.bootstrap import build_container
from app.domain.events import DomainEvent
from app.domain.users.events import (
    USER_EVENTS,
    UserDeactivated,
    UserEmailVerified,
    UserEvent,
    UserPasswordChanged,
    UserProfileUpdated,
    UserRegistered,
    UserRoleChanged,
)
from app.domain.users.model import User
from app.domain.users.values import Email
from app.infrastructure.outbox.catalog import EventCatalog
from app.infrastructure.outbox.envelope import envelope, event_from_envelope, payload_fields
from app.infrastructure.outbox.subscribers import CommittedEvents
from tests.conftest import make_settings

NOW = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
USER_ID = uuid4()
SAMPLES: list[UserEvent] = [
    UserRegistered(user_id=USER_ID, occurred_at=NOW, email="ada@example.com"),
    UserProfileUpdated(user_id=USER_ID, occurred_at=NOW, changed=("first_name", "meta")),
    UserDeactivated(user_id=USER_ID, occurred_at=NOW, reason="deleted"),
    UserPasswordChanged(user_id=USER_ID, occurred_at=NOW),
    UserRoleChanged(user_id=USER_ID, occurred_at=NOW, role="admin"),
    UserEmailVerified(user_id=USER_ID, occurred_at=NOW),
]


def test_every_user_event_has_a_sample() -> None:
    assert {type(event) for event in SAMPLES} == set(USER_EVENTS)


@pytest.mark.parametrize("event", SAMPLES, ids=lambda event: event.type)
def test_an_envelope_carries_the_class_type_and_payload_and_decodes_back(event: UserEvent) -> None:
    event_id = uuid4()
    wire = envelope(event, event_id)

    assert wire["id"] == str(event_id)
    assert wire["type"] == type(event).type
    assert wire["version"] == 1
    assert tuple(wire["data"]) == payload_fields(type(event))
    assert wire["data"]["user_id"] == str(USER_ID)
    assert event.aggregate_id == USER_ID
    assert event_from_envelope(wire, type(event)) == event


def test_the_aggregate_hands_its_events_over_once() -> None:
    user = User.register(id=USER_ID, email=Email("ada@example.com"), password_hash=None, now=NOW,
                         profile={"first_name": "Ada"})  # fmt: skip
    user.change_password("hash", NOW)

    pulled = user.pull_events()

    # The profile given at registration is part of the registration: one event for it.
    assert [type(event) for event in pulled] == [UserRegistered, UserPasswordChanged]
    assert user.pull_events() == []


@dataclass(frozen=True, slots=True, kw_only=True)
class _Impostor(DomainEvent):
    type: ClassVar[str] = UserRegistered.type
    aggregate: ClassVar[str] = "impostor"
    impostor_id: UUID


def test_one_type_cannot_name_two_classes() -> None:
    with pytest.raises(ValueError, match=r"share the type 'user\.registered'"):
        EventCatalog(USER_EVENTS, [_Impostor])
    subscribers = CommittedEvents()

    async def ignore(_: DomainEvent) -> None:
        return None

    subscribers.subscribe(UserRegistered, ignore)
    subscribers.subscribe(UserRegistered, ignore)  # the same class again is fine
    with pytest.raises(ValueError, match="share the type"):
        subscribers.subscribe(_Impostor, ignore)


def _concrete_events() -> set[type[DomainEvent]]:
    """Every event class the domain declares with a type of its own (the modules imported first)."""
    for module in pkgutil.walk_packages([str(Path(app.domain.__file__).parent)], "app.domain."):
        importlib.import_module(module.name)
    found, pending = set(), [DomainEvent]
    while pending:
        for subclass in pending.pop().__subclasses__():
            pending.append(subclass)
            # A slots dataclass replaces the class it was made from: only the one its module holds counts.
            declared = getattr(sys.modules[subclass.__module__], subclass.__qualname__, None) is subclass
            if declared and subclass.__module__.startswith("app.") and "type" in vars(subclass):
                found.add(subclass)
    return found


DECLARED = sorted(_concrete_events(), key=lambda event_class: event_class.type)


@pytest.mark.parametrize("event_class", DECLARED, ids=[event_class.type for event_class in DECLARED])
def test_every_event_names_its_aggregate_and_carries_its_id(event_class: type[DomainEvent]) -> None:
    """``aggregate_id`` (the outbox row's) is the payload's ``<aggregate>_id``: every event must have one."""
    assert event_class.type.startswith(f"{event_class.aggregate}.")
    assert f"{event_class.aggregate}_id" in payload_fields(event_class)


async def test_the_composition_root_publishes_every_event_the_domain_declares(tmp_path: Path) -> None:
    """An aggregate's events list not registered would be events the AsyncAPI document omits."""
    container = build_container(make_settings(f"sqlite+aiosqlite:///{tmp_path}/x.db"))
    try:
        assert set(container.events) == _concrete_events()
        assert len(_concrete_events()) >= len(USER_EVENTS)
    finally:
        await container.close()
