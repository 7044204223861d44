"""A throwaway server started on a thread of its own, so that its boot overlaps the tests run meanwhile.

A RabbitMQ node takes seconds to boot, most of them waiting on the Erlang VM; started as soon
as the suite knows it will be needed, it is ready, or nearly, when its first test asks.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from typing import Generic, TypeVar

Server = TypeVar("Server")


class BootingServer(Generic[Server]):
    """``server`` entered at once on a thread; :meth:`get` waits for it, :meth:`close` leaves it.

    A boot that failed raises from :meth:`get`, in the test that needed the server, as it would
    have had it been started there.
    """

    def __init__(self, server: AbstractContextManager[Server]) -> None:
        self._server = server
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="booting-server")
        self._entered = self._thread.submit(server.__enter__)

    def get(self) -> Server:
        return self._entered.result()

    def close(self) -> None:
        """Stop the server (once it has booted, if it did); a context that failed to enter has nothing to leave."""
        self._thread.shutdown()
        if self._entered.exception() is None:
            self._server.__exit__(None, None, None)
