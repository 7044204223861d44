"""Who is calling: credentials into a principal, the administrators' rule, where a sign-in came from.

REST headers and gRPC metadata carry the same credentials (``authorization: Bearer …`` or
``x-api-key``); both interfaces read them here, so they accept and refuse exactly the same.
"""

from __future__ import annotations

import ipaddress

from app.application.auth.dto import ClientInfo
from app.application.auth.principal import Principal
from app.application.auth.queries import AuthQueries
from app.domain.errors import Forbidden, Unauthorized
from app.domain.users.values import Role

_BEARER_PREFIX = "bearer "
USER_AGENT_MAX_LENGTH = 512


async def authenticate(queries: AuthQueries, *, authorization: str | None, api_key: str | None) -> Principal:
    """An API key when one is sent, else a bearer access token; ``Unauthorized`` without either."""
    if api_key:
        return await queries.authenticate_api_key(api_key.strip())
    header = authorization or ""
    prefix, token = header[: len(_BEARER_PREFIX)], header[len(_BEARER_PREFIX) :].strip()
    if prefix.lower() != _BEARER_PREFIX or not token:
        raise Unauthorized("Missing credentials: send Authorization: Bearer <token> or X-API-Key")
    return await queries.authenticate(token)


def require_admin(principal: Principal) -> None:
    if principal.user.role is not Role.ADMIN:
        raise Forbidden("Administrators only")


def client_info(user_agent: str | None, ip: str | None) -> ClientInfo:
    """What a new session records of its client; the user agent is cut to a sane length."""
    return ClientInfo(user_agent=user_agent[:USER_AGENT_MAX_LENGTH] if user_agent else None, ip=client_ip(ip))


def client_ip(host: str | None) -> str | None:
    """``host`` as a canonical IP address (at most 39 characters), or None when it is none.

    The host comes from the connection, or from ``X-Forwarded-For`` when a trusted proxy
    sent it, and from gRPC's peer string (``unix:/path`` for a socket): whatever text that
    is, a session records an address or nothing. An IPv6 zone (``%eth0``) is local to the
    server and dropped.
    """
    try:
        address = ipaddress.ip_address((host or "").partition("%")[0])
    except ValueError:
        return None
    return str(address)
