"""Token lifetimes, decided by settings and read by the use cases."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta


@dataclass(frozen=True, slots=True)
class TokenPolicy:
    access_ttl: timedelta
    refresh_ttl: timedelta
