"""deploy/observability: the alert rules and the dashboard's queries are valid PromQL, on series the service exports.

``promtool`` (Debian's ``prometheus`` package, which .ci/run installs) checks the rules, and
the dashboard's queries as recording rules of their own. Every ``app_*`` series either
names must be one a ``/metrics`` of the service reports: the HTTP app's (scraped
in-process), with the modules of the gRPC server, the consumer and the job worker loaded,
whose series their own endpoints report.
"""

from __future__ import annotations

import importlib
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from httpx import AsyncClient

ROOT = Path(__file__).resolve().parent.parent
OBSERVABILITY = ROOT / "deploy" / "observability"
RULES = OBSERVABILITY / "alerts.yaml"
DASHBOARD = OBSERVABILITY / "dashboard.json"
#: Where the series of the processes without HTTP are declared (their endpoints report them).
OTHER_PROCESSES = ("app.interfaces.grpc.metrics", "app.interfaces.consumer.metrics", "app.infrastructure.jobs.metrics")
SERIES = re.compile(r"\bapp_[a-z0-9_]+\b")
SAMPLE_SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}


def promtool() -> str:
    found = shutil.which("promtool")
    assert found, (
        "promtool is missing: install Debian's prometheus package (apt-get install prometheus, as .ci/run does)"
    )
    return found


def rule_expressions() -> list[str]:
    rules = yaml.safe_load(RULES.read_text())
    return [rule["expr"] for group in rules["groups"] for rule in group["rules"]]


def dashboard_expressions() -> list[str]:
    panels: list[dict[str, Any]] = json.loads(DASHBOARD.read_text())["panels"]
    return [target["expr"] for panel in panels for target in panel["targets"]]


def check_rules(path: Path) -> subprocess.CompletedProcess[str]:
    command = [promtool(), "check", "rules", str(path)]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


def test_the_alert_rules_pass_promtool() -> None:
    result = check_rules(RULES)

    assert result.returncode == 0, result.stdout + result.stderr
    assert len(rule_expressions()) >= 5


def test_the_dashboard_queries_are_valid_promql(tmp_path: Path) -> None:
    expressions = dashboard_expressions()
    as_rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [{"record": f"dashboard:query_{i}", "expr": e} for i, e in enumerate(expressions)],
            }
        ]
    }
    path = tmp_path / "dashboard-rules.yaml"
    path.write_text(yaml.safe_dump(as_rules))

    result = check_rules(path)

    assert result.returncode == 0, result.stdout + result.stderr


def test_a_broken_rule_fails_the_check(tmp_path: Path) -> None:
    """The check above can fail: promtool refuses an expression that does not parse."""
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "x", "rules": [{"alert": "A", "expr": "sum(rate(x[5m]"}]}]}))

    assert check_rules(path).returncode != 0


async def test_every_series_the_rules_and_dashboard_use_is_exported(client: AsyncClient) -> None:
    for module in OTHER_PROCESSES:
        importlib.import_module(module)
    await client.get("/health/live")  # the HTTP series exist once a request was measured
    exposition = (await client.get("/metrics")).text
    exported = {
        name.removesuffix("_total") + suffix
        for name, kind in re.findall(r"^# TYPE (\S+) (\S+)$", exposition, re.MULTILINE)
        for suffix in SAMPLE_SUFFIXES.get(kind, ("",))
    }

    used = {name for expression in rule_expressions() + dashboard_expressions() for name in SERIES.findall(expression)}

    assert used, "no series found in the rules and dashboard"
    assert used - exported == set()


@pytest.mark.parametrize("series", ["app_outbox_lag_seconds", "app_consumer_messages_total", "app_db_pool_waiting"])
def test_the_rules_cover_what_operators_are_paged_for(series: str) -> None:
    assert any(series in expression for expression in rule_expressions())
