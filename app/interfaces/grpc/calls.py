"""What a call says about its caller: metadata, address, and the principal authenticated for it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeAlias
from urllib.parse import unquote

import grpc.aio

from app.application.auth.principal import Principal
from app.infrastructure.setting_values import TrustedProxies
from app.interfaces.client_address import FORWARDED_FOR, client_host

# Generic in the stubs only: quoted, so never subscripted at run time.
Context: TypeAlias = "grpc.aio.ServicerContext[Any, Any]"

_principal: ContextVar[Principal] = ContextVar("grpc_principal")


def metadata_value(context: Context, key: str) -> str | None:
    """The first text value sent under ``key`` (keys arrive lower-cased)."""
    for name, value in context.invocation_metadata() or ():
        if name == key and isinstance(value, str):
            return value
    return None


def client_address(context: Context, trusted: TrustedProxies) -> str:
    """The caller's IP, as REST sees it: the peer (``ipv4:10.0.0.1:5000`` → ``10.0.0.1``,
    ``ipv6:[::1]:5000`` → ``::1``), or behind a trusted proxy what its ``x-forwarded-for`` says.

    One form for both interfaces means one rate-limit budget per client, whichever it calls.
    """
    peer = unquote(context.peer())
    kind, _, address = peer.partition(":")
    if kind in ("ipv4", "ipv6"):
        peer = address.rpartition(":")[0].strip("[]")
    forwarded = [value for name, value in context.invocation_metadata() or () if name == FORWARDED_FOR]
    return client_host(peer, [value for value in forwarded if isinstance(value, str)], trusted)


@contextmanager
def acting_as(principal: Principal) -> Iterator[None]:
    """``principal`` is :func:`current_principal` inside the block."""
    token = _principal.set(principal)
    try:
        yield
    finally:
        _principal.reset(token)


def current_principal() -> Principal:
    """The caller of a method behind the authentication interceptor."""
    return _principal.get()
