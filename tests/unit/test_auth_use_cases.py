"""AuthCommands and AuthQueries over in-memory fakes: sign-in, refresh rotation, revocation.

Every refusal is checked from the client's side (the token stops working), and the
refusals that must look alike are compared with each other.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import timedelta
from uuid import UUID

import pytest

from app.application.auth import queries
from app.application.auth.api_keys import ApiKeyCommands
from app.application.auth.dto import ClientInfo, TokenPair
from app.application.auth.ports import AccessClaims, CachedPrincipal
from app.domain.auth.model import ApiKey
from app.domain.errors import NotFound, Unauthorized
from app.infrastructure.auth_cache import NoPrincipalCache
from app.infrastructure.security.tokens import Sha256OpaqueTokens
from tests.unit.fakes import EMAIL, PASSWORD, FakePasswordHasher, Harness

OTHER_EMAIL = "grace@example.com"


@pytest.fixture
def h() -> Harness:
    return Harness()


async def _refuses(h: Harness, access_token: str) -> None:
    with pytest.raises(Unauthorized):
        await h.auth_queries.authenticate(access_token)


async def _refresh_refused(h: Harness, refresh_token: str) -> None:
    with pytest.raises(Unauthorized):
        await h.auth.refresh(refresh_token)


class TestIssueTokens:
    async def test_returns_a_pair_for_a_new_session_of_the_user(self, h: Harness) -> None:
        user = await h.sign_up()

        pair = await h.auth.issue_tokens(EMAIL, PASSWORD, ClientInfo(user_agent="curl/8", ip="203.0.113.7"))

        assert h.access_tokens.decode(pair.access_token) == AccessClaims(user_id=user.id, session_id=pair.session_id)
        assert pair.token_type == "bearer"
        assert pair.expires_in == h.policy.access_ttl.total_seconds()
        assert pair.refresh_expires_in == h.policy.refresh_ttl.total_seconds()
        principal = await h.auth_queries.authenticate(pair.access_token)
        [session] = await h.auth_queries.list_sessions(principal)
        assert (session.id, session.user_agent, session.ip) == (pair.session_id, "curl/8", "203.0.113.7")
        assert session.expires_at == h.clock.now + h.policy.refresh_ttl

    async def test_each_login_starts_its_own_session(self, h: Harness) -> None:
        await h.sign_up()
        first, _ = await h.sign_in()
        second, _ = await h.sign_in()
        assert first.session_id != second.session_id
        assert first.refresh_token != second.refresh_token

    async def test_email_is_matched_case_insensitively(self, h: Harness) -> None:
        user = await h.sign_up()
        _, principal = await h.sign_in(email="  ADA@Example.com ")
        assert principal.user_id == user.id

    async def test_a_hash_made_with_old_parameters_is_replaced_on_login(self, h: Harness) -> None:
        await h.sign_up()
        h.hasher.scheme = "v2"

        await h.sign_in()

        assert h.db.user_by_email(EMAIL).password_hash == "fake$v2$" + PASSWORD
        await h.sign_in()  # the new hash still verifies

    async def test_a_current_hash_is_left_alone(self, h: Harness) -> None:
        await h.sign_up()
        stored = h.db.user_by_email(EMAIL).password_hash

        await h.sign_in()

        assert h.db.user_by_email(EMAIL).password_hash == stored
        assert h.hasher.hash_calls == [PASSWORD]  # the sign-up's only

    async def test_a_rehash_does_not_undo_a_concurrent_deactivation(self) -> None:
        """The rehash is computed between two units of work; whatever committed meanwhile must survive."""
        hasher = _InterleavingHasher()
        h = Harness(hasher=hasher)
        await h.sign_up()
        _, principal = await h.sign_in()
        hasher.scheme = "v2"
        hasher.meanwhile = lambda: h.users.deactivate(principal)

        with contextlib.suppress(Unauthorized):
            await h.auth.issue_tokens(EMAIL, PASSWORD, ClientInfo())

        assert not h.db.user_by_email(EMAIL).is_active
        with pytest.raises(Unauthorized):
            await h.auth.issue_tokens(EMAIL, PASSWORD, ClientInfo())


@dataclass
class _InterleavingHasher(FakePasswordHasher):
    """Runs ``meanwhile`` (once) while a hash is being computed, as a concurrent request could."""

    meanwhile: Callable[[], Awaitable[None]] | None = None

    async def hash(self, password: str) -> str:
        if self.meanwhile is not None:
            meanwhile, self.meanwhile = self.meanwhile, None
            await meanwhile()
        return await super().hash(password)


async def _unknown_email(h: Harness) -> tuple[str, str]:
    return "nobody@example.com", PASSWORD


async def _wrong_password(h: Harness) -> tuple[str, str]:
    return EMAIL, "not the password"


async def _deactivated(h: Harness) -> tuple[str, str]:
    _, principal = await h.sign_in()
    await h.users.deactivate(principal)
    return EMAIL, PASSWORD


async def _no_password(h: Harness) -> tuple[str, str]:
    """An admin may create a user without a password; it cannot log in until one is set."""
    h.db.put_user(replace(h.db.user_by_email(EMAIL), password_hash=None))
    return EMAIL, PASSWORD


REFUSED_LOGINS: dict[str, Callable[[Harness], Awaitable[tuple[str, str]]]] = {
    "unknown-email": _unknown_email,
    "wrong-password": _wrong_password,
    "deactivated": _deactivated,
    "no-password": _no_password,
}


async def _refused_login(h: Harness, case: str) -> tuple[Unauthorized, list[tuple[str | None, str]]]:
    """Set up ``case`` on a registered user and try to log in; the error and the verify calls it made."""
    await h.sign_up()
    email, password = await REFUSED_LOGINS[case](h)
    h.hasher.verify_calls.clear()
    sessions_before = set(h.db.sessions)
    with pytest.raises(Unauthorized) as refused:
        await h.auth.issue_tokens(email, password, ClientInfo())
    assert set(h.db.sessions) == sessions_before, "a refused login must not start a session"
    return refused.value, h.hasher.verify_calls


class TestRefusedLogin:
    @pytest.mark.parametrize("case", REFUSED_LOGINS)
    async def test_costs_exactly_one_password_verification(self, h: Harness, case: str) -> None:
        """The same work on every path is what keeps response times from telling the cases apart."""
        _, verify_calls = await _refused_login(h, case)
        assert len(verify_calls) == 1

    async def test_unknown_email_still_verifies_against_no_hash(self, h: Harness) -> None:
        _, verify_calls = await _refused_login(h, "unknown-email")
        assert verify_calls == [(None, PASSWORD)]

    async def test_every_case_reads_the_same(self) -> None:
        """Nothing in the error may tell a guesser whether the email exists or the account is closed."""
        details = {case: (await _refused_login(Harness(), case))[0].detail for case in REFUSED_LOGINS}
        assert details == dict.fromkeys(REFUSED_LOGINS, details["wrong-password"])


class TestRefresh:
    async def test_rotates_the_refresh_token_within_the_session(self, h: Harness) -> None:
        await h.sign_up()
        first, _ = await h.sign_in()

        second = await h.auth.refresh(first.refresh_token)

        assert second.refresh_token != first.refresh_token
        assert second.session_id == first.session_id
        assert h.access_tokens.decode(second.access_token).session_id == first.session_id
        third = await h.auth.refresh(second.refresh_token)
        assert third.session_id == first.session_id

    async def test_a_spent_token_is_refused(self, h: Harness) -> None:
        await h.sign_up()
        first, _ = await h.sign_in()
        await h.auth.refresh(first.refresh_token)

        await _refresh_refused(h, first.refresh_token)

    async def test_reusing_a_spent_token_revokes_the_whole_session(self, h: Harness) -> None:
        """Only a copy can be presented twice; both holders lose the session, the victim signs in again."""
        await h.sign_up()
        stolen, _ = await h.sign_in()
        current = await h.auth.refresh(stolen.refresh_token)
        await h.auth_queries.authenticate(current.access_token)  # works until the reuse

        await _refresh_refused(h, stolen.refresh_token)

        await _refuses(h, stolen.access_token)
        await _refuses(h, current.access_token)
        await _refresh_refused(h, current.refresh_token)

    async def test_reuse_leaves_the_users_other_sessions_alone(self, h: Harness) -> None:
        await h.sign_up()
        stolen, _ = await h.sign_in()
        other, _ = await h.sign_in()
        await h.auth.refresh(stolen.refresh_token)

        await _refresh_refused(h, stolen.refresh_token)

        await h.auth_queries.authenticate(other.access_token)

    @pytest.mark.parametrize("token", ["", "not-a-token", "x" * 43])
    async def test_an_unknown_token_is_refused(self, h: Harness, token: str) -> None:
        await _refresh_refused(h, token)

    async def test_an_access_token_is_not_a_refresh_token(self, h: Harness) -> None:
        await h.sign_up()
        pair, _ = await h.sign_in()
        await _refresh_refused(h, pair.access_token)

    async def test_an_expired_session_cannot_be_refreshed(self, h: Harness) -> None:
        await h.sign_up()
        pair, _ = await h.sign_in()
        h.clock.advance(h.policy.refresh_ttl)

        await _refresh_refused(h, pair.refresh_token)

    async def test_refreshing_slides_the_session_expiry(self, h: Harness) -> None:
        """A session in use stays alive past its original expiry; one left alone still expires."""
        await h.sign_up()
        pair, principal = await h.sign_in()
        original_expiry = h.clock.now + h.policy.refresh_ttl
        h.clock.advance(h.policy.refresh_ttl - timedelta(days=1))

        pair = await h.auth.refresh(pair.refresh_token)

        [session] = await h.auth_queries.list_sessions(principal)
        assert (session.last_used_at, session.expires_at) == (h.clock.now, h.clock.now + h.policy.refresh_ttl)
        assert pair.refresh_expires_in == h.policy.refresh_ttl.total_seconds()
        h.clock.advance(timedelta(days=2))
        assert h.clock.now > original_expiry
        pair = await h.auth.refresh(pair.refresh_token)
        h.clock.advance(h.policy.refresh_ttl)
        await _refresh_refused(h, pair.refresh_token)

    async def test_a_deactivated_users_session_cannot_be_refreshed(self, h: Harness) -> None:
        """Even if the session itself was somehow left active, the account state decides."""
        await h.sign_up()
        pair, _ = await h.sign_in()
        h.db.put_user(replace(h.db.user_by_email(EMAIL), is_active=False))

        await _refresh_refused(h, pair.refresh_token)


async def _two_sessions(h: Harness) -> tuple[TokenPair, TokenPair]:
    await h.sign_up()
    first, _ = await h.sign_in()
    second, _ = await h.sign_in()
    return first, second


class TestRevocation:
    async def test_logout_ends_the_current_session_only(self, h: Harness) -> None:
        current, other = await _two_sessions(h)
        principal = await h.auth_queries.authenticate(current.access_token)

        await h.auth.logout(principal)

        await _refuses(h, current.access_token)
        await _refresh_refused(h, current.refresh_token)
        await h.auth_queries.authenticate(other.access_token)

    async def test_revoking_one_of_ones_sessions_ends_it(self, h: Harness) -> None:
        current, other = await _two_sessions(h)
        principal = await h.auth_queries.authenticate(current.access_token)

        await h.auth.revoke_session(principal, other.session_id)

        await _refuses(h, other.access_token)
        await _refresh_refused(h, other.refresh_token)
        [left] = await h.auth_queries.list_sessions(principal)
        assert left.id == current.session_id

    async def test_another_users_session_reads_as_not_found_and_survives(self, h: Harness) -> None:
        await h.sign_up()
        _, mine = await h.sign_in()
        await h.sign_up(OTHER_EMAIL)
        theirs, _ = await h.sign_in(OTHER_EMAIL)

        with pytest.raises(NotFound):
            await h.auth.revoke_session(mine, theirs.session_id)

        await h.auth_queries.authenticate(theirs.access_token)

    async def test_an_unknown_session_reads_as_not_found(self, h: Harness) -> None:
        await h.sign_up()
        _, principal = await h.sign_in()
        with pytest.raises(NotFound):
            await h.auth.revoke_session(principal, UUID(int=999_999))

    async def test_list_sessions_marks_the_current_one(self, h: Harness) -> None:
        first, second = await _two_sessions(h)
        principal = await h.auth_queries.authenticate(second.access_token)

        sessions = await h.auth_queries.list_sessions(principal)

        assert {s.id: s.current for s in sessions} == {first.session_id: False, second.session_id: True}

    async def test_list_sessions_shows_only_the_callers_active_sessions(self, h: Harness) -> None:
        first, second = await _two_sessions(h)
        await h.sign_up(OTHER_EMAIL)
        await h.sign_in(OTHER_EMAIL)
        principal = await h.auth_queries.authenticate(first.access_token)
        await h.auth.revoke_session(principal, second.session_id)

        assert [s.id for s in await h.auth_queries.list_sessions(principal)] == [first.session_id]


async def _revoke(h: Harness, pair: TokenPair) -> str:
    await h.auth.logout(await h.auth_queries.authenticate(pair.access_token))
    return pair.access_token


async def _expire(h: Harness, pair: TokenPair) -> str:
    h.clock.advance(h.policy.refresh_ttl)
    return pair.access_token


async def _deactivate_without_revoking(h: Harness, pair: TokenPair) -> str:
    """Isolates the account check: the session row alone would still pass."""
    h.db.put_user(replace(h.db.user_by_email(EMAIL), is_active=False))
    return pair.access_token


async def _soft_delete(h: Harness, pair: TokenPair) -> str:
    h.db.put_user(replace(h.db.user_by_email(EMAIL), deleted_at=h.clock.now))
    return pair.access_token


async def _claim_another_users_session(h: Harness, pair: TokenPair) -> str:
    """A validly signed token whose ``sub`` does not own its ``sid``."""
    other = await h.sign_up(OTHER_EMAIL)
    return h.access_tokens.issue(AccessClaims(user_id=other.id, session_id=pair.session_id), h.clock.now)


async def _name_an_unknown_session(h: Harness, pair: TokenPair) -> str:
    claims = h.access_tokens.decode(pair.access_token)
    return h.access_tokens.issue(AccessClaims(user_id=claims.user_id, session_id=UUID(int=999_999)), h.clock.now)


async def _garbage(h: Harness, pair: TokenPair) -> str:
    return "not.a.jwt"


class TestAuthenticate:
    async def test_resolves_the_user_and_session(self, h: Harness) -> None:
        user = await h.sign_up(first_name="Ada")
        pair, principal = await h.sign_in()
        assert (principal.user_id, principal.session_id, principal.user.first_name) == (user.id, pair.session_id, "Ada")

    @pytest.mark.parametrize(
        "spoil",
        [
            _revoke,
            _expire,
            _deactivate_without_revoking,
            _soft_delete,
            _claim_another_users_session,
            _name_an_unknown_session,
            _garbage,
        ],
    )
    async def test_refuses(self, h: Harness, spoil: Callable[[Harness, TokenPair], Awaitable[str]]) -> None:
        await h.sign_up()
        pair, _ = await h.sign_in()  # authenticates: the token is good before it is spoiled

        await _refuses(h, await spoil(h, pair))


class TestApiKeyOwners:
    """Which keys' owners a process remembers, to ask the cache for their versions in one round trip."""

    class AskedCache(NoPrincipalCache):
        """Misses like no cache at all, noting which keys it was asked about."""

        def __init__(self) -> None:
            self.asked: list[str] = []

        async def lookup_api_key(self, key_hash: str, user_id: UUID) -> CachedPrincipal[ApiKey]:
            self.asked.append(key_hash)
            return await super().lookup_api_key(key_hash, user_id)

    @staticmethod
    async def _keys(h: Harness, count: int) -> list[str]:
        _, principal = await h.sign_in()
        commands = ApiKeyCommands(uow=h.db.unit_of_work, secrets=Sha256OpaqueTokens(), clock=h.clock, ids=h.ids)
        return [(await commands.create(principal, f"key {n}", expires_at=None)).key for n in range(count)]

    async def test_only_keys_the_database_verified_and_at_most_so_many(
        self, h: Harness, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(queries, "KNOWN_KEY_OWNERS", 2)
        cache = self.AskedCache()
        secrets = Sha256OpaqueTokens()
        auth = queries.AuthQueries(
            uow=h.db.unit_of_work, access_tokens=h.access_tokens, secrets=secrets, cache=cache, clock=h.clock
        )
        await h.sign_up()
        first, second, third = await self._keys(h, 3)
        tampered = first[:-1] + ("A" if first[-1] != "A" else "B")
        for key in (first, second, third):
            await auth.authenticate_api_key(key)  # verified in the database: the owner is remembered
        for _ in range(2):
            with pytest.raises(Unauthorized):
                await auth.authenticate_api_key(tampered)
        assert cache.asked == []

        for key in (second, third, first, tampered):
            with contextlib.suppress(Unauthorized):
                await auth.authenticate_api_key(key)

        # The first key was forgotten when the third was remembered; a refused key never was.
        assert cache.asked == [secrets.hash(key) for key in (second, third)]
