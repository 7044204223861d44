"""``python -m app.interfaces.http.serve`` (``just serve``, the image): the API on HOST:PORT, WORKERS processes.

The settings are checked here, in the process that then runs uvicorn, and a refusal is
one line naming the variable and exit status 3: uvicorn's supervisor, with several
workers, ends with status 0 when its workers refuse to start, and would read a bad
``PORT`` itself, with its own message. Checking them in a separate interpreter first, as
the launchers once did, cost a whole interpreter start.

uvicorn runs as its command line would be given ``--factory
app.interfaces.http.app:create_app --no-access-log --no-proxy-headers --http
app.interfaces.http.protocol:BoundedHttpProtocol``: the protocol bounds each connection
(see ``app.interfaces.http.protocol``), and the app alone decides whose X-Forwarded-For to
believe (``app.interfaces.http.forwarded``), uvicorn's own handling being off.

**Workers are forked from a supervisor that imported the app once.** uvicorn starts each
worker as a fresh interpreter (multiprocessing's spawn), which imports the framework, the
ORM and the service again: about a second of CPU per worker, before it serves. Here the
supervisor imports the app's modules (it builds no app: no pool, no connection, no thread
exists yet) and its workers are forked, so each starts with them loaded and only builds
the app; a worker uvicorn restarts is forked the same way. The imports run with the
garbage collector paused, and what they made is frozen before the fork (``gc.freeze``):
no collection walks it again, in the supervisor or a worker, so the workers' pages stay
shared. uvicorn offers no choice of start method: its ``_subprocess.spawn`` context is the
one replaced, and ``tests/e2e/test_processes.py`` fails if the workers are not forked. With one worker,
the app is built in this process (paused likewise, resumed as it serves:
``app.interfaces.collector``). With ``LOG_FORMAT=json`` nothing imports what only
console logs use (``app.infrastructure.logging_imports``).
"""

from __future__ import annotations

from app.interfaces.collector import pause_collector, resume_collector

if __name__ == "__main__":
    pause_collector()

# Imported once the collector is paused: uvicorn (with click) and the settings are the first
# of the imports it would otherwise walk again and again.
import multiprocessing

import uvicorn
import uvicorn._subprocess
from uvicorn.importer import import_from_string

from app.infrastructure.config import load_settings_or_exit
from app.infrastructure.logging_imports import skip_console_only_imports

APP = "app.interfaces.http.app:create_app"
PROTOCOL = "app.interfaces.http.protocol:BoundedHttpProtocol"


def fork_workers_with_the_app_imported() -> None:
    """Import the app's modules here, freeze them, and have uvicorn fork its workers from this process.

    Called once the settings decided what to leave out (``skip_console_only_imports``):
    nothing logging-related may be imported before, hence the imports in here.
    """
    from app.interfaces.prometheus import leave_no_worker_files  # noqa: PLC0415 - see above

    import_from_string(APP)
    import_from_string(PROTOCOL)
    leave_no_worker_files()  # the metrics' declarations wrote some, under this process's pid
    resume_collector()  # freezes what the imports made, then collects what comes later
    uvicorn._subprocess.spawn = multiprocessing.get_context("fork")  # type: ignore[assignment]


def main() -> None:
    settings = load_settings_or_exit()
    skip_console_only_imports(settings)
    if settings.workers > 1:
        fork_workers_with_the_app_imported()
    uvicorn.run(
        APP,
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        http=PROTOCOL,
        access_log=False,
        proxy_headers=False,
    )


if __name__ == "__main__":
    main()
