"""Inbound messages applied in batches on real PostgreSQL, as the RabbitMQ consumer does.

A batch is one transaction; what it cannot apply whole (one poison message) it hands back
so that each message is settled alone: the poison is dead-lettered with the reason it has
alone, its neighbours are applied once each, in order. Batches sharing users lock them in
id order, so concurrent ones wait for each other instead of deadlocking.
"""

from __future__ import annotations

import asyncio
import json
import random
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from app.application.auth.dto import ClientInfo
from app.application.users.dto import META_MAX_BYTES
from app.bootstrap import Container
from app.domain.errors import Unauthorized
from app.infrastructure.db.models import InboxModel
from app.infrastructure.outbox.model import OutboxModel
from app.interfaces.consumer.handling import Delivery, InboundHandler
from tests.conftest import embedded_container
from tests.integration.test_inbound import PASSWORD

#: Sizes of the batches around a poison message: alone, with one neighbour, and a prefetch's worth.
NEIGHBOURS = (0, 1, 9, 60)


def envelope(message_type: str, **data: Any) -> dict[str, Any]:
    return {"id": str(uuid.uuid4()), "type": message_type, "version": 1, "data": data}


def body(message: dict[str, Any]) -> bytes:
    return json.dumps(message).encode()


@dataclass
class Settlements:
    """What the handler did with each body: dead-lettered (with its reason) or handed back."""

    dead: dict[bytes, str] = field(default_factory=dict)
    requeued: list[bytes] = field(default_factory=list)

    def delivery(self, message: bytes) -> Delivery:
        async def dead_letter(reason: str) -> None:
            assert message not in self.dead, "dead-lettered twice"
            self.dead[message] = reason

        async def requeue() -> None:
            self.requeued.append(message)

        return Delivery(message, 0, dead_letter, requeue)


async def settle(container: Container, bodies: list[bytes]) -> tuple[Settlements, list[bool]]:
    settlements = Settlements()
    deliveries = [settlements.delivery(message) for message in bodies]
    await InboundHandler(container.inbound, max_retries=2).settle_many(deliveries)
    return settlements, [await delivery.settled for delivery in deliveries]


async def new_user(container: Container, meta: dict[str, Any] | None = None) -> uuid.UUID:
    user = await container.users.sign_up(f"{uuid.uuid4().hex[:12]}@example.com", PASSWORD, {"meta": meta or {}})
    return user.id


async def applied(container: Container, message: dict[str, Any]) -> int:
    async with container.engine.connect() as connection:
        count = await connection.scalar(
            select(func.count()).select_from(InboxModel).where(InboxModel.id == uuid.UUID(message["id"]))
        )
    return int(count or 0)


async def events(container: Container) -> list[dict[str, Any]]:
    async with container.engine.connect() as connection:
        rows = await connection.execute(select(OutboxModel.envelope).order_by(OutboxModel.id))
    return [envelope for envelope in rows.scalars() if envelope["type"] != "user.registered"]


async def unknown_user(container: Container) -> dict[str, Any]:
    return envelope("user.deactivate", user_id=str(uuid.uuid4()), reason="fraud")


async def merge_out_of_bounds(container: Container) -> dict[str, Any]:
    """Each part within bounds, their sum not: only the merged result in the database shows it."""
    user_id = await new_user(container, {"big": "x" * (META_MAX_BYTES // 2)})
    return envelope("user.meta.merge", user_id=str(user_id), meta={"bigger": "y" * (META_MAX_BYTES // 2)})


async def nul_in_the_patch(container: Container) -> dict[str, Any]:
    """PostgreSQL refuses NUL in ``jsonb`` itself: were it sent, the batch would fail as if the database had."""
    return envelope("user.meta.merge", user_id=str(await new_user(container)), meta={"a": "b\x00c"})


async def last_admin(container: Container) -> dict[str, Any]:
    admin, _ = await container.users.create_admin(f"{uuid.uuid4().hex[:8]}@example.com", PASSWORD)
    return envelope("user.deactivate", user_id=str(admin.id), reason="fraud")


async def unknown_type(container: Container) -> dict[str, Any]:
    return envelope("user.explode", user_id=str(await new_user(container)))


#: Poison of every kind the batch meets: found before any SQL, by the statements, or by the admin rule.
POISON: dict[str, tuple[Callable[[Container], Any], str]] = {
    "unknown user": (unknown_user, "unknown user"),
    "merged meta out of bounds": (merge_out_of_bounds, "merged meta out of bounds: meta: At most"),
    "NUL in the patch": (nul_in_the_patch, "Text must not contain NUL"),
    "the last active admin": (last_admin, "refused: The last active admin cannot be"),
    "unknown type": (unknown_type, "unknown type"),
}


@pytest.mark.parametrize("neighbours", NEIGHBOURS)
@pytest.mark.parametrize("where", ["first", "middle", "last"])
@pytest.mark.parametrize("kind", POISON)
async def test_a_poison_message_in_a_batch_is_dead_lettered_and_its_neighbours_applied(
    container: Container, kind: str, where: str, neighbours: int
) -> None:
    make_poison, reason = POISON[kind]
    poison = body(await make_poison(container))
    merged_into = [await new_user(container) for _ in range(max(neighbours // 2, 1))]
    merges = [
        envelope("user.meta.merge", user_id=str(merged_into[i % len(merged_into)]), meta={f"k{i}": i})
        for i in range(neighbours - neighbours // 3)
    ]
    deactivated = [await new_user(container) for _ in range(neighbours // 3)]
    deactivations = [envelope("user.deactivate", user_id=str(user_id), reason="fraud") for user_id in deactivated]
    others = [body(message) for message in merges + deactivations]
    at = {"first": 0, "middle": len(others) // 2, "last": len(others)}[where]

    settlements, settled = await settle(container, [*others[:at], poison, *others[at:]])

    assert all(settled)
    assert list(settlements.dead) == [poison]
    assert reason in settlements.dead[poison]
    assert settlements.requeued == []
    for message in merges + deactivations:
        assert await applied(container, message) == 1
    for i, user_id in enumerate(merged_into):
        meta = (await container.administration.get(user_id)).meta
        assert meta == {f"k{j}": j for j in range(len(merges)) if j % len(merged_into) == i}
    for user_id in deactivated:
        assert not (await container.administration.get(user_id)).is_active
    published = await events(container)
    assert sorted(e["type"] for e in published) == sorted(
        ["user.profile_updated"] * len(merges) + ["user.deactivated"] * len(deactivations)
    )


async def test_a_batch_applies_a_users_messages_in_the_order_they_came_and_each_id_once(container: Container) -> None:
    user_id = await new_user(container)
    session = await container.auth.issue_tokens(
        (await container.administration.get(user_id)).email, PASSWORD, ClientInfo()
    )
    merges = [envelope("user.meta.merge", user_id=str(user_id), meta={"step": step}) for step in range(5)]
    deactivate = envelope("user.deactivate", user_id=str(user_id), reason="fraud")
    unchanged = envelope("user.meta.merge", user_id=str(user_id), meta={"step": 4})
    messages = [*merges[:3], merges[1], deactivate, *merges[3:], unchanged, deactivate]

    settlements, settled = await settle(container, [body(message) for message in messages])

    assert all(settled)
    assert not settlements.dead
    assert not settlements.requeued
    user = await container.administration.get(user_id)
    assert user.meta == {"step": 4}
    assert not user.is_active
    for message in [*merges, deactivate, unchanged]:
        assert await applied(container, message) == 1
    # One event per change, in the order of the messages: an unchanged merge and a repeated id say nothing.
    assert [(e["type"], e["data"].get("reason")) for e in await events(container)] == [
        *[("user.profile_updated", None)] * 3,
        ("user.deactivated", "fraud"),
        *[("user.profile_updated", None)] * 2,
    ]
    with pytest.raises(Unauthorized):
        await container.auth_queries.authenticate(session.access_token)


async def test_a_message_applied_before_is_a_duplicate_in_a_batch(container: Container) -> None:
    user_id = await new_user(container)
    merge = envelope("user.meta.merge", user_id=str(user_id), meta={"plan": "pro"})
    assert await container.inbound.apply(uuid.UUID(merge["id"]), merge["type"], merge["data"])
    later = envelope("user.meta.merge", user_id=str(user_id), meta={"plan": "team"})

    settlements, settled = await settle(container, [body(merge), body(later)])

    assert settled == [True, True]
    assert not settlements.dead
    assert (await container.administration.get(user_id)).meta == {"plan": "team"}
    assert len(await events(container)) == 2


@pytest.mark.parametrize("batches", [2, 4, 8])
async def test_concurrent_batches_sharing_users_wait_for_each_other_and_apply_everything(
    container: Container, batches: int
) -> None:
    """Each batch names the same users in its own order; rows are locked in id order, so no
    batch holds one row while waiting for another that a second batch holds the other way round."""
    users = [await new_user(container) for _ in range(12)]
    shuffler = random.Random(batches)
    work = []
    for batch in range(batches):
        order = users[:]
        shuffler.shuffle(order)
        work.append([
            envelope("user.meta.merge", user_id=str(user_id), meta={f"b{batch}": batch}) for user_id in order
        ])  # fmt: skip

    outcomes = await asyncio.gather(*(settle(container, [body(message) for message in batch]) for batch in work))

    for settlements, settled in outcomes:
        assert all(settled)
        assert not settlements.dead
        assert not settlements.requeued
    for user_id in users:
        assert (await container.administration.get(user_id)).meta == {f"b{batch}": batch for batch in range(batches)}
    assert len(await events(container)) == batches * len(users)


async def test_deactivating_admins_in_a_batch_keeps_the_last_one(container: Container) -> None:
    """Two admins deactivated in one batch: the first goes, the second is the last and stays."""
    first, _ = await container.users.create_admin("first-admin@example.com", PASSWORD)
    second, _ = await container.users.create_admin("second-admin@example.com", PASSWORD)
    messages = [envelope("user.deactivate", user_id=str(admin.id), reason="fraud") for admin in (first, second)]

    settlements, settled = await settle(container, [body(message) for message in messages])

    assert all(settled)
    assert list(settlements.dead) == [body(messages[1])]
    assert settlements.dead[body(messages[1])].startswith("refused: The last active admin cannot be")
    assert not (await container.administration.get(first.id)).is_active
    assert (await container.administration.get(second.id)).is_active


@pytest.mark.parametrize("pairs", [1, 5, 20])
async def test_batches_that_change_each_others_users_the_other_way_round_do_not_deadlock(
    container: Container, pairs: int
) -> None:
    """One batch merges into ``u`` and deactivates ``v``; the other merges into ``v`` and deactivates
    ``u``. Statement by statement they would take the rows in opposite orders; locked up front in
    id order, one waits for the other."""
    us = [await new_user(container) for _ in range(pairs)]
    vs = [await new_user(container) for _ in range(pairs)]

    def crossing(merged: list[uuid.UUID], ended: list[uuid.UUID]) -> list[bytes]:
        return [
            *(body(envelope("user.meta.merge", user_id=str(user_id), meta={"m": 1})) for user_id in merged),
            *(body(envelope("user.deactivate", user_id=str(user_id), reason="fraud")) for user_id in ended),
        ]

    outcomes = await asyncio.gather(settle(container, crossing(us, vs)), settle(container, crossing(vs, us)))

    for settlements, settled in outcomes:
        assert all(settled)
        assert not settlements.dead
        assert not settlements.requeued
    for user_id in us + vs:
        user = await container.administration.get(user_id)
        assert user.meta == {"m": 1}
        assert not user.is_active
    assert len(await events(container)) == 4 * pairs


@pytest.fixture
async def embedded(tmp_path: Path) -> AsyncIterator[Container]:
    """A container on the embedded SQLite database, which has no ``jsonb ||`` and no row locks."""
    async with embedded_container(tmp_path / "embedded.db") as container:
        yield container


async def test_on_embedded_sqlite_a_batch_applies_as_on_postgresql(embedded: Container) -> None:
    merged, other, ended = [await new_user(embedded, {"keep": True}) for _ in range(3)]
    messages = [
        envelope("user.meta.merge", user_id=str(merged), meta={"step": 1}),
        envelope("user.meta.merge", user_id=str(other), meta={"keep": True}),  # changes nothing
        envelope("user.deactivate", user_id=str(ended), reason="fraud"),
        envelope("user.meta.merge", user_id=str(merged), meta={"step": 2}),
    ]
    bodies = [body(message) for message in messages]

    settlements, settled = await settle(embedded, [*bodies, bodies[0]])

    assert all(settled)
    assert not settlements.dead
    assert (await embedded.administration.get(merged)).meta == {"keep": True, "step": 2}
    assert (await embedded.administration.get(other)).meta == {"keep": True}
    assert not (await embedded.administration.get(ended)).is_active
    for message in messages:
        assert await applied(embedded, message) == 1
    assert [e["type"] for e in await events(embedded)] == [
        "user.profile_updated",
        "user.deactivated",
        "user.profile_updated",
    ]

    # A poison message among others: dead-lettered with its reason, the others applied.
    again = [envelope("user.meta.merge", user_id=str(user_id), meta={"again": 1}) for user_id in (merged, other)]
    poison = body(await unknown_user(embedded))
    settlements, settled = await settle(embedded, [body(again[0]), poison, body(again[1])])
    assert all(settled)
    assert list(settlements.dead) == [poison]
    assert "unknown user" in settlements.dead[poison]
    assert (await embedded.administration.get(other)).meta == {"keep": True, "again": 1}
    assert (await embedded.administration.get(merged)).meta == {"keep": True, "step": 2, "again": 1}
