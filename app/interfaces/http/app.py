"""The HTTP application factory (``uvicorn --factory app.interfaces.http.app:create_app``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar
from litestar.config.cors import CORSConfig
from litestar.exceptions import ValidationException
from litestar.plugins import CLIPluginProtocol

from app.bootstrap import Container, build_container
from app.infrastructure.config import Settings, load_settings_or_exit
from app.infrastructure.logging import configure_logging
from app.infrastructure.setting_values import trusted_proxies
from app.interfaces.cli import AdminCommandsPlugin
from app.interfaces.http.allow import AllowEveryMethod
from app.interfaces.http.controllers.account import AccountLifecycleController
from app.interfaces.http.controllers.admin import AdminUsersController
from app.interfaces.http.controllers.api_keys import ApiKeysController
from app.interfaces.http.controllers.auth import AuthController, SignInController
from app.interfaces.http.controllers.health import HealthController
from app.interfaces.http.controllers.organizations import InvitationAcceptController, OrganizationsController
from app.interfaces.http.controllers.tasks import TasksController
from app.interfaces.http.controllers.users import MeController
from app.interfaces.http.deps import dependencies
from app.interfaces.http.docs_ui import assets_router
from app.interfaces.http.forwarded import ForwardedClientMiddleware
from app.interfaces.http.guard import RequestGuard
from app.interfaces.http.metrics import MetricsPlugin
from app.interfaces.http.openapi import DOCS_PATH, ClosedBodies, openapi_config
from app.interfaces.http.problems import problem_details_plugin, validation_exception_handler
from app.interfaces.http.request import AppRequest
from app.interfaces.http.request_context import RequestContextMiddleware
from app.interfaces.http.security_headers import SecurityHeadersMiddleware
from app.interfaces.lifecycle import serving


def create_app(settings: Settings | None = None, container: Container | None = None) -> Litestar:
    settings = settings or load_settings_or_exit()
    configure_logging(settings)
    container = container or build_container(settings)

    @asynccontextmanager
    async def lifespan(_: Litestar) -> AsyncIterator[None]:
        async with serving(container):
            yield

    plugins: list[CLIPluginProtocol | object] = [
        problem_details_plugin(),
        AdminCommandsPlugin(),
        MetricsPlugin(),
        ClosedBodies(),
    ]
    if settings.tracing_enabled:
        from app.interfaces.http.tracing import tracing_plugins  # noqa: PLC0415 - OpenTelemetry only when on

        plugins += tracing_plugins()
    docs_assets = [assets_router(DOCS_PATH)] if settings.show_api_docs else []
    app = Litestar(
        route_handlers=[
            SignInController,
            AuthController,
            AccountLifecycleController,
            ApiKeysController,
            MeController,
            AdminUsersController,
            OrganizationsController,
            InvitationAcceptController,
            TasksController,
            HealthController,
            *docs_assets,
        ],
        dependencies=dependencies(container),
        plugins=plugins,  # type: ignore[arg-type]
        exception_handlers={ValidationException: validation_exception_handler},
        openapi_config=openapi_config(settings),
        cors_config=CORSConfig(allow_origins=settings.cors_origin_list) if settings.cors_origin_list else None,
        request_max_body_size=settings.request_max_body_bytes,
        request_class=AppRequest,
        before_request=AllowEveryMethod(),
        lifespan=[lifespan],
        debug=False,
        # Logging is configure_logging's: Litestar's own set-up would give the root logger its
        # text format, and the libraries' lines would be text among the JSON ones.
        logging_config=None,
    )
    app.state.exposes_internals = settings.exposes_internals
    app.state.container = container
    # Outermost layers, outside Litestar's router, so that even unmatched routes get a
    # request id, an access-log line and the security headers; inside them, the guard answers
    # what Litestar cannot (a bad Host, an exception that escaped it) as problems.
    app.asgi_handler = RequestContextMiddleware(
        SecurityHeadersMiddleware(RequestGuard(app.asgi_handler), docs_path=DOCS_PATH)
    )
    if trusted := trusted_proxies(settings.forwarded_allow_ips):
        app.asgi_handler = ForwardedClientMiddleware(app.asgi_handler, trusted)
    return app
