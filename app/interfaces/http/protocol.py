"""The HTTP connection, bounded in time and size before the application sees a request.

uvicorn closes a keep-alive connection that stays idle, and nothing else: a client that
opens a connection and sends nothing, or sends its request head a byte at a time, or
never finishes its body, holds the connection for as long as it likes, and a request
head is buffered whole however long it grows (one 200 MiB header was taken in, the
process growing by as much). None of this reaches the application — it sees complete
heads only — so no middleware can bound it. This protocol, which ``just serve`` names
with uvicorn's ``--http``, adds the bounds a reverse proxy would:

- a request must arrive whole, head and body, within ``HTTP_READ_TIMEOUT_SECONDS`` of its
  first byte (for a connection's first request: of the connection's opening). Past it the
  connection is closed: with a 408 problem if the head was incomplete, silently if nothing
  had been sent, and under the application's feet if it was waiting for the body (it sees
  the client disconnect);
- a request head (request line and headers) over ``MAX_REQUEST_HEAD_BYTES`` is answered
  431 and the connection closed;
- a connection idle between requests is closed after ``HTTP_KEEP_ALIVE_SECONDS`` (which
  replaces uvicorn's ``--timeout-keep-alive``).

The 408 and 431 answers are written here, below the application: problem bodies with a
code and an error id (logged), but without the headers the application's middleware adds.
"""

from __future__ import annotations

import asyncio
import functools
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import msgspec
import structlog
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from app.infrastructure.config import load_settings
from app.interfaces.errors import HEADERS_TOO_LARGE, REQUEST_TIMEOUT, new_error_id

#: Request line and headers together; nginx's default allows 32 KiB, a bearer token is < 1 KiB.
MAX_REQUEST_HEAD_BYTES = 64 * 1024

log = structlog.get_logger("app.access")


@dataclass(frozen=True, slots=True)
class ConnectionBounds:
    read_timeout_seconds: float
    keep_alive_seconds: int


@functools.cache
def connection_bounds() -> ConnectionBounds:
    """Read once per worker process, from the settings every worker reads anyway."""
    settings = load_settings()
    return ConnectionBounds(settings.http_read_timeout_seconds, settings.http_keep_alive_seconds)


class BoundedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a deadline on reading each request and a bound on its head."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        bounds = connection_bounds()
        self.timeout_keep_alive = bounds.keep_alive_seconds
        self._read_timeout = bounds.read_timeout_seconds
        self._read_deadline: asyncio.TimerHandle | None = None
        #: Between a request's first byte and the end of its headers.
        self._reading_head = False
        self._head_bytes = 0
        self._head_began_in_this_chunk = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._start_read_clock()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_read_clock()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        self._head_began_in_this_chunk = False
        super().data_received(data)
        # The chunk in which a head began may also hold the end of the previous request, so
        # it is not counted: the bound is loose by at most one read (256 KiB), never absent.
        if self._reading_head and not self._head_began_in_this_chunk and not self.transport.is_closing():
            self._head_bytes += len(data)
            if self._head_bytes > MAX_REQUEST_HEAD_BYTES:
                self._refuse(
                    HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE,
                    HEADERS_TOO_LARGE,
                    f"The request line and headers exceed {MAX_REQUEST_HEAD_BYTES} bytes",
                )

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._reading_head = True
        self._head_bytes = 0
        self._head_began_in_this_chunk = True
        if self._read_deadline is None:
            self._start_read_clock()

    def on_headers_complete(self) -> None:
        self._reading_head = False
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._stop_read_clock()

    def _start_read_clock(self) -> None:
        self._read_deadline = self.loop.call_later(self._read_timeout, self._read_timed_out)

    def _stop_read_clock(self) -> None:
        if self._read_deadline is not None:
            self._read_deadline.cancel()
            self._read_deadline = None

    def _read_timed_out(self) -> None:
        self._read_deadline = None
        if self.transport.is_closing():
            return
        answering_earlier = self._reading_head and self.cycle is not None and not self.cycle.response_complete
        if self.pipeline or answering_earlier:  # the wait is the server's, not the client's
            self._start_read_clock()
            return
        if self._reading_head:
            self._refuse(
                HTTPStatus.REQUEST_TIMEOUT,
                REQUEST_TIMEOUT,
                f"The request did not arrive whole within {self._read_timeout:g} seconds",
            )
        else:
            self.transport.close()

    def _refuse(self, status: HTTPStatus, code: str, detail: str) -> None:
        """Answer a problem and close the connection: no request reached the application."""
        error_id = new_error_id()
        body = msgspec.json.encode(
            {
                "type": "about:blank",
                "title": status.phrase,
                "status": status.value,
                "detail": detail,
                "code": code,
                "error_id": error_id,
            }
        )
        head = (
            f"HTTP/1.1 {status.value} {status.phrase}\r\n"
            "content-type: application/problem+json\r\n"
            f"content-length: {len(body)}\r\n"
            f"x-error-id: {error_id}\r\n"
            "connection: close\r\n\r\n"
        )
        self.transport.write(head.encode("ascii") + body)
        self.transport.close()
        client = f"{self.client[0]}:{self.client[1]}" if self.client else None
        log.info("request_rejected", detail=detail, error_id=error_id, status=status.value, code=code, client=client)
