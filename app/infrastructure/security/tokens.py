"""Access tokens (signed JWTs) and refresh tokens (random secrets stored as hashes)."""

from __future__ import annotations

import functools
import hashlib
import secrets
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from uuid import UUID

import jwt
import uuid_utils.compat as uuid_utils

from app.application.auth.ports import AccessClaims
from app.domain.errors import Unauthorized

_ALGORITHM = "HS256"
_ACCESS = "access"
_REQUIRED_CLAIMS = ["exp", "iat", "sub", "sid", "typ", "jti"]
#: Tokens verified recently, per process: at most this many (a few hundred bytes each).
VERIFIED_CACHE_SIZE = 4096


class JwtAccessTokenCodec:
    """HS256 JWTs carrying the user (``sub``) and session (``sid``).

    The algorithm is pinned on decode, so ``alg: none`` and algorithm-confusion tokens are
    rejected before their claims are read.

    A client presents the same access token on every request until it expires, and
    verifying it with PyJWT was the largest single cost of an authenticated request (it
    checks the token's alphabet character by character in Python). So the claims of
    tokens that passed are remembered, keyed by the exact token text, and only their
    expiry is checked again; any other text, a tampered copy included, is verified in
    full. Failures are never remembered.
    """

    def __init__(self, secret_key: str, ttl: timedelta, clock: Callable[[], float] = time.time) -> None:
        self._key = secret_key
        self._ttl = ttl
        self._clock = clock
        self._verified = functools.lru_cache(maxsize=VERIFIED_CACHE_SIZE)(self._verify)

    def issue(self, claims: AccessClaims, now: datetime) -> str:
        payload = {
            "sub": str(claims.user_id),
            "sid": str(claims.session_id),
            "typ": _ACCESS,
            "iat": int(now.timestamp()),
            "exp": int((now + self._ttl).timestamp()),
            "jti": str(uuid_utils.uuid7()),
        }
        return jwt.encode(payload, self._key, algorithm=_ALGORITHM)

    def decode(self, token: str) -> AccessClaims:
        claims, expires_at = self._verified(token)
        if expires_at <= self._clock():  # PyJWT's own rule: valid while now < exp
            raise Unauthorized("Access token expired")
        return claims

    def _verify(self, token: str) -> tuple[AccessClaims, float]:
        """The claims and expiry of a token that PyJWT accepts; Unauthorized for any other."""
        try:
            payload = jwt.decode(token, self._key, algorithms=[_ALGORITHM], options={"require": _REQUIRED_CLAIMS})
            if payload["typ"] != _ACCESS:
                raise Unauthorized("Not an access token")
            claims = AccessClaims(user_id=UUID(str(payload["sub"])), session_id=UUID(str(payload["sid"])))
            return claims, float(payload["exp"])
        except jwt.ExpiredSignatureError:
            raise Unauthorized("Access token expired") from None
        except (jwt.InvalidTokenError, ValueError, TypeError, OverflowError):
            # OverflowError: a signed ``exp`` PyJWT accepts as an integer but no float can hold.
            raise Unauthorized("Invalid access token") from None


class Sha256OpaqueTokens:
    """256-bit random tokens; SHA-256 suffices to store them because they cannot be guessed."""

    def new(self) -> tuple[str, str]:
        token = secrets.token_urlsafe(32)
        return token, self.hash(token)

    def hash(self, token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()
