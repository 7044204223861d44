"""Password hashing as spans: argon2 is the slowest step of a sign-up or sign-in, worth seeing apart."""

from __future__ import annotations

from collections.abc import Sequence

from opentelemetry import trace

from app.application.auth.ports import PasswordHasher

_tracer = trace.get_tracer("app.passwords")


class TracedPasswordHasher:
    """A ``PasswordHasher`` whose every hash and verification is a span around the one it wraps."""

    def __init__(self, hasher: PasswordHasher) -> None:
        self._hasher = hasher

    async def hash(self, password: str) -> str:
        with _tracer.start_as_current_span("argon2 hash"):
            return await self._hasher.hash(password)

    async def hash_many(self, passwords: Sequence[str]) -> list[str]:
        with _tracer.start_as_current_span("argon2 hash_many", attributes={"app.passwords.count": len(passwords)}):
            return await self._hasher.hash_many(passwords)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        with _tracer.start_as_current_span("argon2 verify"):
            return await self._hasher.verify(password_hash, password)

    def needs_rehash(self, password_hash: str) -> bool:
        return self._hasher.needs_rehash(password_hash)
