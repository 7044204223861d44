"""Demo data for a development database (``just demo``): accounts to sign in with at once.

Each step adds one kind of data and says what it added; running the steps again adds
nothing twice (an existing account is left as it is). A new kind of data (organizations,
their tasks) is one more step appended to ``DEMO_STEPS``, built on the ones before.
The passwords are published here on purpose: the command refuses to run in production.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from app.bootstrap import Container
from app.domain.errors import EmailAlreadyRegistered

DEMO_PASSWORD = "demo-password"  # noqa: S105 - published demo credentials, refused in production
DEMO_ADMIN = "admin@example.com"
#: (email, first name, last name) of the ordinary users.
DEMO_USERS = (
    ("ada@example.com", "Ada", "Lovelace"),
    ("grace@example.com", "Grace", "Hopper"),
    ("alan@example.com", "Alan", "Turing"),
)

DemoStep = Callable[[Container], Awaitable[list[str]]]


async def add_admin(container: Container) -> list[str]:
    user, created = await container.users.create_admin(DEMO_ADMIN, DEMO_PASSWORD)
    return [f"{'Added' if created else 'Kept'} admin {user.email}"]


async def add_users(container: Container) -> list[str]:
    lines = []
    for email, first_name, last_name in DEMO_USERS:
        try:
            await container.users.sign_up(email, DEMO_PASSWORD, {"first_name": first_name, "last_name": last_name})
        except EmailAlreadyRegistered:
            lines.append(f"Kept user {email}")
        else:
            lines.append(f"Added user {email}")
    return lines


async def how_to_sign_in(container: Container) -> list[str]:
    settings = container.settings
    base = f"http://{settings.host}:{settings.port}"
    return [
        "",
        f"Every demo account's password is {DEMO_PASSWORD!r}. With `just dev` running:",
        f"  API docs: {base}/schema (Authorize: {DEMO_ADMIN} / {DEMO_PASSWORD})",
        f"  curl -s {base}/api/v1/auth/tokens -H 'Content-Type: application/json' \\",
        f'       -d \'{{"email": "{DEMO_ADMIN}", "password": "{DEMO_PASSWORD}"}}\'',
    ]


DEMO_STEPS: tuple[DemoStep, ...] = (add_admin, add_users, how_to_sign_in)


async def add_demo_data(container: Container) -> list[str]:
    """Every step in order; what each added, then how to sign in."""
    lines: list[str] = []
    for step in DEMO_STEPS:
        lines.extend(await step(container))
    return lines
