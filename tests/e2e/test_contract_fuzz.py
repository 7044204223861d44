"""Contract fuzzing: schemathesis generates requests for every operation of the app's own OpenAPI document.

The document is the one the app serves (``/schema/openapi.json``), so what is checked is
what clients generate code from. Each response must keep to it: no 5xx, a documented
status code, a documented content type, a body matching the documented schema, the
documented headers; invalid input is refused with a 4xx and valid input is not; an
operation that requires credentials refuses a request without them. These are
schemathesis's default checks, all of them enabled.

Requests go to an app of the fuzz's own, in-process over ASGI, on the suite's PostgreSQL
and a private Redis (the welcome-email jobs its new users enqueue die with it). Schemathesis runs the
app on an event loop of its own, so the app has its own container; the administrator
the admin routes need is created beforehand through the suite's container, which shares
the database.

Fuzzed requests change their caller: they log out, revoke sessions and keys, change the
password, deactivate the account. So no example reuses another's credentials: each
user-level example signs in a user nobody else has used (from a pool the administrator
creates in batches), every other one presenting an API key made for it instead of the
access token; each admin example signs the administrator in again, for a session of its
own. Hashing uses the suite's cheap argon2 parameters (``tests.conftest.make_settings``),
so minting costs milliseconds.

A response keeping to the document is not enough: the first account-breaking bug found
against this service answered a write with 200 and every later request of that user with
500. So after every write that succeeds, the run keeps using the accounts it wrote to
(:class:`AccountsStillWork`): the caller's own (``GET /users/me``, its sessions and keys, a
fresh sign-in and a request with it) and, for an administrator's write, each user it
created or changed (read, listed, and signed in as when the body gave a password). None
of those may answer 5xx. It is the stateless form of a link from ``PATCH /users/me`` to
``GET /users/me``: schemathesis's stateful mode drew inconsistent data from Hypothesis
with this document, and this covers every write, not only the linked ones.

The run is bounded and reproducible: a fixed number of examples per operation and phase
(``FUZZ_MAX_EXAMPLES``; ``just fuzz`` runs more), a fixed seed (``FUZZ_SEED``), no
deadline (schemathesis sets none), no example database (Hypothesis keeps only caches
under ``.hypothesis``, which git ignores).
"""

from __future__ import annotations

import itertools
import os
import secrets
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import schemathesis
from schemathesis.auths import AuthContext, AuthStorage
from schemathesis.core.result import Ok
from schemathesis.python.asgi import ASGIClient, get_client

from app.bootstrap import Container
from app.interfaces.http.app import create_app
from tests.conftest import make_settings
from tests.e2e.helpers import PASSWORD, bearer
from tests.support.servers import RedisServer

#: Examples per operation and generation phase in the suite: 10 keep the run to about two and a half
#: minutes on two busy cores, every operation and phase still covered; ``just fuzz`` runs 200.
MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "10"))
SEED = int(os.environ.get("FUZZ_SEED", "20260101"))

ROOT_EMAIL = "fuzz-root@example.com"
ADMIN_TAG = "administration"
#: Users the administrator creates at once for the user-level examples.
POOL_BATCH = 100

#: Operations that carry ``meta``, a free-form JSON object whose strings may not hold NUL
#: (PostgreSQL cannot store it). JSON Schema cannot say that of every string of a free-form
#: object, so the document says it in words and the fuzz does not generate NUL there
#: (``tests/e2e/test_bad_input.py`` holds the service to the rule).
WITH_META = [
    "PATCH /api/v1/users/me",
    "POST /api/v1/users",
    "PATCH /api/v1/users/{user_id}",
    "POST /api/v1/users/bulk",
    "PATCH /api/v1/users/bulk",
    "POST /api/v1/organizations/{org_id}/tasks",
    "PATCH /api/v1/organizations/{org_id}/tasks/{task_id}",
]
#: Operations with a rule on valid-looking input that no schema can state, answered with 422.
SEMANTIC_RULES = [
    "POST /api/v1/api-keys",  # expires_at must lie in the future
    "POST /api/v1/users/me/password",  # current_password must be the caller's password
    "PATCH /api/v1/users/bulk",  # each id at most once
    "POST /api/v1/users/bulk",  # at most BULK_MAX_PASSWORDS items with a password
    # The token must be one the service mailed, unspent and unexpired.
    "POST /api/v1/auth/email-verification/confirm",
    "POST /api/v1/auth/password-reset/confirm",
    # The token must be one the service mailed for an invitation still pending.
    "POST /api/v1/invitations/accept",
    # At most 50 filters in all; a cursor made by the service for this very listing; a real
    # date-time (the documented pattern is its syntax: 0000-00-00 has it).
    "GET /api/v1/users",
    "GET /api/v1/organizations",
    "GET /api/v1/organizations/{org_id}/members",
    "GET /api/v1/organizations/{org_id}/tasks",
    # meta's numbers lie within ±(2^53 - 1) at any depth: said in words, as for NUL above. And a
    # task's tags are distinct, its due date within years 1-9999 once in UTC. (The fuzz's users
    # belong to no organization: past validation, every task route answers them 404.)
    *(operation for operation in WITH_META if "/users/bulk" not in operation),
]

CONFIG = schemathesis.Config.from_dict(
    {
        "seed": SEED,
        # The run talks to a real database through a whole app: an example takes milliseconds,
        # which Hypothesis's timing health check would report as too slow.
        "suppress-health-check": ["too_slow"],
        "generation": {"max-examples": MAX_EXAMPLES, "database": "none"},
        "operations": [
            {"include-name": WITH_META, "generation": {"allow-x00": False}},
            {
                "include-name": SEMANTIC_RULES,
                "checks": {
                    "positive_data_acceptance": {
                        "expected-statuses": ["2xx", "3xx", "401", "403", "404", "409", "422", "429", "5xx"],
                    }
                },
            },
        ],
    }
)


@dataclass
class Outcomes:
    """What each operation answered, to prove afterwards that the run fuzzed what it should.

    Every check passes vacuously on a run where credentials never worked (401 is documented
    everywhere), so each protected operation must have answered something else at least
    once, and each admin operation something other than 401 and 403.
    """

    statuses: dict[str, set[int]] = field(default_factory=lambda: defaultdict(set))
    requests: int = 0
    refusals: dict[str, set[int]] = field(default_factory=dict)

    def record(self, case: schemathesis.Case[Any], status: int) -> None:
        label, definition = case.operation.label, case.operation.definition.raw
        self.statuses[label].add(status)
        self.requests += 1
        if definition.get("security"):
            self.refusals[label] = {401, 403} if ADMIN_TAG in definition.get("tags", []) else {401}

    def never_authenticated(self) -> dict[str, list[int]]:
        return {
            label: sorted(self.statuses[label])
            for label, refused in self.refusals.items()
            if self.statuses[label] <= refused
        }


@dataclass
class FreshCredentials:
    """Schemathesis auth provider: credentials no other example has used, minted through the API itself.

    A user-level example signs in a user of its own, taken from a pool the administrator fills
    in batches (one bulk request hashes a batch of passwords: far cheaper than a sign-up each).
    """

    client: ASGIClient
    pool: list[str] = field(default_factory=list)
    counter: Iterator[int] = field(default_factory=itertools.count)

    def get(self, case: schemathesis.Case[Any], context: AuthContext) -> dict[str, str] | None:
        definition = context.operation.definition.raw
        if not definition.get("security"):
            return None
        if ADMIN_TAG in definition.get("tags", []):
            return bearer(self._sign_in(ROOT_EMAIL))
        tokens = self._sign_in(self._unused_user())
        if next(self.counter) % 2:
            return bearer(tokens)
        key = self._expect(201, "post", "/api/v1/api-keys", json={"name": "fuzz"}, headers=bearer(tokens))
        return {"X-API-Key": key["key"]}

    def _unused_user(self) -> str:
        if not self.pool:
            batch = [f"fuzz-{secrets.token_hex(8)}@example.com" for _ in range(POOL_BATCH)]
            items = [{"email": email, "password": PASSWORD} for email in batch]
            self._expect(
                201, "post", "/api/v1/users/bulk", json={"items": items}, headers=bearer(self._sign_in(ROOT_EMAIL))
            )
            self.pool.extend(batch)
        return self.pool.pop()

    def set(self, case: schemathesis.Case[Any], data: dict[str, str], context: AuthContext) -> None:
        case.headers.update(data)

    def _sign_in(self, email: str) -> dict[str, Any]:
        return self._expect(200, "post", "/api/v1/auth/tokens", json={"email": email, "password": PASSWORD})

    def _expect(self, status: int, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        response = self.client.request(method, path, **kwargs)
        assert response.status_code == status, f"{method.upper()} {path}: {response.status_code} {response.text}"
        body: dict[str, Any] = response.json()
        return body


@pytest.fixture
async def root_admin(container: Container) -> None:
    """The administrator the admin routes are fuzzed as, made the way operators make one."""
    await container.users.create_admin(ROOT_EMAIL, PASSWORD)


@pytest.fixture
def outcomes(fuzzed_api: schemathesis.BaseSchema, record_property: Callable[[str, object], None]) -> Iterator[Outcomes]:
    """Checked once every operation has been fuzzed: all of them were, past authentication."""
    outcomes = Outcomes()
    yield outcomes
    record_property("operations", len(outcomes.statuses))
    record_property("requests", outcomes.requests)
    operations = {result.ok().label for result in fuzzed_api.get_all_operations() if isinstance(result, Ok)}
    assert set(outcomes.statuses) == operations
    assert not outcomes.never_authenticated(), f"never got past authentication: {outcomes.never_authenticated()}"


@dataclass
class AccountsStillWork:
    """After a successful write, the accounts it wrote to still work: no follow-up answers 5xx.

    Follow-ups are few requests per write (a handful of users at most), so the run stays
    bounded by the examples it generates.
    """

    client: ASGIClient
    followed: int = 0

    def after(self, case: schemathesis.Case[Any], status: int, body: Any) -> None:
        if not 200 <= status < 300 or case.method.upper() in _READS:
            return
        self.followed += 1
        credentials = {k: v for k, v in case.headers.items() if k.lower() in ("authorization", "x-api-key")}
        if ADMIN_TAG in case.operation.definition.raw.get("tags", []):
            self._written_users(case, body, credentials)
        elif credentials:
            self._own_account(case, credentials)

    def _own_account(self, case: schemathesis.Case[Any], credentials: dict[str, str]) -> None:
        me = self._usable("get", "/api/v1/users/me", headers=credentials)
        self._usable("get", "/api/v1/auth/sessions", headers=credentials)
        self._usable("get", "/api/v1/api-keys", headers=credentials)
        if me.status_code == 200:
            given = case.body if isinstance(case.body, dict) else {}
            password = given.get("new_password") if case.path.endswith("/password") else PASSWORD
            self._signs_in(me.json()["email"], password)

    def _written_users(self, case: schemathesis.Case[Any], body: Any, credentials: dict[str, str]) -> None:
        users = body.get("items", []) if isinstance(body, dict) and "items" in body else [body]
        users = [user for user in users if isinstance(user, dict) and "id" in user][:_FOLLOWED_USERS]
        if not users:
            return
        sent: Any = case.body
        given = sent.get("items", [sent]) if isinstance(sent, dict) else []
        given = given if isinstance(given, list) else []
        passwords = {
            str(item.get("email", "")).strip().lower(): item.get("password") for item in given if isinstance(item, dict)
        }
        ids = ",".join(str(user["id"]) for user in users)
        self._usable("get", "/api/v1/users", params={"id__in": ids}, headers=credentials)
        for user in users:
            self._usable("get", f"/api/v1/users/{user['id']}", headers=credentials)
            if passwords.get(user["email"]):
                self._signs_in(user["email"], passwords[user["email"]])

    def _signs_in(self, email: str, password: Any) -> None:
        response = self._usable("post", "/api/v1/auth/tokens", json={"email": email, "password": password})
        if response.status_code == 200:
            self._usable("get", "/api/v1/users/me", headers=bearer(response.json()))

    def _usable(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.client.request(method, path, **kwargs)
        assert response.status_code < 500, (
            f"after the write, {method.upper()} {path}: {response.status_code} {response.text}"
        )
        return response


_READS = frozenset({"GET", "HEAD", "OPTIONS"})
#: Users of one administrative write followed up on (a bulk write touches up to 1,000).
_FOLLOWED_USERS = 3


@pytest.fixture
def fuzz_client(root_admin: None, database_url: str, stoppable_redis: RedisServer) -> ASGIClient:
    """A client of the app under fuzz: the schema loads from it, credentials and follow-ups go through it."""
    # Every example signs in, far beyond the default per-IP budget; rate limiting has its own tests.
    settings = make_settings(
        database_url,
        REDIS_URL=stoppable_redis.url,
        RATE_LIMIT_AUTH="1000000/minute",
        BULK_MAX_PASSWORDS=str(POOL_BATCH),  # the pool is filled by bulk creates with passwords
    )
    return get_client(create_app(settings))  # type: ignore[arg-type]  # Litestar's scope union is wider than the ASGI alias.


@pytest.fixture
def accounts(fuzz_client: ASGIClient, outcomes: Outcomes) -> Iterator[AccountsStillWork]:
    """Checked at the end: the follow-ups ran (a run whose writes all failed proves nothing)."""
    accounts = AccountsStillWork(fuzz_client)
    yield accounts
    assert accounts.followed, "no write succeeded, so no account was followed up"


@pytest.fixture
def fuzzed_api(fuzz_client: ASGIClient) -> schemathesis.BaseSchema:
    """The app's document, loaded from the app, with per-example credentials.

    Schemathesis starts the app's lifespan here and ends it (closing the app's container)
    when the test ends.
    """
    schema = schemathesis.openapi.from_asgi("/schema/openapi.json", fuzz_client.app, config=CONFIG)
    schema.auth = AuthStorage(providers=[FreshCredentials(fuzz_client)])
    return schema


fuzzed = schemathesis.pytest.from_fixture("fuzzed_api")


@fuzzed.parametrize()
def test_every_operation_keeps_to_the_document(
    case: schemathesis.Case[Any], outcomes: Outcomes, accounts: AccountsStillWork
) -> None:
    response = case.call_and_validate()
    outcomes.record(case, response.status_code)
    accounts.after(case, response.status_code, _json_or_none(response))


def _json_or_none(response: Any) -> Any:
    try:
        return response.json()
    except ValueError:
        return None
