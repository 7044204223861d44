"""The HTTP connection, bounded in time and size before the application sees a request.

uvicorn closes a keep-alive connection that stays idle, and nothing else: a client that
opens a connection and sends nothing, or sends its request head a byte at a time, or
never finishes its body, holds the connection for as long as it likes, and a request
head is buffered whole however long it grows (one 200 MiB header was taken in, the
process growing by as much). None of this reaches the application — it sees complete
heads only — so no middleware can bound it. This protocol, which ``just serve``, ``just dev``
and the image name with uvicorn's ``--http``, adds the bounds a reverse proxy would:

- a request must arrive whole, head and body, within ``HTTP_READ_TIMEOUT_SECONDS`` of its
  first byte (for a connection's first request: of the connection's opening). Past it the
  connection is closed: with a 408 problem if the head was incomplete, silently if nothing
  had been sent, and under the application's feet if it was waiting for the body (it sees
  the client disconnect);
- a request head (request line and headers) over ``MAX_REQUEST_HEAD_BYTES`` is answered
  431 and the connection closed;
- a connection idle between requests is closed after ``HTTP_KEEP_ALIVE_SECONDS`` (which
  replaces uvicorn's ``--timeout-keep-alive``).

A head counts as the bytes received while it is read and, once it is whole, as the request
target and header lines the parser reports: a head that arrives in one read is measured as
exactly as one that trickles in.

Every answer written here, below the application, is a problem in the contract's shape
(``instance`` is the request's path, or ``*`` when none could be read) with the headers the
application's middleware adds to its own: an error id, a request id, the security headers.
Besides the 408 and 431 above, these are the requests uvicorn's parser rejects — a bad
request line, method token, header name or value, ``Content-Length`` or chunked framing —
which uvicorn itself answers in plain text. An ``Upgrade`` request is served as plain HTTP:
the service has no WebSocket routes, and a WebSocket library's refusals are plain text too.
"""

from __future__ import annotations

import asyncio
import functools
import sys
import urllib.parse
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import httptools
import structlog
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from app.infrastructure.config import load_settings
from app.interfaces.errors import BAD_REQUEST, HEADERS_TOO_LARGE, REQUEST_TIMEOUT, new_error_id
from app.interfaces.http.guard import PROBLEM_JSON
from app.interfaces.http.problems import problem_document
from app.interfaces.http.security_headers import api_security_headers
from app.interfaces.request_id import REQUEST_ID_KEY, request_id

#: Request line and headers together; nginx's default allows 32 KiB, a bearer token is < 1 KiB.
MAX_REQUEST_HEAD_BYTES = 64 * 1024

#: How long a refused connection stays open to discard what the client still sends.
LINGER_SECONDS = 2.0
_REQUEST_ID_HEADER = REQUEST_ID_KEY.encode()

log = structlog.get_logger("app.access")


class _Answered(Exception):
    """Raised from a parser callback to stop the parser after the request has been answered."""


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
        self.ws_protocol_class = None  # see the module's docstring
        self.url = b""  # the parser's request target; uvicorn sets it only once a request begins
        bounds = connection_bounds()
        self.timeout_keep_alive = bounds.keep_alive_seconds
        self._read_timeout = bounds.read_timeout_seconds
        self._read_deadline: asyncio.TimerHandle | None = None
        #: Between a request's first byte and the end of its headers.
        self._reading_head = False
        #: Bytes received while reading the head, and the header lines' bytes the parser reported.
        self._head_bytes = 0
        self._header_line_bytes = 0
        self._head_began_in_this_chunk = False
        self._message_completed_in_this_chunk = False
        #: Set once the connection has answered a refusal: what the client still sends is discarded.
        self._answered = False
        self._deferred_answer: bytes | None = None
        self._linger: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._start_read_clock()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_read_clock()
        if self._linger is not None:
            self._linger.cancel()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._answered:
            return
        self._head_began_in_this_chunk = False
        self._message_completed_in_this_chunk = False
        super().data_received(data)
        if not self._reading_head or self._answered or self.transport.is_closing():
            return
        # A chunk that ended the previous request before this head began is not counted whole
        # (the split is unknown): the head's own lines in it are, once the parser reports them.
        if not (self._head_began_in_this_chunk and self._message_completed_in_this_chunk):
            self._head_bytes += len(data)
        if self._head_too_large():
            self._refuse_head()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._reading_head = True
        self._head_bytes = 0
        self._header_line_bytes = 0
        self._head_began_in_this_chunk = True
        if self._read_deadline is None:
            self._start_read_clock()

    def on_header(self, name: bytes, value: bytes) -> None:
        super().on_header(name, value)
        self._header_line_bytes += len(name) + len(value) + len(b": \r\n")

    def on_headers_complete(self) -> None:
        if self._head_too_large():
            self._refuse_head()
            raise _Answered  # before the application is started
        self._reading_head = False
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._message_completed_in_this_chunk = True
        self._stop_read_clock()

    def send_400_response(self, msg: str) -> None:
        """uvicorn's answer to a request its parser rejected; called while it handles the parser's error."""
        if self._answered:  # already (see _Answered)
            return
        self._refuse(HTTPStatus.BAD_REQUEST, BAD_REQUEST, _parser_error_detail(sys.exception()))

    def _unsupported_upgrade_warning(self) -> None:
        """An ``Upgrade`` a server does not take up is simply ignored (RFC 9110, section 7.8)."""

    def _head_too_large(self) -> bool:
        request_line = len(self.parser.get_method()) + len(self.url) + len(b"  HTTP/1.1\r\n")
        parsed = request_line + self._header_line_bytes + len(b"\r\n")
        return max(self._head_bytes, parsed) > MAX_REQUEST_HEAD_BYTES

    def _refuse_head(self) -> None:
        self._refuse(
            HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE,
            HEADERS_TOO_LARGE,
            f"The request line and headers exceed {MAX_REQUEST_HEAD_BYTES} bytes",
        )

    def _start_read_clock(self) -> None:
        self._read_deadline = self.loop.call_later(self._read_timeout, self._read_timed_out)

    def _stop_read_clock(self) -> None:
        if self._read_deadline is not None:
            self._read_deadline.cancel()
            self._read_deadline = None

    def _read_timed_out(self) -> None:
        self._read_deadline = None
        if self._answered or self.transport.is_closing():
            return
        if self._reading_head and self._answering_earlier():  # the wait is the server's, not the client's
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
        """Answer a problem and end the connection: no request reached the application."""
        error_id = new_error_id()
        sent_id = next((value for name, value in self.headers or () if name == _REQUEST_ID_HEADER), None)
        request = request_id(sent_id.decode("latin-1") if sent_id is not None else None)
        body = problem_document(status.value, detail, instance=self._instance(), error_id=error_id, code=code)
        headers = [
            *self.server_state.default_headers,
            (b"content-type", PROBLEM_JSON),
            (b"content-length", str(len(body)).encode()),
            (b"x-error-id", error_id.encode()),
            (_REQUEST_ID_HEADER, request.encode()),
            *api_security_headers(https=self.scheme == "https"),
            (b"connection", b"close"),
        ]
        status_line = f"HTTP/1.1 {status.value} {status.phrase}\r\n".encode()
        fields = b"".join(name + b": " + value + b"\r\n" for name, value in headers)
        answer = status_line + fields + b"\r\n" + body
        self._answered = True
        self._stop_read_clock()
        current = None if self._reading_head else self.cycle  # whose body was being read
        if current is not None and not current.response_complete:
            if current.response_started:  # too late for another answer
                self.transport.close()
                return
            # The application waits for a body that will not come: it sees the client leave.
            current.disconnected = True
            current.message_event.set()
            self._send_last_answer(answer)
        elif self._answering_earlier():
            # Answers go out in the order of the requests: this one follows the earlier ones'.
            self._deferred_answer = answer
        else:
            self._send_last_answer(answer)
        client = f"{self.client[0]}:{self.client[1]}" if self.client else None
        log.info(
            "request_rejected",
            detail=detail,
            error_id=error_id,
            request_id=request,
            status=status.value,
            code=code,
            client=client,
        )

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self._deferred_answer is not None and not self._answering_earlier() and not self.transport.is_closing():
            answer, self._deferred_answer = self._deferred_answer, None
            self._unset_keepalive_if_required()
            self._send_last_answer(answer)

    def _answering_earlier(self) -> bool:
        """Whether an earlier request on this connection is still being answered."""
        return bool(self.pipeline) or (self.cycle is not None and not self.cycle.response_complete)

    def _send_last_answer(self, answer: bytes) -> None:
        """Write the answer, then close once the client has read it, not at once (a "lingering close").

        Closing a socket with unread data resets the connection, and the reset can destroy
        the answer before the client reads it: a client still sending an oversized head
        would see a reset instead of the 431. So the connection is half-closed (the answer
        and then end of file go out), what the client still sends is discarded, and it is
        closed when the client closes its side, or after LINGER_SECONDS at the latest.
        """
        self.transport.write(answer)
        if not self.transport.can_write_eof():
            self.transport.close()
            return
        self.transport.write_eof()
        self._linger = self.loop.call_later(LINGER_SECONDS, self.transport.close)

    def _instance(self) -> str:
        """The request's path as the application would give it, or ``*`` when none could be read."""
        if self.url.startswith(b"/"):  # origin form; the parser's URL splitter stops at 64 KiB
            path: bytes | None = self.url.partition(b"?")[0].partition(b"#")[0]
        else:
            try:
                path = httptools.parse_url(self.url).path if self.url else None
            except httptools.HttpParserInvalidURLError:
                path = None
        return urllib.parse.unquote(path.decode("latin-1")) if path else "*"


def _parser_error_detail(error: BaseException | None) -> str:
    """The parser's own reason (a fixed phrase, never the request's bytes) when it gave one."""
    detail = "The request is not valid HTTP/1.1"
    if isinstance(error, httptools.HttpParserError) and not isinstance(error, httptools.HttpParserCallbackError):
        reason = str(error).strip().rstrip(".")
        return f"{detail}: {reason}" if reason else detail
    return detail
