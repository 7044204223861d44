"""Request ids: the client's own when it sent a sane one, else a new one.

The id ends up in log lines and in the answer (REST ``X-Request-ID`` header, gRPC
``x-request-id`` metadata), so only a short token of safe characters is taken as given.
"""

from __future__ import annotations

import re

import uuid_utils.compat as uuid_utils

REQUEST_ID_KEY = "x-request-id"

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")


def request_id(sent: str | None) -> str:
    if sent is not None and _REQUEST_ID.match(sent):
        return sent
    return uuid_utils.uuid4().hex
