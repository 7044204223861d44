"""An API worker builds its app with the garbage collector paused, and resumes it as it serves.

``python -m app.interfaces.http.serve`` starts each worker as multiprocessing's spawn does:
a fresh interpreter that runs the main module first, as ``__mp_main__``. Each check runs in
a fresh interpreter, since pausing, freezing and resuming the collector are process-wide.
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
AS_A_WORKER = (
    "import gc, runpy\n"
    "runpy.run_module('app.interfaces.http.serve', run_name='__mp_main__')\n"
    "print(gc.isenabled())\n"
)  # fmt: skip


def run(script: str, tmp_path: Path) -> list[str]:
    # The embedded database and generated key go to a private folder, never the checkout's.
    env = {**os.environ, "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/app.db", "BROKER_URL": "", "REDIS_URL": ""}
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=90, check=True
    )
    return result.stdout.split()


def test_a_worker_builds_the_app_paused_and_freezes_it_as_it_serves(tmp_path: Path) -> None:
    started, built, serving, frozen = run(AS_A_WORKER + SERVE, tmp_path)

    assert (started, built, serving) == ("False", "False", "True")
    assert int(frozen) > 100_000  # the app and everything imported to build it


def test_importing_the_entry_point_leaves_the_collector_alone(tmp_path: Path) -> None:
    """As uvicorn or a test imports it: only a process it starts is paused."""
    assert run("import gc, app.interfaces.http.serve\nprint(gc.isenabled())\n", tmp_path) == ["True"]


def test_an_app_built_with_collections_running_is_not_frozen(tmp_path: Path) -> None:
    """A process nothing paused (tests, ``uvicorn`` run directly) keeps its objects collectable."""
    built, serving, frozen = run(SERVE, tmp_path)

    assert (built, serving, frozen) == ("True", "True", "0")
