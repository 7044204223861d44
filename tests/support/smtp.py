"""A real SMTP server for the tests: aiosmtpd on a free loopback port, in a thread of the test process.

It keeps every message it accepts (``messages``) and counts every message it was offered
(``attempts``), accepted or not. A test can make it misbehave the way mail servers do:

- ``refuse(n)``: answer the next ``n`` messages ``451`` (try again later), as a server that
  is down or overloaded; ``refuse_all()`` for one that never recovers;
- ``reject(n)``: answer the next ``n`` messages ``550``, a permanent refusal;
- ``stall(n)``: hold the next ``n`` messages without answering until ``release()``, so a test
  can kill the sender mid-conversation; a held message is then refused, never kept.

Its thread runs its own event loop, so processes the test starts (a worker) talk to it
while the test's own loop waits.
"""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.message
import email.policy
import socket
import threading
from collections import deque
from collections.abc import Iterator

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

__all__ = ["SmtpSink", "smtp_sink"]

_STARTUP_TIMEOUT_SECONDS = 30.0
_LONGEST_STALL_SECONDS = 60.0
_POLL_SECONDS = 0.05
_REFUSAL = "451 4.3.0 Temporarily unavailable, try again later"
_REJECTION = "550 5.7.1 Message rejected"
_STALL = "stall"


class SmtpSink:
    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []
        self.attempts = 0
        #: Set when a held message arrives: the sender is now mid-conversation.
        self.stalled = threading.Event()
        self._released = threading.Event()
        self._plan: deque[str] = deque()  # What the next messages get, in order; then acceptance.
        self._refuse_all = False
        self._lock = threading.Lock()
        self._controller: Controller | None = None

    @property
    def url(self) -> str:
        if self._controller is None:
            raise RuntimeError("the SMTP server is not running")
        return f"smtp://127.0.0.1:{self._controller.port}"

    def refuse(self, count: int) -> None:
        self._then(_REFUSAL, count)

    def refuse_all(self) -> None:
        self._refuse_all = True

    def reject(self, count: int) -> None:
        self._then(_REJECTION, count)

    def stall(self, count: int) -> None:
        self._then(_STALL, count)

    def _then(self, answer: str, count: int) -> None:
        with self._lock:
            self._plan.extend([answer] * count)

    def release(self) -> None:
        self._released.set()

    async def wait_for(self, count: int, within: float) -> list[email.message.EmailMessage]:
        """The messages kept, once there are ``count`` of them (or once ``within`` seconds have passed)."""
        for _ in range(round(within / _POLL_SECONDS)):
            if len(self.messages) >= count:
                break
            await asyncio.sleep(_POLL_SECONDS)
        return list(self.messages)

    async def receive(self, envelope: Envelope) -> str:
        """One message offered (the DATA command): refuse it, hold it, or keep it."""
        with self._lock:
            self.attempts += 1
            answer = self._plan.popleft() if self._plan else _REFUSAL if self._refuse_all else None
        if answer == _STALL:
            self.stalled.set()
            # On a thread: the server's loop goes on with other conversations meanwhile.
            await asyncio.to_thread(self._released.wait, _LONGEST_STALL_SECONDS)
            return _REFUSAL
        if answer is not None:
            return answer
        # SMTP's CRLF line ends turned into newlines, as a mailbox stores them.
        content = (envelope.original_content or b"").replace(b"\r\n", b"\n")
        message = email.message_from_bytes(content, policy=email.policy.default)
        assert isinstance(message, email.message.EmailMessage)
        self.messages.append(message)
        return "250 2.0.0 Message accepted"

    def start(self) -> None:
        handler = _Handler(self)
        port = _free_port()
        controller = Controller(handler, hostname="127.0.0.1", port=port, ready_timeout=_STARTUP_TIMEOUT_SECONDS)
        controller.start()
        self._controller = controller

    def stop(self) -> None:
        self._released.set()  # Held conversations end, or the server's thread would wait for them.
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


class _Handler:
    """What aiosmtpd calls (it inspects its handler's every attribute, so the sink is kept apart)."""

    def __init__(self, sink: SmtpSink) -> None:
        self._sink = sink

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802 - aiosmtpd's name
        return await self._sink.receive(envelope)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def smtp_sink() -> Iterator[SmtpSink]:
    """A started sink, stopped on exit whatever happened."""
    sink = SmtpSink()
    sink.start()
    try:
        yield sink
    finally:
        sink.stop()
