"""Litestar dependency providers and guards: the use cases from the container, and the caller."""

from __future__ import annotations

from typing import Any

import structlog
from litestar.connection import ASGIConnection
from litestar.di import Provide
from litestar.exceptions import TooManyRequestsException
from litestar.handlers import BaseRouteHandler

from app.application.auth.principal import Principal
from app.bootstrap import Container
from app.interfaces import callers
from app.interfaces.http.request_context import USER_ID_STATE_KEY

_PRINCIPAL_STATE_KEY = "principal"


async def authenticate(connection: ASGIConnection[Any, Any, Any, Any]) -> Principal:
    """Resolve ``X-API-Key`` or ``Authorization: Bearer`` once per request (guards and handlers share it)."""
    state = connection.scope["state"]
    if (cached := state.get(_PRINCIPAL_STATE_KEY)) is not None:
        return cached  # type: ignore[no-any-return]
    container: Container = connection.app.state.container
    principal = await callers.authenticate(
        container.auth_queries,
        authorization=connection.headers.get("authorization"),
        api_key=connection.headers.get("x-api-key"),
    )
    state[_PRINCIPAL_STATE_KEY] = principal
    state[USER_ID_STATE_KEY] = str(principal.user_id)
    structlog.contextvars.bind_contextvars(user_id=str(principal.user_id))
    return principal


async def provide_principal(request: ASGIConnection[Any, Any, Any, Any]) -> Principal:
    return await authenticate(request)


async def auth_rate_limit(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Guard for the credential-accepting routes: one budget per client IP across all of them.

    Sharing the budget means a guesser cannot multiply attempts by switching between
    ``/auth/tokens``, ``/auth/token``, ``/auth/tokens/refresh`` and the email-verification
    and password-reset routes.
    """
    container: Container = connection.app.state.container
    client = connection.client.host if connection.client else "unknown"
    verdict = await container.auth_rate_limiter.hit(client)
    if not verdict.allowed:
        raise TooManyRequestsException(
            detail="Too many attempts; retry later", headers={"Retry-After": str(verdict.retry_after)}
        )


async def requires_admin(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Guard: 401 for anonymous callers, 403 for authenticated non-admins."""
    callers.require_admin(await authenticate(connection))


def dependencies(container: Container) -> dict[str, Provide]:
    """Use cases are built once per process; providing them is a dictionary lookup."""
    return {
        "container": Provide(lambda: container, use_cache=True, sync_to_thread=False),
        "auth": Provide(lambda: container.auth, use_cache=True, sync_to_thread=False),
        "auth_queries": Provide(lambda: container.auth_queries, use_cache=True, sync_to_thread=False),
        "users": Provide(lambda: container.users, use_cache=True, sync_to_thread=False),
        "administration": Provide(lambda: container.administration, use_cache=True, sync_to_thread=False),
        "api_keys": Provide(lambda: container.api_keys, use_cache=True, sync_to_thread=False),
        "account_lifecycle": Provide(lambda: container.account_lifecycle, use_cache=True, sync_to_thread=False),
        "organizations": Provide(lambda: container.organizations, use_cache=True, sync_to_thread=False),
        "members": Provide(lambda: container.members, use_cache=True, sync_to_thread=False),
        "invitations": Provide(lambda: container.invitations, use_cache=True, sync_to_thread=False),
        "tasks": Provide(lambda: container.tasks, use_cache=True, sync_to_thread=False),
        "principal": Provide(provide_principal),
    }
