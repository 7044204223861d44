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
"""

from __future__ import annotations

import uvicorn

from app.infrastructure.config import load_settings_or_exit

APP = "app.interfaces.http.app:create_app"
PROTOCOL = "app.interfaces.http.protocol:BoundedHttpProtocol"


def main() -> None:
    settings = load_settings_or_exit()
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
