"""An API worker builds its app with the garbage collector paused, and resumes it as it serves.

``python -m app.interfaces.http.serve`` pauses the collector before it imports anything;
with several workers it imports the app's modules, freezes them and forks the workers
from itself; with one it builds the app itself and resumes collecting as it serves. Each
check runs in a fresh interpreter, since pausing, freezing and resuming the collector are
process-wide.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: Builds and serves the app, printing whether the collector runs after each step and how
#: many objects are frozen once it serves.
SERVE = (
    "import asyncio, gc\n"
    "from app.interfaces.http.app import create_app\n"
    "app = create_app()\n"
    "print(gc.isenabled())\n"
    "async def main():\n"
    "    async with app.lifespan():\n"
    "        print(gc.isenabled(), gc.get_freeze_count())\n"
    "asyncio.run(main())\n"
)
PAUSED = "from app.interfaces.collector import pause_collector\npause_collector()\n"
#: What the supervisor of several workers does before uvicorn forks them.
SUPERVISOR = (
    PAUSED + "import gc, sys, uvicorn._subprocess\n"
    "from app.interfaces.http import serve\n"
    "serve.fork_workers_with_the_app_imported()\n"
    "print(gc.isenabled(), gc.get_freeze_count(), 'app.interfaces.http.app' in sys.modules,"
    " uvicorn._subprocess.spawn.get_start_method())\n"
)


def run(script: str, tmp_path: Path) -> list[str]:
    # The embedded database and generated key go to a private folder, never the checkout's.
    env = {**os.environ, "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/app.db", "BROKER_URL": "", "REDIS_URL": ""}
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=90, check=True
    )
    return result.stdout.split()


def test_a_single_worker_builds_the_app_paused_and_freezes_it_as_it_serves(tmp_path: Path) -> None:
    built, serving, frozen = run(PAUSED + SERVE, tmp_path)

    assert (built, serving) == ("False", "True")
    assert int(frozen) > 100_000  # the app and everything imported to build it


def test_the_supervisor_of_several_workers_imports_the_app_freezes_it_and_forks(tmp_path: Path) -> None:
    """The workers start with the app's modules loaded and frozen; uvicorn's start method is replaced."""
    collecting, frozen, imported, start_method = run(SUPERVISOR, tmp_path)

    assert (collecting, imported, start_method) == ("True", "True", "fork")
    assert int(frozen) > 100_000


def test_importing_the_entry_point_leaves_the_collector_alone(tmp_path: Path) -> None:
    """As uvicorn or a test imports it: only a process it starts is paused."""
    assert run("import gc, app.interfaces.http.serve\nprint(gc.isenabled())\n", tmp_path) == ["True"]


def test_an_app_built_with_collections_running_is_not_frozen(tmp_path: Path) -> None:
    """A process nothing paused (tests, ``uvicorn`` run directly) keeps its objects collectable."""
    built, serving, frozen = run(SERVE, tmp_path)

    assert (built, serving, frozen) == ("True", "True", "0")
