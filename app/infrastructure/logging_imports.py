"""What a process that logs JSON lines need not import for its logging.

structlog imports rich whenever it is installed (Litestar's command line needs it, so it
always is), for the console renderer's tracebacks: some 80 ms of an API worker's start, for
output that JSON lines (``LOG_FORMAT=json``, production) never contain; exceptions are
rendered by ``format_exc_info`` either way. Marked absent before structlog is imported,
rich is skipped as if missing (structlog catches the ``ImportError``). Nothing else a
serving process imports uses rich; a process that imported it already keeps it.
"""

from __future__ import annotations

import sys

from app.infrastructure.config import Settings

#: Imported by structlog only for the console renderer.
CONSOLE_ONLY = ("rich",)


def skip_console_only_imports(settings: Settings) -> None:
    """With JSON lines, keep structlog from importing what only the console renderer uses."""
    if settings.log_format != "json":
        return
    for module in CONSOLE_ONLY:
        sys.modules.setdefault(module, None)  # type: ignore[arg-type]
