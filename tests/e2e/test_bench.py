"""``just bench``'s smallest scenario, end to end: wrk against the service as the load test starts it."""

from __future__ import annotations

import asyncio
from pathlib import Path

from app.infrastructure.config import load_settings
from bench import scenarios, servers, wrk
from bench.measure import Result
from bench.run import service_env
from bench.scenarios import Targets


def _health_scenario(database_url: str, redis_url: str, log_dir: Path) -> tuple[Result, dict[int, int]]:
    wrk_path = wrk.ensure_installed()
    env = service_env(database_url, redis_url, workers=1)
    with servers.serving(servers.ServerSpec("service", ["just", "serve"], env, "/health/live"), log_dir) as service:
        health = next(s for s in scenarios.scenarios(cursor_depth=1) if s.name == scenarios.HEALTH)
        settings = load_settings(env, env_file=None)
        targets = Targets(wrk_path, settings, service.base_url, "", "", "", "", "", "")
        [(name, result)] = health.run(targets, seconds=1)
        assert name == scenarios.HEALTH
        return result, servers.worker_rss_bytes(service.base_url)


async def test_the_health_scenario_measures_a_real_server(database_url: str, redis_url: str, tmp_path: Path) -> None:
    result, rss = await asyncio.to_thread(_health_scenario, database_url, redis_url, tmp_path)

    assert result.operations > 0
    assert result.errors == 0
    assert 0 < result.p50_ms <= result.p99_ms
    assert len(rss) == 1
    assert all(10 * 2**20 < size < 2**30 for size in rss.values())
