"""The AsyncAPI document (``just asyncapi``) describes both directions of the broker contract."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def test_the_document_names_every_channel(tmp_path: Path) -> None:
    out = tmp_path / "asyncapi.json"
    env = {**os.environ, "BROKER_URL": "amqp://localhost:5672/", "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/x.db"}
    faststream = Path(sys.executable).parent / "faststream"
    generated = subprocess.run(
        [faststream, "docs", "gen", "--factory", "app.interfaces.consumer:create_app", "--out", str(out)],
        env=env, capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert generated.returncode == 0, generated.stdout + generated.stderr

    document = json.loads(out.read_text())
    assert document["asyncapi"].startswith("3.")
    assert set(document["channels"]) == {
        "app.inbound",
        *(f"app.events:{t}" for t in ("user.registered", "user.profile_updated", "user.deactivated",
                                       "user.password_changed", "user.role_changed", "user.email_verified",
                                       "organization.created", "organization.member_joined",
                                       "organization.member_removed", "organization.member_role_changed",
                                       "task.created", "task.updated", "task.assigned", "task.completed",
                                       "task.deleted")),
    }  # fmt: skip
    actions = {operation["action"] for operation in document["operations"].values()}
    assert actions == {"send", "receive"}
    # Each event's payload: the envelope, with its type as a constant and its data's fields.
    schemas = document["components"]["schemas"]
    registered = schemas["UserRegisteredEnvelope"]
    assert registered["required"] == ["id", "type", "occurred_at", "version", "data"]
    assert registered["properties"]["type"]["const"] == "user.registered"
    assert set(schemas["UserRegisteredData"]["properties"]) == {"user_id", "email"}
    assert set(schemas["UserRoleChangedData"]["properties"]) == {"user_id", "role"}
