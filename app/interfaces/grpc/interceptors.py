"""What runs around every call, outermost first: request log, errors, rate limit, authentication.

Each interceptor is one async context manager (:meth:`AroundInterceptor.around`) entered
around the servicer's method, for the services it is given (all services when none
are). Wrapping happens per handler kind, so the same interceptor serves unary calls and
the health and reflection streams alike.
"""

from __future__ import annotations

import abc
import asyncio
import functools
import inspect
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Collection
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, TypeAlias

import grpc
import grpc.aio
import structlog

from app.application.auth.queries import AuthQueries
from app.infrastructure.rate_limit import RateLimiter
from app.infrastructure.setting_values import TrustedProxies
from app.interfaces import callers
from app.interfaces.errors import new_error_id
from app.interfaces.grpc import metrics
from app.interfaces.grpc.calls import Context, acting_as, client_address, metadata_value
from app.interfaces.grpc.status import Failure, MalformedRequest, RateLimited, failure_for, rich_status
from app.interfaces.request_id import REQUEST_ID_KEY, request_id

access_log = structlog.get_logger("app.access")
error_log = structlog.get_logger("app.errors")

# Generic in the stubs only: quoted, so never subscripted at run time.
Handler: TypeAlias = "grpc.RpcMethodHandler[Any, Any]"
Around: TypeAlias = Callable[[Context], AbstractAsyncContextManager[None]]


class AroundInterceptor(grpc.aio.ServerInterceptor, abc.ABC):
    def __init__(self, *, services: Collection[str] | None = None) -> None:
        self._prefixes = None if services is None else tuple(f"/{service}/" for service in services)

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Handler | None]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Handler | None:
        handler = await continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None or (self._prefixes is not None and not method.startswith(self._prefixes)):
            return handler
        return _wrapped(self.inner(handler), functools.partial(self.around, method))

    def inner(self, handler: Handler) -> Handler:
        """The handler ``around`` is entered around: by default, the one the next interceptor made."""
        return handler

    @abc.abstractmethod
    def around(self, method: str, context: Context) -> AbstractAsyncContextManager[None]:
        """Entered before the method runs, left when it has answered or failed."""


class RequestLogInterceptor(AroundInterceptor):
    """A request id for every call (the client's ``x-request-id`` if sane), returned in the
    initial metadata, bound to every log line of the call, and one access-log line per call,
    counted in the call metrics (``metrics.py``)."""

    @asynccontextmanager
    async def around(self, method: str, context: Context) -> AsyncIterator[None]:
        call_id = request_id(metadata_value(context, REQUEST_ID_KEY))
        await context.send_initial_metadata(((REQUEST_ID_KEY, call_id),))
        started = time.perf_counter()
        failure: BaseException | None = None
        # user_id is bound here, for this call only, and filled in by authentication.
        with structlog.contextvars.bound_contextvars(request_id=call_id, user_id=None):
            try:
                yield
            except BaseException as exc:
                failure = exc
                raise
            finally:
                code, duration = _outcome(context, failure).name, time.perf_counter() - started
                metrics.CALLS.labels(method, code).inc()
                metrics.DURATION.labels(method).observe(duration)
                access_log.info(
                    "rpc",
                    method=method,
                    code=code,
                    duration_ms=round(duration * 1000, 2),
                    user_id=structlog.contextvars.get_contextvars().get("user_id"),
                )


def _outcome(context: Context, failure: BaseException | None) -> grpc.StatusCode:
    """The status the client gets: set by the method or an abort, else what gRPC answers for an escape."""
    if isinstance(failure, asyncio.CancelledError):
        return grpc.StatusCode.CANCELLED
    if failure is None or isinstance(failure, grpc.aio.AbortError):
        return context.code() or grpc.StatusCode.OK
    return grpc.StatusCode.UNKNOWN


class ErrorInterceptor(AroundInterceptor):
    """Every exception of the application's methods becomes a status (see ``status``), logged with its error id.

    Unexpected ones become ``INTERNAL`` with a generic message: their text and traceback
    go to the log only (and to ``DebugInfo`` when debugging locally).
    """

    def __init__(self, *, services: Collection[str], exposes_internals: bool) -> None:
        super().__init__(services=services)
        self._exposes_internals = exposes_internals

    def inner(self, handler: Handler) -> Handler:
        """Request bytes that are not the method's message: gRPC would fail the call with ``UNKNOWN``
        and the decoder's exception as its message, before any interceptor ran. Decoded here
        instead, a failure is raised inside ``around``, and answered like every other error."""
        if handler.unary_unary is None or handler.request_deserializer is None:
            return handler  # the app.v1 methods are all unary
        deserializer = handler.request_deserializer
        behaviour: Callable[..., Awaitable[Any]] = handler.unary_unary

        def deserialize(raw: bytes) -> Any:
            try:
                return deserializer(raw)
            except Exception:  # noqa: BLE001 - whatever the decoder raises, the bytes are the client's
                return _UNDECODABLE

        async def behave(request: Any, context: Context) -> Any:
            if request is _UNDECODABLE:
                raise MalformedRequest(_request_message_name(deserializer))
            return await behaviour(request, context)

        return grpc.unary_unary_rpc_method_handler(behave, deserialize, handler.response_serializer)

    @asynccontextmanager
    async def around(self, method: str, context: Context) -> AsyncIterator[None]:
        try:
            yield
        except Exception as exc:  # noqa: BLE001 - this is the error boundary: every failure becomes a status
            failure = failure_for(exc)
            error_id = new_error_id()
            _log(failure, error_id)
            await context.abort_with_status(rich_status(failure, error_id, exposes_internals=self._exposes_internals))


#: What the tolerant deserializer returns for bytes it cannot decode.
_UNDECODABLE = object()


def _request_message_name(deserializer: Callable[[bytes], Any]) -> str:
    """``app.v1.SignUp`` for ``SignUp.FromString``: generated deserializers are bound to their message class."""
    message_class = getattr(deserializer, "__self__", None)
    descriptor = getattr(message_class, "DESCRIPTOR", None)
    return str(getattr(descriptor, "full_name", "request"))


def _log(failure: Failure, error_id: str) -> None:
    fields = {"error_id": error_id, "status": failure.code.name, "code": failure.reason}
    if failure.cause is not None:
        error_log.error("request_failed", detail=failure.message, exc_info=failure.cause, **fields)
    else:
        error_log.info("request_rejected", detail=failure.message, **fields)


class RateLimitInterceptor(AroundInterceptor):
    """The REST auth rate limit (same limiter, same key: the client IP), so both interfaces share one budget."""

    def __init__(self, limiter: RateLimiter, trusted: TrustedProxies, *, services: Collection[str]) -> None:
        super().__init__(services=services)
        self._limiter = limiter
        self._trusted = trusted

    @asynccontextmanager
    async def around(self, method: str, context: Context) -> AsyncIterator[None]:
        verdict = await self._limiter.hit(client_address(context, self._trusted))
        if not verdict.allowed:
            raise RateLimited(verdict.retry_after)
        yield


class AuthenticationInterceptor(AroundInterceptor):
    """``authorization: Bearer <token>`` or ``x-api-key`` metadata into the call's principal."""

    def __init__(self, queries: AuthQueries, *, services: Collection[str]) -> None:
        super().__init__(services=services)
        self._queries = queries

    @asynccontextmanager
    async def around(self, method: str, context: Context) -> AsyncIterator[None]:
        principal = await callers.authenticate(
            self._queries,
            authorization=metadata_value(context, "authorization"),
            api_key=metadata_value(context, "x-api-key"),
        )
        structlog.contextvars.bind_contextvars(user_id=str(principal.user_id))
        with acting_as(principal):
            yield


def _wrapped(handler: Handler, around: Around) -> Handler:
    """The same handler, its behaviour run inside ``around``."""
    deserializer, serializer = handler.request_deserializer, handler.response_serializer
    if handler.unary_unary is not None:
        return grpc.unary_unary_rpc_method_handler(_around_unary(handler.unary_unary, around), deserializer, serializer)
    if handler.stream_unary is not None:
        return grpc.stream_unary_rpc_method_handler(
            _around_unary(handler.stream_unary, around), deserializer, serializer
        )
    if handler.unary_stream is not None:
        return grpc.unary_stream_rpc_method_handler(
            _around_stream(handler.unary_stream, around), deserializer, serializer
        )
    assert handler.stream_stream is not None  # noqa: S101 - a handler has exactly one behaviour
    return grpc.stream_stream_rpc_method_handler(
        _around_stream(handler.stream_stream, around), deserializer, serializer
    )


def _around_unary(behaviour: Callable[..., Any], around: Around) -> Callable[..., Any]:
    async def behave(request: Any, context: Context) -> Any:
        async with around(context):
            return await behaviour(request, context)

    return behave


def _around_stream(behaviour: Callable[..., Any], around: Around) -> Callable[..., Any]:
    """gRPC asyncio tells an async generator (yields responses) from a coroutine (``context.write``s
    them) by the function's kind, so the wrapper must be of the same kind."""
    if inspect.isasyncgenfunction(behaviour):

        async def stream(request: Any, context: Context) -> AsyncIterator[Any]:
            async with around(context):
                async for response in behaviour(request, context):
                    yield response

        return stream

    async def write(request: Any, context: Context) -> None:
        async with around(context):
            await behaviour(request, context)

    return write
