"""Operator commands, added to the ``litestar`` command line.

- ``create-admin EMAIL`` (``just create-admin``) creates an admin or promotes an existing
  user. The password is asked for without echo at a terminal, or read as one line from
  standard input otherwise (``printf '%s\\n' "$PASSWORD" | just create-admin EMAIL``): never
  from the command line, where it would sit in the shell's history and in every process
  listing.
- ``demo`` (``just demo``) fills a development database with sign-in-ready accounts.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import TypeVar

import click
from litestar import Litestar
from litestar.plugins import CLIPluginProtocol

from app.bootstrap import Container
from app.domain.errors import ValidationFailed
from app.interfaces.demo import add_demo_data

T = TypeVar("T")


class AdminCommandsPlugin(CLIPluginProtocol):
    def on_cli_init(self, cli: click.Group) -> None:
        @cli.command(name="create-admin", help="Create an admin user, or promote an existing one.")
        @click.argument("email")
        def create_admin(app: Litestar, email: str) -> None:
            password = read_password()
            user, created = _run(app, lambda container: container.users.create_admin(email, password))
            verb = "Created admin" if created else "Promoted existing user (password unchanged) to admin"
            click.echo(f"{verb} {user.email} ({user.id})")

        @cli.command(name="demo", help="Add demo accounts (an admin and a few users) to a development database.")
        def demo(app: Litestar) -> None:
            container: Container = app.state.container
            if container.settings.is_production:
                raise click.ClickException("demo: refused with APP_ENV=prod (its passwords are published)")
            for line in _run(app, add_demo_data):
                click.echo(line)


def read_password() -> str:
    """From a hidden, confirmed prompt at a terminal; else the first line of standard input."""
    if sys.stdin.isatty():
        password: str = click.prompt("Password", hide_input=True, confirmation_prompt=True)
        return password
    line = sys.stdin.readline()
    if not line:
        raise click.ClickException("password: expected on standard input (one line), got nothing")
    return line.removesuffix("\n").removesuffix("\r")


def _run(app: Litestar, use: Callable[[Container], Awaitable[T]]) -> T:
    """Run one use against the app's container, then close it; field errors as one line each."""
    container: Container = app.state.container

    async def run() -> T:
        try:
            return await use(container)
        finally:
            await container.close()

    try:
        return asyncio.run(run())
    except ValidationFailed as exc:
        raise click.ClickException("; ".join(f"{e.field}: {e.message}" for e in exc.errors)) from None
