"""Inbound messages on real PostgreSQL: each envelope id applied once, poison recognised as such."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from sqlalchemy import select

from app.application.auth.dto import ClientInfo
from app.application.inbound import PoisonMessage
from app.application.users.dto import META_MAX_BYTES, META_MAX_KEYS
from app.bootstrap import Container
from app.domain.errors import Unauthorized
from app.infrastructure.outbox.model import OutboxModel

PASSWORD = "correct horse battery"


async def signed_up(container: Container) -> tuple[str, str]:
    user = await container.users.sign_up("ada@example.com", PASSWORD, {})
    pair = await container.auth.issue_tokens("ada@example.com", PASSWORD, ClientInfo())
    return str(user.id), pair.access_token


async def test_deactivate_applies_once_and_ends_sessions(container: Container) -> None:
    user_id, token = await signed_up(container)
    message_id = uuid.uuid4()
    data = {"user_id": user_id, "reason": "fraud"}

    assert await container.inbound.apply(message_id, "user.deactivate", data) is True
    assert await container.inbound.apply(message_id, "user.deactivate", data) is False

    with pytest.raises(Unauthorized):
        await container.auth_queries.authenticate(token)
    async with container.engine.connect() as connection:
        events = [row.envelope for row in await connection.execute(select(OutboxModel.envelope))]
    deactivations = [e for e in events if e["type"] == "user.deactivated"]
    assert [e["data"]["reason"] for e in deactivations] == ["fraud"]


async def test_concurrent_deliveries_of_one_id_apply_once(container: Container) -> None:
    user_id, _ = await signed_up(container)
    message_id = uuid.uuid4()

    outcomes = await asyncio.gather(
        *(container.inbound.apply(message_id, "user.meta.merge", {"user_id": user_id, "meta": {"n": 1}})
          for _ in range(4))
    )  # fmt: skip

    assert sorted(outcomes) == [False, False, False, True]


async def test_concurrent_merges_into_one_user_lose_nothing(container: Container) -> None:
    """Each merge reads ``meta``, adds to it and writes it back: without the row lock, merges
    running at once would overwrite each other's keys."""
    user_id, _ = await signed_up(container)

    await asyncio.gather(
        *(container.inbound.apply(uuid.uuid4(), "user.meta.merge", {"user_id": user_id, "meta": {f"k{i}": i}})
          for i in range(8))
    )  # fmt: skip

    user = await container.administration.get(uuid.UUID(user_id))
    assert user.meta == {f"k{i}": i for i in range(8)}


async def test_meta_merge_keeps_other_keys(container: Container) -> None:
    user_id, token = await signed_up(container)
    principal = await container.auth_queries.authenticate(token)
    await container.users.update_profile(principal, {"meta": {"theme": "dark", "plan": "free"}})

    await container.inbound.apply(uuid.uuid4(), "user.meta.merge", {"user_id": user_id, "meta": {"plan": "pro"}})

    assert (await container.administration.get(uuid.UUID(user_id))).meta == {"theme": "dark", "plan": "pro"}


@pytest.mark.parametrize(
    "merged",
    [
        pytest.param({"deep": {"a": {"b": {"c": {"d": {"e": {"f": {"g": "h"}}}}}}}}, id="too deep"),
        pytest.param({"big": "x" * META_MAX_BYTES}, id="too large"),
        pytest.param({f"k{i}": i for i in range(META_MAX_KEYS)}, id="too many keys"),
        pytest.param({"nul": "a\x00b"}, id="NUL"),
        pytest.param({"n": 2**64}, id="integer beyond 2^53"),
        pytest.param({"a": {"b": [0, -(2**63)]}}, id="nested integer beyond 2^53"),
        pytest.param({"a": 1e20}, id="float beyond 2^53"),
    ],
)
async def test_a_merge_that_would_break_metas_bounds_is_poison(container: Container, merged: dict[str, Any]) -> None:
    """Each message's own meta is bounded, but the sum of two may not be; nor did decoding
    check depth or NUL. The merged result is held to the REST bounds, and nothing changes."""
    user_id, token = await signed_up(container)
    principal = await container.auth_queries.authenticate(token)
    await container.users.update_profile(principal, {"meta": {"theme": "dark"}})

    with pytest.raises(PoisonMessage, match="merged meta out of bounds"):
        await container.inbound.apply(uuid.uuid4(), "user.meta.merge", {"user_id": user_id, "meta": merged})

    assert (await container.administration.get(uuid.UUID(user_id))).meta == {"theme": "dark"}


async def test_a_merge_out_of_bounds_names_the_offending_value_in_its_reason(container: Container) -> None:
    user_id, _ = await signed_up(container)

    with pytest.raises(PoisonMessage, match=r"meta\.a\.b\.1: Numbers must lie within"):
        await container.inbound.apply(
            uuid.uuid4(), "user.meta.merge", {"user_id": user_id, "meta": {"a": {"b": [0, 2**64]}}}
        )


@pytest.mark.parametrize(
    ("message_type", "data", "reason"),
    [
        ("user.explode", {}, "unknown type"),
        ("user.deactivate", {"user_id": "not-a-uuid", "reason": "x"}, "invalid data"),
        ("user.deactivate", {"user_id": str(uuid.uuid4())}, "invalid data"),
        ("user.meta.merge", {"user_id": str(uuid.uuid4()), "meta": "not an object"}, "invalid data"),
        ("user.meta.merge", {"user_id": str(uuid.uuid4()), "meta": '{"a": 1}'}, "invalid data"),
        ("user.deactivate", {"user_id": str(uuid.uuid4()), "reason": 0}, "invalid data"),
        ("user.deactivate", {"user_id": uuid.uuid4().int, "reason": "x"}, "invalid data"),
        ("user.deactivate", {"user_id": str(uuid.uuid4()), "reason": "x"}, "unknown user"),
    ],
)
async def test_poison_is_recognised_and_leaves_nothing(
    container: Container, message_type: str, data: dict[str, Any], reason: str
) -> None:
    message_id = uuid.uuid4()
    with pytest.raises(PoisonMessage, match=reason):
        await container.inbound.apply(message_id, message_type, data)
    if reason == "unknown user":  # the claim rolled back with the rest: a fixed message could apply later
        user_id, _ = await signed_up(container)
        assert await container.inbound.apply(message_id, "user.deactivate", {"user_id": user_id, "reason": "x"})
