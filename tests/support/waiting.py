"""Waiting, boundedly, for something that happens in another task or process."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

POLL_SECONDS = 0.1
#: The contract's bound for answering while a dependency is down or hung: a fast 503, never a hang.
ANSWER_WITHIN_SECONDS = 2.0


async def until(condition: Callable[[], Awaitable[object]], what: str, within: float) -> None:
    """Poll ``condition``; fail the test naming ``what`` if it is still false after ``within`` seconds."""
    for _ in range(max(1, round(within / POLL_SECONDS))):
        if await condition():
            return
        await asyncio.sleep(POLL_SECONDS)
    pytest.fail(f"{what} did not happen within {within:g} s")
