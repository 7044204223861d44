"""Deleting sessions that are over, so that the tables hold only what authentication can still use."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from app.application.ports import Clock, UnitOfWorkFactory

#: Sessions deleted per transaction.
BATCH_SIZE = 1000


@dataclass(kw_only=True, eq=False)
class SessionPurge:
    """Deletes ended sessions, with their refresh tokens; run hourly by the scheduler.

    A session has ended once it expired (``expires_at``) or was revoked (``revoked_at``).
    It is deleted once it has been over for ``retention`` (an hour by default), not at
    once: until then a refresh racing its session's expiry, or a spent refresh token
    replayed just after a revocation, still finds the session and gets the precise answer.
    Refresh tokens live and die with their session; live sessions, users and everything
    else are left alone.

    Rows go in batches of ``batch_size``, one transaction each, so a large backlog never
    holds locks for long.
    """

    uow: UnitOfWorkFactory
    clock: Clock
    retention: timedelta = timedelta(hours=1)
    batch_size: int = BATCH_SIZE

    async def purge(self) -> int:
        """Delete every session that ended more than ``retention`` ago; returns how many."""
        # Fixed for the whole run: no session can end before it later, so the loop ends.
        before = self.clock() - self.retention
        total = 0
        while True:
            async with self.uow() as uow:
                deleted = await uow.sessions.delete_ended(before, self.batch_size)
                await uow.commit()
            total += deleted
            if deleted < self.batch_size:
                return total
