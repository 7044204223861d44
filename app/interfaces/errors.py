"""What every interface tells a client about a failure, before it picks its own status.

A failure has a stable code slug — a REST problem's ``code``, a gRPC status's
``google.rpc.ErrorInfo`` reason — and an error id that is logged with it. Domain errors
carry their slug (``DomainError.code``); the slugs of failures that are not the domain's
are named here. Each interface keeps its own table from error class to status and reads
it with :func:`status_for`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

import uuid_utils.compat as uuid_utils

from app.domain.errors import DomainError

StatusT = TypeVar("StatusT")

BAD_REQUEST = "bad_request"
RATE_LIMITED = "rate_limited"
SERVICE_UNAVAILABLE = "service_unavailable"
INTERNAL_ERROR = "internal_error"
#: Refused by the HTTP connection itself, before any application code ran.
REQUEST_TIMEOUT = "request_timeout"
HEADERS_TOO_LARGE = "headers_too_large"


def new_error_id() -> str:
    """Unique per error answer: a client quotes it, an operator finds the log line."""
    return uuid_utils.uuid4().hex


def status_for(table: Mapping[type[DomainError], StatusT], exc: DomainError) -> StatusT:
    """The status of the most specific class in ``table`` that ``exc`` is an instance of."""
    return next(table[kind] for kind in type(exc).__mro__ if kind in table)
