"""Operator commands, added to the ``litestar`` command line.

``litestar --app app.interfaces.http.app:create_app create-admin EMAIL PASSWORD``
(``just create-admin``) creates an admin or promotes an existing user.
"""

from __future__ import annotations

import asyncio

import click
from litestar import Litestar
from litestar.plugins import CLIPluginProtocol

from app.application.users.dto import UserRead
from app.bootstrap import Container
from app.domain.errors import ValidationFailed


class AdminCommandsPlugin(CLIPluginProtocol):
    def on_cli_init(self, cli: click.Group) -> None:
        @cli.command(name="create-admin", help="Create an admin user, or promote an existing one.")
        @click.argument("email")
        @click.argument("password")
        def create_admin(app: Litestar, email: str, password: str) -> None:
            container: Container = app.state.container
            try:
                user, created = asyncio.run(_create_admin(container, email, password))
            except ValidationFailed as exc:
                raise click.ClickException("; ".join(f"{e.field}: {e.message}" for e in exc.errors)) from None
            verb = "Created admin" if created else "Promoted existing user (password unchanged) to admin"
            click.echo(f"{verb} {user.email} ({user.id})")


async def _create_admin(container: Container, email: str, password: str) -> tuple[UserRead, bool]:
    try:
        return await container.users.create_admin(email, password)
    finally:
        await container.close()
