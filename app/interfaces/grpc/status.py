"""Errors into gRPC statuses with rich details: this interface's counterpart of the REST problems.

Every error status carries a ``google.rpc.Status`` in the ``grpc-status-details-bin``
trailer (grpcio-status) whose details hold:

- ``google.rpc.ErrorInfo``: ``reason`` = the REST problem ``code`` (``validation_failed``,
  ``not_found``…), ``metadata["error_id"]`` = the id logged with the error;
- ``google.rpc.BadRequest`` on ``INVALID_ARGUMENT``: one field violation per offending
  field, named as REST names them in ``errors``;
- ``google.rpc.RetryInfo`` on ``RESOURCE_EXHAUSTED`` and ``UNAVAILABLE``: when to retry;
- ``google.rpc.DebugInfo`` on ``INTERNAL`` only with ``APP_ENV=local`` and ``DEBUG=true``.

The details travel base64-encoded in a trailer, and a client refuses trailers over its
metadata limit (8 KiB by default), failing the call with ``RESOURCE_EXHAUSTED`` instead of
the error: one listing with a hundred unknown filters did. So what a status carries is
bounded, whatever the request held: the violations listed fit ``VIOLATIONS_BUDGET_BYTES``
(each field name and description clipped), the message says how many more there are,
and the message itself is clipped. A request whose bytes are not the method's message is
``INVALID_ARGUMENT`` with the REST code of an unreadable body, ``bad_request``.
"""

from __future__ import annotations

import traceback
from collections.abc import Mapping
from dataclasses import dataclass

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.protobuf.message import Message
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from app.application.ports import DependencyUnavailable
from app.domain.errors import Conflict, DomainError, FieldError, Forbidden, NotFound, Unauthorized, ValidationFailed
from app.interfaces.errors import BAD_REQUEST, INTERNAL_ERROR, RATE_LIMITED, SERVICE_UNAVAILABLE, status_for

#: ``ErrorInfo.domain``: the proto package whose services answer.
ERROR_DOMAIN = "app.v1"

_DOMAIN_CODES: Mapping[type[DomainError], grpc.StatusCode] = {
    Unauthorized: grpc.StatusCode.UNAUTHENTICATED,
    Forbidden: grpc.StatusCode.PERMISSION_DENIED,
    NotFound: grpc.StatusCode.NOT_FOUND,
    Conflict: grpc.StatusCode.ALREADY_EXISTS,
}

#: As REST's ``Retry-After`` for a dependency outage.
_UNAVAILABLE_RETRY_SECONDS = 1

#: The serialized field violations of one status, at most (ten or more of them, however long each
#: could be): with the rest of the status, base64-encoded, well under a client's 8 KiB.
VIOLATIONS_BUDGET_BYTES = 3072
FIELD_MAX_CHARS = 64
DESCRIPTION_MAX_CHARS = 200
MESSAGE_MAX_CHARS = 300
#: What a field violation costs beyond its two strings (tags and lengths), at most.
_VIOLATION_OVERHEAD_BYTES = 8


class MalformedRequest(Exception):
    """The request's bytes are not the method's request message: the client's mistake, not the server's."""

    def __init__(self, message_name: str) -> None:
        super().__init__(f"The request is not a valid {message_name} message")


class RateLimited(Exception):
    """Over the auth rate limit; ``retry_after`` seconds until the window resets."""

    def __init__(self, retry_after: int) -> None:
        super().__init__("Too many attempts; retry later")
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class Failure:
    """What a client is told: never more than this, whatever the exception said."""

    code: grpc.StatusCode
    message: str
    reason: str
    details: tuple[Message, ...] = ()
    #: Set for unexpected errors only: logged with its traceback, never shown outside local debugging.
    cause: BaseException | None = None


def failure_for(exc: Exception) -> Failure:
    if isinstance(exc, ValidationFailed):
        violations, left_out = _bad_request(exc.errors)
        message = f"{exc.detail} (and {left_out} more not listed)" if left_out else exc.detail
        return Failure(grpc.StatusCode.INVALID_ARGUMENT, message, exc.code, (violations,))
    if isinstance(exc, DomainError):
        return Failure(status_for(_DOMAIN_CODES, exc), exc.detail, exc.code)
    if isinstance(exc, MalformedRequest):
        return Failure(grpc.StatusCode.INVALID_ARGUMENT, str(exc), BAD_REQUEST)
    if isinstance(exc, RateLimited):
        return Failure(grpc.StatusCode.RESOURCE_EXHAUSTED, str(exc), RATE_LIMITED, (_retry_info(exc.retry_after),))
    if isinstance(exc, DependencyUnavailable):
        retry = _retry_info(_UNAVAILABLE_RETRY_SECONDS)
        return Failure(grpc.StatusCode.UNAVAILABLE, str(exc), SERVICE_UNAVAILABLE, (retry,))
    return Failure(grpc.StatusCode.INTERNAL, "An unexpected error occurred", INTERNAL_ERROR, cause=exc)


def rich_status(failure: Failure, error_id: str, *, exposes_internals: bool) -> grpc.Status:
    details: list[Message] = [
        error_details_pb2.ErrorInfo(reason=failure.reason, domain=ERROR_DOMAIN, metadata={"error_id": error_id}),
        *failure.details,
    ]
    if exposes_internals and failure.cause is not None:
        details.append(error_details_pb2.DebugInfo(stack_entries=traceback.format_exception(failure.cause)))
    message = _clipped(failure.message, MESSAGE_MAX_CHARS)
    status = status_pb2.Status(code=failure.code.value[0], message=message, details=map(_packed, details))
    return rpc_status.to_status(status)


def _bad_request(errors: list[FieldError]) -> tuple[error_details_pb2.BadRequest, int]:
    """The violations that fit the budget, in order, and how many were left out."""
    bad_request = error_details_pb2.BadRequest()
    used = 0
    for listed, error in enumerate(errors):
        violation = error_details_pb2.BadRequest.FieldViolation(
            field=_clipped(error.field, FIELD_MAX_CHARS), description=_clipped(error.message, DESCRIPTION_MAX_CHARS)
        )
        used += violation.ByteSize() + _VIOLATION_OVERHEAD_BYTES
        if used > VIOLATIONS_BUDGET_BYTES:
            return bad_request, len(errors) - listed
        bad_request.field_violations.append(violation)
    return bad_request, 0


def _clipped(text: str, max_chars: int) -> str:
    return text if len(text) <= max_chars else text[: max_chars - 1] + "…"


def _retry_info(seconds: int) -> error_details_pb2.RetryInfo:
    return error_details_pb2.RetryInfo(retry_delay=duration_pb2.Duration(seconds=seconds))


def _packed(detail: Message) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(detail)
    return packed
