"""The account-email jobs as the use cases enqueue them, by task name.

By name, not through the registered handles, because the use cases are built before the
jobs that call them (``Jobs`` takes the use cases); the names are the ones ``Jobs``
registers the tasks under.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from taskiq import AsyncBroker
from taskiq.kicker import AsyncKicker

SEND_EMAIL_VERIFICATION = "send_email_verification"
SEND_PASSWORD_RESET = "send_password_reset"  # noqa: S105 - a name, not a secret


class TaskiqAccountEmailJobs:
    def __init__(self, broker: AsyncBroker) -> None:
        self._broker = broker

    async def send_email_verification(self, user_id: UUID, request_id: UUID) -> None:
        await self._kick(SEND_EMAIL_VERIFICATION, str(user_id), str(request_id))

    async def send_password_reset(self, email: str, request_id: UUID) -> None:
        await self._kick(SEND_PASSWORD_RESET, email, str(request_id))

    async def _kick(self, task_name: str, *args: Any) -> None:
        await AsyncKicker(task_name=task_name, broker=self._broker, labels={}).kiq(*args)
