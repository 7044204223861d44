"""The request class: JSON bodies that cannot be decoded are a 400, whatever the reason."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.exceptions import ClientException, SerializationException


class AppRequest(Request[Any, Any, Any]):
    async def json(self) -> Any:
        """Decode the body, turning every decoding failure into 400.

        Litestar reports malformed JSON itself, but bytes that are not UTF-8 escape as
        ``UnicodeDecodeError`` and absurdly nested arrays as ``RecursionError`` — each a
        client's mistake, neither a 500.
        """
        try:
            return await super().json()
        except (SerializationException, UnicodeDecodeError, RecursionError, ValueError):
            raise ClientException("Request body is not valid JSON") from None
