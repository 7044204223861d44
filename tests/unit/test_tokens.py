"""Access tokens (HS256 JWTs) and opaque refresh tokens.

Every defective access token must come out as ``Unauthorized`` and nothing else: any other
exception would be a 500 instead of a 401.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import jwt
import pytest

from app.application.auth.ports import AccessClaims
from app.domain.errors import Unauthorized
from app.infrastructure.security.tokens import JwtAccessTokenCodec, Sha256OpaqueTokens

KEY = "k" * 64  # long enough for HS512 too, so the algorithm is the only difference
TTL = timedelta(minutes=15)
CLAIMS = AccessClaims(user_id=UUID(int=1), session_id=UUID(int=2))


@pytest.fixture
def codec() -> JwtAccessTokenCodec:
    return JwtAccessTokenCodec(KEY, TTL)


def _now() -> datetime:
    """PyJWT checks ``exp`` and ``iat`` against the real clock, so tokens are issued at it."""
    return datetime.now(UTC)


def _payload(**overrides: Any) -> dict[str, Any]:
    now = int(_now().timestamp())
    payload: dict[str, Any] = {
        "sub": str(CLAIMS.user_id),
        "sid": str(CLAIMS.session_id),
        "typ": "access",
        "iat": now,
        "exp": now + 60,
        "jti": "01966b2e-0000-7000-8000-000000000000",
    }
    payload.update(overrides)
    return {name: value for name, value in payload.items() if value is not None}


def _signed(key: str = KEY, algorithm: str = "HS256", **overrides: Any) -> str:
    return jwt.encode(_payload(**overrides), key, algorithm=algorithm)


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _with_payload_swapped(token: str) -> str:
    """The signature of one payload attached to another: taking over someone else's session."""
    header, _, signature = token.split(".")
    return ".".join([header, _b64(_payload(sub=str(UUID(int=666)))), signature])


def _with_signature_flipped(token: str) -> str:
    header, payload, signature = token.split(".")
    first = "B" if signature[0] == "A" else "A"  # the first character always carries signature bits
    return ".".join([header, payload, first + signature[1:]])


def _unsigned(**overrides: Any) -> str:
    return ".".join([_b64({"alg": "none", "typ": "JWT"}), _b64(_payload(**overrides)), ""])


DEFECTIVE: dict[str, Callable[[JwtAccessTokenCodec], str]] = {
    "expired": lambda c: c.issue(CLAIMS, _now() - TTL - timedelta(seconds=5)),
    "issued-in-the-future": lambda c: c.issue(CLAIMS, _now() + timedelta(hours=1)),
    "tampered-signature": lambda c: _with_signature_flipped(c.issue(CLAIMS, _now())),
    "tampered-payload": lambda c: _with_payload_swapped(c.issue(CLAIMS, _now())),
    "other-key": lambda _: _signed(key="o" * 64),
    "alg-none": lambda _: _unsigned(),
    "alg-none-via-pyjwt": lambda _: jwt.encode(_payload(), None, algorithm="none"),
    "other-hmac-algorithm": lambda _: _signed(algorithm="HS512"),
    "refresh-typ": lambda _: _signed(typ="refresh"),
    "no-typ": lambda _: _signed(typ=None),
    "no-sub": lambda _: _signed(sub=None),
    "no-sid": lambda _: _signed(sid=None),
    "no-exp": lambda _: _signed(exp=None),
    "no-iat": lambda _: _signed(iat=None),
    "no-jti": lambda _: _signed(jti=None),
    "sub-not-a-uuid": lambda _: _signed(sub="ada@example.com"),
    "sid-not-a-uuid": lambda _: _signed(sid="session-1"),
    "sub-not-a-string": lambda _: _signed(sub=1),
    "empty": lambda _: "",
    "garbage": lambda _: "not a token at all",
    "three-garbage-segments": lambda _: "a.b.c",
    "payload-not-json": lambda _: "eyJhbGciOiJIUzI1NiJ9.bm90IGpzb24.c2ln",
}


def test_round_trip_keeps_user_and_session(codec: JwtAccessTokenCodec) -> None:
    assert codec.decode(codec.issue(CLAIMS, _now())) == CLAIMS


def test_token_carries_the_contract_claims(codec: JwtAccessTokenCodec) -> None:
    now = _now().replace(microsecond=0)

    payload = jwt.decode(codec.issue(CLAIMS, now), KEY, algorithms=["HS256"])

    assert payload["sub"] == str(CLAIMS.user_id)
    assert payload["sid"] == str(CLAIMS.session_id)
    assert payload["typ"] == "access"
    assert (payload["iat"], payload["exp"]) == (now.timestamp(), (now + TTL).timestamp())
    assert UUID(payload["jti"]).version == 7


def test_every_token_has_its_own_jti(codec: JwtAccessTokenCodec) -> None:
    """Tokens issued in the same second for the same session must still be told apart."""
    now = _now()
    tokens = {codec.issue(CLAIMS, now) for _ in range(5)}
    assert len({jwt.decode(t, KEY, algorithms=["HS256"])["jti"] for t in tokens}) == 5


@pytest.mark.parametrize("make", DEFECTIVE.values(), ids=DEFECTIVE.keys())
def test_defective_token_is_unauthorized(
    codec: JwtAccessTokenCodec, make: Callable[[JwtAccessTokenCodec], str]
) -> None:
    with pytest.raises(Unauthorized):
        codec.decode(make(codec))


@pytest.mark.parametrize("sid", [2, ["x"], {"id": "x"}], ids=["int", "list", "object"])
def test_signed_token_with_a_non_string_sid_is_unauthorized(codec: JwtAccessTokenCodec, sid: object) -> None:
    """Only a holder of the key can mint one, but "any defect → Unauthorized" is the port's promise.

    ``UUID()`` raises ``AttributeError`` for these, which would escape as a 500.
    """
    with pytest.raises(Unauthorized):
        codec.decode(_signed(sid=sid))


def test_a_token_is_verified_once_while_failures_are_verified_every_time(
    codec: JwtAccessTokenCodec, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Clients present the same token on every request: PyJWT runs for its first use only."""
    calls: list[str] = []
    verify = jwt.decode

    def counting(token: str, *args: Any, **kwargs: Any) -> Any:
        calls.append(token)
        return verify(token, *args, **kwargs)

    monkeypatch.setattr(jwt, "decode", counting)
    token, forged = codec.issue(CLAIMS, _now()), _signed(key="o" * 64)

    assert [codec.decode(token) for _ in range(3)] == [CLAIMS] * 3
    for _ in range(2):
        with pytest.raises(Unauthorized):
            codec.decode(forged)

    assert calls == [token, forged, forged]


def test_a_remembered_token_is_refused_once_it_expires() -> None:
    now = [_now().timestamp()]
    codec = JwtAccessTokenCodec(KEY, TTL, clock=lambda: now[0])
    token = codec.issue(CLAIMS, _now())
    expires_at = jwt.decode(token, KEY, algorithms=["HS256"])["exp"]
    assert codec.decode(token) == CLAIMS

    now[0] = expires_at - 0.001
    assert codec.decode(token) == CLAIMS
    now[0] = expires_at
    with pytest.raises(Unauthorized, match="expired"):
        codec.decode(token)


@pytest.mark.parametrize("tamper", [_with_signature_flipped, _with_payload_swapped], ids=["signature", "payload"])
def test_a_tampered_copy_of_a_remembered_token_is_refused(
    codec: JwtAccessTokenCodec, tamper: Callable[[str], str]
) -> None:
    token = codec.issue(CLAIMS, _now())
    assert codec.decode(token) == CLAIMS
    with pytest.raises(Unauthorized):
        codec.decode(tamper(token))


def test_opaque_tokens_are_random_and_long() -> None:
    """256 bits each: guessing one is hopeless, which is why a fast hash is enough to store them."""
    tokens = Sha256OpaqueTokens()
    issued = [tokens.new()[0] for _ in range(100)]
    assert len(set(issued)) == len(issued)
    assert all(len(base64.urlsafe_b64decode(t + "=")) == 32 for t in issued)


def test_opaque_token_hash_is_deterministic_and_not_the_token() -> None:
    """Refresh lookups hash the presented token and compare with the stored hash."""
    tokens = Sha256OpaqueTokens()
    token, token_hash = tokens.new()

    assert tokens.hash(token) == token_hash == Sha256OpaqueTokens().hash(token)
    assert token not in token_hash
    assert len(token_hash) == 64
    assert tokens.hash(token + "x") != token_hash
