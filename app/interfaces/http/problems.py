"""RFC 9457 problem details for every error the HTTP interface returns.

All errors, from a domain rule to an unknown route to a crash, are turned into one
``Problem`` here; ``Problem.to_response`` adds the ``error_id``, logs it and echoes it in
``X-Error-Id``, so a client's report can be matched to the log line.
"""

from __future__ import annotations

import traceback
from http import HTTPStatus
from typing import Any

import msgspec
import structlog
from litestar import Request, Response
from litestar.enums import RequestEncodingType
from litestar.exceptions import HTTPException, ValidationException
from litestar.params import BodyKwarg
from litestar.plugins.problem_details import ProblemDetailsConfig, ProblemDetailsException, ProblemDetailsPlugin
from litestar.types import Empty
from litestar.utils.scope.state import ScopeState

from app.application.ports import DependencyUnavailable
from app.domain.errors import (
    Conflict,
    DomainError,
    FieldError,
    Forbidden,
    NotFound,
    Unauthorized,
    ValidationFailed,
)
from app.interfaces.errors import (
    BAD_REQUEST,
    INTERNAL_ERROR,
    RATE_LIMITED,
    SERVICE_UNAVAILABLE,
    new_error_id,
    status_for,
)
from app.interfaces.validation import body_field_errors

log = structlog.get_logger("app.errors")

_CODES = {
    400: BAD_REQUEST,
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    422: "validation_failed",
    429: RATE_LIMITED,
    500: INTERNAL_ERROR,
    503: SERVICE_UNAVAILABLE,
}

_DOMAIN_STATUS: dict[type[DomainError], int] = {
    ValidationFailed: 422,
    Unauthorized: 401,
    Forbidden: 403,
    NotFound: 404,
    Conflict: 409,
}

_UNAUTHORIZED_HEADERS = {"WWW-Authenticate": "Bearer"}


class ProblemFieldError(msgspec.Struct):
    field: str
    message: str


class ProblemBody(msgspec.Struct, kw_only=True, omit_defaults=True):
    """The error body, for the OpenAPI document (responses are built by ``Problem``)."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    instance: str
    code: str
    error_id: str
    errors: list[ProblemFieldError] | None = None


class Problem(ProblemDetailsException):
    def __init__(
        self,
        status: int,
        detail: str,
        *,
        errors: list[FieldError] | None = None,
        headers: dict[str, str] | None = None,
        cause: BaseException | None = None,
        code: str | None = None,
    ) -> None:
        # A domain error names its own code (``email_not_verified`` is a 403); others go by status.
        extra: dict[str, Any] = {"code": code or _CODES.get(status, f"http_{status}")}
        if errors is not None:
            extra["errors"] = [{"field": e.field, "message": e.message} for e in errors]
        super().__init__(
            detail=detail, status_code=status, headers=headers, extra=extra, type_="about:blank", title=_title(status)
        )
        self.cause = cause

    def to_response(self, request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
        error_id = new_error_id()
        self.instance = request.url.path
        self.extra = {**(self.extra if isinstance(self.extra, dict) else {}), "error_id": error_id}
        self.headers = {**(self.headers or {}), "X-Error-Id": error_id}
        _log(self, error_id)
        if self.status_code >= 500 and self.cause is not None and _exposes_internals(request):
            self.extra["traceback"] = traceback.format_exception(self.cause)
        return super().to_response(request)


def problem_document(status: int, detail: str, *, instance: str, error_id: str, code: str | None = None) -> bytes:
    """The JSON body of a problem answered below Litestar (by the connection or the last-resort
    guard), in the shape ``Problem`` gives every other one (``ProblemBody``, without ``errors``)."""
    body = {
        "type": "about:blank",
        "title": _title(status),
        "status": status,
        "detail": detail,
        "instance": instance,
        "code": code or _CODES.get(status, f"http_{status}"),
        "error_id": error_id,
    }
    return msgspec.json.encode(body)


def _title(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _log(problem: Problem, error_id: str) -> None:
    fields = {"error_id": error_id, "status": problem.status_code, "code": problem.extra.get("code")}  # type: ignore[union-attr]
    if problem.status_code >= 500 and problem.cause is not None:
        log.error("request_failed", detail=problem.detail, exc_info=problem.cause, **fields)
    else:
        log.info("request_rejected", detail=problem.detail, **fields)


def _exposes_internals(request: Request[Any, Any, Any]) -> bool:
    return bool(getattr(request.app.state, "exposes_internals", False))


def from_domain_error(exc: DomainError) -> Problem:
    status = status_for(_DOMAIN_STATUS, exc)
    errors = exc.errors if isinstance(exc, ValidationFailed) else None
    headers = _UNAUTHORIZED_HEADERS if status == 401 else None
    return Problem(status, exc.detail, errors=errors, headers=headers, code=exc.code)


def from_unavailable(exc: DependencyUnavailable) -> Problem:
    return Problem(503, str(exc), headers={"Retry-After": "1"})


def from_http_exception(exc: HTTPException) -> Problem:
    headers = dict(exc.headers or {})
    if exc.status_code == 401:
        headers.update(_UNAUTHORIZED_HEADERS)
    detail = exc.detail if exc.detail != _title(exc.status_code) else _DEFAULT_DETAILS.get(exc.status_code, exc.detail)
    return Problem(exc.status_code, detail, headers=headers or None)


def from_unexpected(exc: Exception) -> Problem:
    return Problem(500, "An unexpected error occurred", cause=exc)


_DEFAULT_DETAILS = {
    404: "No such resource",
    405: "Method not allowed on this resource",
    413: "Request body is too large",
}


def problem_details_plugin() -> ProblemDetailsPlugin:
    return ProblemDetailsPlugin(
        ProblemDetailsConfig(
            exception_to_problem_detail_map={
                DomainError: from_domain_error,
                DependencyUnavailable: from_unavailable,
                HTTPException: from_http_exception,
                Exception: from_unexpected,
            }
        )
    )


_FORM_MEDIA_TYPES = {RequestEncodingType.URL_ENCODED, RequestEncodingType.MULTI_PART}


def validation_exception_handler(request: Request[Any, Any, Any], exc: ValidationException) -> Response[Any]:
    """Litestar rejects bad parameters and bodies with a 400 listing one error per argument.

    Unparseable bodies stay 400; everything else becomes a 422 that names every offending
    field, re-checking the body field by field because msgspec stops at the first error.
    """
    messages: list[dict[str, Any]] = exc.extra if isinstance(exc.extra, list) else []
    errors: list[FieldError] = []
    for message in messages:
        if message.get("source") == "body" or message.get("key", "").startswith("data"):
            if not ScopeState.from_scope(request.scope).body and not _is_form(request):
                return Problem(400, "A request body is required").to_response(request)
            errors.extend(_body_errors(request) or [FieldError(_body_key(message), message.get("message", ""))])
        elif "key" in message:
            errors.append(FieldError(message["key"], message.get("message", "Invalid value")))
    if not errors:
        return Problem(400, "Request body is not valid JSON or form data").to_response(request)
    unique = list(dict.fromkeys(errors))
    return Problem(422, "Validation failed", errors=unique).to_response(request)


def _body_key(message: dict[str, Any]) -> str:
    key = str(message.get("key", "body"))
    return "body" if key == "data" else key.removeprefix("data.")


def _is_form(request: Request[Any, Any, Any]) -> bool:
    """An empty form is still a form (with every field missing); an empty JSON body is not JSON."""
    data_field = request.route_handler.parsed_data_field
    kwarg = data_field.kwarg_definition if data_field else None
    return isinstance(kwarg, BodyKwarg) and kwarg.media_type in _FORM_MEDIA_TYPES


def _body_errors(request: Request[Any, Any, Any]) -> list[FieldError]:
    data_field = request.route_handler.parsed_data_field
    state = ScopeState.from_scope(request.scope)
    raw = state.json if state.json is not Empty else state.form
    if raw is Empty and _is_form(request):
        raw = {}
    if data_field is None or raw is Empty:
        return []
    return body_field_errors(data_field.annotation, raw)
