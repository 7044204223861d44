"""Answers to ``OPTIONS``: the ``Allow`` header names every method of the path.

Litestar 2 answers ``OPTIONS`` itself, but with a handler made when the *first* handler of a
path is registered; later ones do not update it. So ``OPTIONS /api/v1/users`` said
``Allow: OPTIONS, POST`` and left out ``GET``. This hook answers in its place from the routes
as the app finally built them, the same methods a 405 names. (No route here declares an
``OPTIONS`` handler of its own; CORS preflights are answered earlier, by the CORS middleware.)
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response
from litestar.enums import HttpMethod
from litestar.routes import HTTPRoute
from litestar.status_codes import HTTP_204_NO_CONTENT


class AllowEveryMethod:
    """``before_request`` hook of the app: answers ``OPTIONS``, lets every other request through."""

    def __init__(self) -> None:
        self._allow: dict[str, str] | None = None

    async def __call__(self, request: Request[Any, Any, Any]) -> Response[None] | None:
        if request.method != HttpMethod.OPTIONS:
            return None
        if self._allow is None:  # The routes are complete only once the app is built: read them on first use.
            self._allow = {
                route.path_format: ", ".join(sorted(route.methods))
                for route in request.app.routes
                if isinstance(route, HTTPRoute)
            }
        return Response(
            None, status_code=HTTP_204_NO_CONTENT, headers={"Allow": self._allow[request.scope["path_template"]]}
        )
