"""The scenario list: what a run measures, with which load, against which reference.

A scenario turns the run's :class:`Targets` into one or more :class:`Result` rows; its
*reference* is the ceiling it is compared with, measured alternately with it in the same
run (see ``bench.run``), so that both see the machine in the same state. Adding a
scenario is one entry in :func:`scenarios`; a new kind of load (a gRPC client, a broker
publisher, a job queue) is one more class with the :class:`Scenario` shape beside
:class:`WrkScenario`.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlencode

from app.infrastructure.config import Settings
from bench import hashing, wrk
from bench.measure import Result
from bench.wrk import Load

ME = "/api/v1/users/me"
USERS = "/api/v1/users"

HEALTH = "GET /health/live"
ME_BEARER = "GET /users/me (Bearer)"
ME_API_KEY = "GET /users/me (X-API-Key)"
LOGIN = "POST /auth/tokens (login)"
HEALTH_DURING_LOGIN = "GET /health/live during login"

#: Keep-alive connections for the read scenarios: enough to keep every worker busy.
READ_CONNECTIONS = 16
#: Users per bulk request: the contract's maximum.
BULK_SIZE = 1000
#: Milliseconds between the latency probe's requests: a probe, not a second load.
PROBE_PAUSE_MS = 10

FIRST_PAGE = {"email__ilike": "corp", "is_active": "true", "order_by": "-created_at", "with_total": "false"}


@dataclass(frozen=True, slots=True)
class Targets:
    """What a run has set up: the servers, the credentials and the listing position the loads use."""

    wrk: str
    settings: Settings
    service: str
    baseline: str
    user_token: str
    api_key: str
    admin_token: str
    login_body: str
    deep_cursor: str


class Reference(Protocol):
    """A ceiling to compare a scenario with, measured the same way every time."""

    @property
    def name(self) -> str: ...

    def measure(self, targets: Targets, seconds: float) -> Result: ...


class Scenario(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def reference(self) -> Reference: ...

    @property
    def duration_factor(self) -> float:
        """Multiplies the run's duration: slow operations need longer runs for as many samples."""

    def run(self, targets: Targets, seconds: float) -> list[tuple[str, Result]]:
        """Named results; the first is the scenario's own, compared with the reference."""


LoadOf = Callable[[Targets], Load]


@dataclass(frozen=True, slots=True)
class Baseline:
    """The bare app's ``GET /users/me`` under the same load as the service's."""

    name: str = "bare app, GET /users/me"

    def measure(self, targets: Targets, seconds: float) -> Result:
        return wrk.run(targets.wrk, _me(targets.baseline, _bearer(targets.user_token)), seconds)


@dataclass(frozen=True, slots=True)
class Argon2:
    """argon2id verifications with the service's parameters, one thread per core."""

    name: str = "argon2id verifications"

    def measure(self, targets: Targets, seconds: float) -> Result:
        return hashing.verifications(targets.settings, seconds, threads=_cores())


BASELINE = Baseline()
ARGON2 = Argon2()


@dataclass(frozen=True, slots=True)
class WrkScenario:
    name: str
    load: LoadOf
    reference: Reference = BASELINE
    duration_factor: float = 1.0

    def run(self, targets: Targets, seconds: float) -> list[tuple[str, Result]]:
        return [(self.name, wrk.run(targets.wrk, self.load(targets), seconds))]


@dataclass(frozen=True, slots=True)
class ProbedScenario:
    """A load, and beside it a light probe measuring another route's latency under that load."""

    name: str
    load: LoadOf
    probe_name: str
    probe: LoadOf
    reference: Reference = BASELINE
    duration_factor: float = 1.0

    def run(self, targets: Targets, seconds: float) -> list[tuple[str, Result]]:
        with ThreadPoolExecutor(2, thread_name_prefix="wrk") as pool:
            main = pool.submit(wrk.run, targets.wrk, self.load(targets), seconds)
            side = pool.submit(wrk.run, targets.wrk, self.probe(targets), seconds)
            return [(self.name, main.result()), (self.probe_name, side.result())]


def scenarios(cursor_depth: int) -> Sequence[Scenario]:
    """Every scenario, in the order they run; ``cursor_depth`` is the deep cursor's row number."""
    return [
        WrkScenario(HEALTH, lambda t: Load(t.service + "/health/live", READ_CONNECTIONS)),
        WrkScenario(ME_BEARER, lambda t: _me(t.service, _bearer(t.user_token))),
        WrkScenario(ME_API_KEY, lambda t: _me(t.service, {"X-API-Key": t.api_key})),
        WrkScenario("GET /users: first page, filtered and ordered", _first_page),
        WrkScenario(f"GET /users: cursor page at depth {cursor_depth:,}", _deep_page),
        ProbedScenario(
            LOGIN,
            _login,
            HEALTH_DURING_LOGIN,
            lambda t: Load(
                t.service + "/health/live", connections=1, script="probe.lua", script_args=[str(PROBE_PAUSE_MS)]
            ),
            reference=ARGON2,
            duration_factor=2.0,
        ),
        WrkScenario(f"POST /users/bulk ({BULK_SIZE:,} users)", _bulk),
    ]


def _cores() -> int:
    return os.cpu_count() or 1


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _me(base_url: str, headers: dict[str, str]) -> Load:
    return Load(base_url + ME, READ_CONNECTIONS, headers=headers)


def _first_page(t: Targets) -> Load:
    query = urlencode({**FIRST_PAGE, "limit": "50"})
    return Load(f"{t.service}{USERS}?{query}", READ_CONNECTIONS, headers=_bearer(t.admin_token))


def _deep_page(t: Targets) -> Load:
    query = urlencode({"order_by": "-created_at", "with_total": "false", "limit": "50", "cursor": t.deep_cursor})
    return Load(f"{t.service}{USERS}?{query}", READ_CONNECTIONS, headers=_bearer(t.admin_token))


def _login(t: Targets) -> Load:
    # As many sign-ins at once as the ceiling has hashing threads; each waits ~a hash's time.
    return Load(
        t.service + "/api/v1/auth/tokens", _cores(), script="post.lua", script_args=[t.login_body], timeout_seconds=60
    )


def _bulk(t: Targets) -> Load:
    # A tag of its own for every wrk process, so that no two loads ever send the same email.
    tag = secrets.token_hex(4)
    return Load(
        t.service + USERS + "/bulk",
        _cores(),
        script="bulk.lua",
        script_args=[tag, str(BULK_SIZE)],
        headers=_bearer(t.admin_token),
        timeout_seconds=60,
    )
