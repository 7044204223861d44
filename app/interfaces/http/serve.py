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
believe (``app.interfaces.http.forwarded``), uvicorn's own handling being off. The app and
the protocol are named, not imported: the supervisor imports neither, and each worker
imports them itself.

A worker is a fresh interpreter (multiprocessing's spawn) whose first act is to run this
module again, as ``__mp_main__``, before anything of uvicorn or the app: the garbage
collector is paused there, for the imports and the app's creation, and resumed once the
worker serves (``app.interfaces.collector``). There too, with ``LOG_FORMAT=json``, the
worker is kept from importing what only console logs use
(``app.infrastructure.logging_imports``). With one worker, the app is built in this
process, which does the same.
"""

from __future__ import annotations

from app.interfaces.collector import pause_collector, resume_collector

if __name__ in {"__main__", "__mp_main__"}:
    pause_collector()

# Imported once the collector is paused: uvicorn (with click) and the settings are the first
# of the imports it would otherwise walk again and again.
import uvicorn

from app.infrastructure.config import load_settings_or_exit
from app.infrastructure.logging_imports import skip_console_only_imports

if __name__ == "__mp_main__":
    skip_console_only_imports(load_settings_or_exit())

APP = "app.interfaces.http.app:create_app"
PROTOCOL = "app.interfaces.http.protocol:BoundedHttpProtocol"


def main() -> None:
    settings = load_settings_or_exit()
    skip_console_only_imports(settings)
    if settings.workers > 1:
        resume_collector()  # this process only supervises: the workers build the app
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
