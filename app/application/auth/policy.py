"""Token lifetimes and sign-in rules, decided by settings and read by the use cases."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta


@dataclass(frozen=True, slots=True)
class TokenPolicy:
    access_ttl: timedelta
    refresh_ttl: timedelta
    #: ``REQUIRE_VERIFIED_EMAIL``: the right password is not enough while the address is unverified.
    require_verified_email: bool = False
