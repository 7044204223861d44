"""The files a fork's forge and contributors use: CI, dependency updates, pre-commit, licence."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent


def load(path: str) -> Any:
    return yaml.safe_load((ROOT / path).read_text())


def test_ci_runs_the_ci_script_and_builds_the_image() -> None:
    workflow = load(".github/workflows/ci.yml")
    steps = {
        name: [step.get("run", step.get("uses", "")) for step in job["steps"]] for name, job in workflow["jobs"].items()
    }

    assert "bash .ci/run" in steps["test"]
    assert workflow["jobs"]["test"]["container"] == "debian:12"
    assert any(step.startswith("docker/build-push-action@") for step in steps["image"])
    assert "exec just test" in (ROOT / ".ci" / "run").read_text()


def test_dependency_updates_cover_the_lock_the_actions_and_the_image() -> None:
    ecosystems = {update["package-ecosystem"] for update in load(".github/dependabot.yml")["updates"]}

    assert ecosystems == {"uv", "github-actions", "docker"}


def test_pre_commit_runs_ruff_and_mypy_from_the_locked_environment() -> None:
    hooks = {hook["id"]: hook for repo in load(".pre-commit-config.yaml")["repos"] for hook in repo["hooks"]}

    assert {"ruff-check", "ruff-format", "mypy", "trailing-whitespace", "check-yaml"} <= set(hooks)
    for name in ("ruff-check", "ruff-format", "mypy"):
        assert hooks[name]["entry"].startswith("uv run --frozen "), name


def test_the_licence_is_the_one_the_package_declares() -> None:
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["license"]["text"]

    assert declared == "MIT"
    assert (ROOT / "LICENSE").read_text().startswith("MIT License\n")
