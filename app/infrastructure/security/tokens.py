"""Access tokens (signed JWTs) and refresh tokens (random secrets stored as hashes)."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from uuid import UUID

import jwt
import uuid_utils.compat as uuid_utils

from app.application.ports import AccessClaims
from app.domain.errors import Unauthorized

_ALGORITHM = "HS256"
_ACCESS = "access"
_REQUIRED_CLAIMS = ["exp", "iat", "sub", "sid", "typ", "jti"]


class JwtAccessTokenCodec:
    """HS256 JWTs carrying the user (``sub``) and session (``sid``).

    The algorithm is pinned on decode, so ``alg: none`` and algorithm-confusion tokens are
    rejected before their claims are read.
    """

    def __init__(self, secret_key: str, ttl: timedelta) -> None:
        self._key = secret_key
        self._ttl = ttl

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
        try:
            payload = jwt.decode(token, self._key, algorithms=[_ALGORITHM], options={"require": _REQUIRED_CLAIMS})
            if payload["typ"] != _ACCESS:
                raise Unauthorized("Not an access token")
            return AccessClaims(user_id=UUID(str(payload["sub"])), session_id=UUID(str(payload["sid"])))
        except jwt.ExpiredSignatureError:
            raise Unauthorized("Access token expired") from None
        except (jwt.InvalidTokenError, ValueError, TypeError):
            raise Unauthorized("Invalid access token") from None


class Sha256OpaqueTokens:
    """256-bit random tokens; SHA-256 suffices to store them because they cannot be guessed."""

    def new(self) -> tuple[str, str]:
        token = secrets.token_urlsafe(32)
        return token, self.hash(token)

    def hash(self, token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()
