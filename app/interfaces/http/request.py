"""The request class: JSON bodies decoded strictly into the route's body type; undecodable ones are a 400."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request
from litestar.exceptions import ClientException, SerializationException
from litestar.types import Empty

from app.interfaces.validation import decode_body


class AppRequest(Request[Any, Any, Any]):
    async def json(self) -> Any:
        """The body as the route's ``data`` type, turning every decoding failure into 400.

        Litestar would decode the JSON, then convert it to the body type leniently (``0``
        and ``"false"`` as booleans, numeric strings as timestamps); decoding it here
        straight into the type is strict, names every offending field (``ValidationFailed``,
        a 422), and the converted struct passes Litestar's own conversion unchanged.

        Bytes that are not UTF-8 escape as ``UnicodeDecodeError`` and absurdly nested
        arrays as ``RecursionError`` — each a client's mistake, neither a 500.
        """
        try:
            if self._json is not Empty or self._connection_state.json is not Empty:
                return await super().json()
            body = await self.body()
            data_field = self.route_handler.parsed_data_field
            if not body or data_field is None:
                return await super().json()
            self._json = self._connection_state.json = decode_body(data_field.annotation, body)
            return self._json
        except (SerializationException, msgspec.DecodeError, UnicodeDecodeError, RecursionError, ValueError):
            raise ClientException("Request body is not valid JSON") from None
