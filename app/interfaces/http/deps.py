"""Litestar dependency providers: the use cases from the container, and the caller."""

from __future__ import annotations

from typing import Any

import structlog
from litestar import Request
from litestar.di import NamedDependency, Provide

from app.application.auth.principal import Principal
from app.application.auth.queries import AuthQueries
from app.bootstrap import Container
from app.domain.errors import Unauthorized
from app.interfaces.http.request_context import USER_ID_STATE_KEY

_BEARER_PREFIX = "bearer "


async def provide_principal(request: Request[Any, Any, Any], auth_queries: NamedDependency[AuthQueries]) -> Principal:
    """Authenticate the request from ``Authorization: Bearer <access token>``."""
    header = request.headers.get("authorization", "")
    if not header[: len(_BEARER_PREFIX)].lower() == _BEARER_PREFIX or not header[len(_BEARER_PREFIX) :].strip():
        raise Unauthorized("Missing bearer token")
    principal = await auth_queries.authenticate(header[len(_BEARER_PREFIX) :].strip())
    request.scope["state"][USER_ID_STATE_KEY] = str(principal.user_id)
    structlog.contextvars.bind_contextvars(user_id=str(principal.user_id))
    return principal


def dependencies(container: NamedDependency[Container]) -> dict[str, Provide]:
    """Use cases are built once per process; providing them is a dictionary lookup."""
    return {
        "container": Provide(lambda: container, use_cache=True, sync_to_thread=False),
        "auth": Provide(lambda: container.auth, use_cache=True, sync_to_thread=False),
        "auth_queries": Provide(lambda: container.auth_queries, use_cache=True, sync_to_thread=False),
        "users": Provide(lambda: container.users, use_cache=True, sync_to_thread=False),
        "principal": Provide(provide_principal),
    }
