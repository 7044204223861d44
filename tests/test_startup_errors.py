"""Every process and recipe refuses bad settings with one line naming the variable: no traceback.

Each command runs as an operator runs it (the ``just`` recipe), with one bad setting;
it must exit non-zero, and the last thing it says must be one line that names the
variable. No server is needed: the settings are refused before anything connects.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: Every process and command that reads the settings, as its recipe.
RECIPES = {
    "serve": ["just", "serve"],
    "dev": ["just", "dev"],
    "grpc": ["just", "grpc"],
    "consumer": ["just", "consumer"],
    "worker": ["just", "worker"],
    "scheduler": ["just", "scheduler"],
    "migrate": ["just", "migrate"],
    "create-admin": ["just", "create-admin", "root@example.com"],
    "demo": ["just", "demo"],
}
#: (bad settings, the variable the one line must name, words it must contain).
BAD_SETTINGS = {
    "nonsense database url": ({"DATABASE_URL": "nonsense"}, "DATABASE_URL", "unsupported scheme"),
    "database url of another driver": (
        {"DATABASE_URL": "mysql://user:s3cret@db/app"},
        "DATABASE_URL",
        "unsupported scheme 'mysql'",
    ),
    "production without a database": (
        {"APP_ENV": "prod", "SECRET_KEY": "k" * 40, "DATABASE_URL": ""},
        "DATABASE_URL",
        "required when APP_ENV=prod",
    ),
    "production without a key": ({"APP_ENV": "prod", "SECRET_KEY": ""}, "SECRET_KEY", "required"),
    "port not a number": ({"PORT": "eighty"}, "PORT", "int"),
    "redis url of another scheme": ({"REDIS_URL": "http://cache:6379"}, "REDIS_URL", "unsupported scheme 'http'"),
}


def run(command: list[str], settings: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    # The embedded database and generated key go to a private folder, never the checkout's.
    env = {**os.environ, "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/app.db", **settings}
    return subprocess.run(
        command, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120, check=False
    )


def assert_refused_in_one_line(result: subprocess.CompletedProcess[str], variable: str, words: str) -> None:
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "Traceback" not in output, output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines, output
    last = lines[-1]
    assert last.startswith(f"Invalid setting: {variable}: "), output
    assert words in last, output
    assert "s3cret" not in output


@pytest.mark.parametrize("recipe", RECIPES)
def test_every_recipe_refuses_a_bad_setting_in_one_line(recipe: str, tmp_path: Path) -> None:
    result = run(RECIPES[recipe], {"DATABASE_URL": "nonsense", "REDIS_URL": "redis://127.0.0.1:1/0"}, tmp_path)

    assert_refused_in_one_line(result, "DATABASE_URL", "unsupported scheme none")


@pytest.mark.parametrize("case", BAD_SETTINGS)
@pytest.mark.parametrize("recipe", ["serve", "grpc"])
def test_each_kind_of_bad_setting_is_named(recipe: str, case: str, tmp_path: Path) -> None:
    settings, variable, words = BAD_SETTINGS[case]

    assert_refused_in_one_line(run(RECIPES[recipe], settings, tmp_path), variable, words)


@pytest.mark.parametrize(
    ("recipe", "settings", "variable"),
    [("worker", {"REDIS_URL": ""}, "REDIS_URL"), ("scheduler", {"REDIS_URL": ""}, "REDIS_URL")],
)
def test_a_process_missing_the_server_it_needs_says_which(
    recipe: str, settings: dict[str, str], variable: str, tmp_path: Path
) -> None:
    assert_refused_in_one_line(run(RECIPES[recipe], settings, tmp_path), variable, "required")


def test_the_consumer_without_a_broker_says_so(tmp_path: Path) -> None:
    assert_refused_in_one_line(run(RECIPES["consumer"], {"BROKER_URL": ""}, tmp_path), "BROKER_URL", "required")


@pytest.mark.parametrize(
    "command",
    [
        ["python", "-m", "app.infrastructure.config"],
        ["python", "-m", "app.interfaces.http.serve"],
        ["uvicorn", "--factory", "app.interfaces.http.app:create_app"],
        ["alembic", "upgrade", "head"],
        ["python", "-m", "app.interfaces.grpc"],
    ],
    ids=["settings-check", "serve", "uvicorn", "alembic", "grpc"],
)
def test_the_processes_started_without_just_also_say_it_in_one_line(command: list[str], tmp_path: Path) -> None:
    """As the image, compose and Kubernetes start them (the check first, before a supervisor that would exit 0)."""
    executable = Path(sys.executable).parent / command[0]
    result = run([str(executable), *command[1:]], {"DATABASE_URL": "nonsense"}, tmp_path)

    assert_refused_in_one_line(result, "DATABASE_URL", "unsupported scheme none")
