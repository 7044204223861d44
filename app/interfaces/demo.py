"""Demo data for a development database (``just demo``): accounts to sign in with at once.

Each step adds one kind of data and says what it added; running the steps again adds
nothing twice (an existing account is left as it is). A new kind of data (organizations,
their tasks) is one more step appended to ``DEMO_STEPS``, built on the ones before.
The passwords are published here on purpose: the command refuses to run in production.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from uuid import UUID

from app.application.organizations.dto import OrganizationCreateBody
from app.application.tasks.dto import TaskCreate
from app.bootstrap import Container
from app.domain.errors import EmailAlreadyRegistered
from app.domain.organizations.errors import SlugTaken
from app.domain.organizations.values import OrgRole
from app.domain.tasks.values import TaskPriority

DEMO_PASSWORD = "demo-password"  # noqa: S105 - published demo credentials, refused in production
DEMO_ADMIN = "admin@example.com"
#: (email, first name, last name) of the ordinary users.
DEMO_USERS = (
    ("ada@example.com", "Ada", "Lovelace"),
    ("grace@example.com", "Grace", "Hopper"),
    ("alan@example.com", "Alan", "Turing"),
)

#: The demo organization: its name and slug, its owner, and its other members with their roles.
DEMO_ORGANIZATION = ("Analytical Engines", "analytical-engines")
DEMO_OWNER = "ada@example.com"
DEMO_MEMBERS = (("grace@example.com", OrgRole.ADMIN), ("alan@example.com", OrgRole.MEMBER))

#: (title, assignee, priority, tags) of the demo organization's tasks.
DEMO_TASKS = (
    ("Design the difference engine's printer", "grace@example.com", TaskPriority.HIGH, ("design",)),
    ("Write the Bernoulli numbers program", "ada@example.com", TaskPriority.URGENT, ("program", "notes")),
    ("Review note G", "alan@example.com", TaskPriority.NORMAL, ("notes",)),
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


async def demo_organization_id(container: Container) -> UUID | None:
    """The demo organization's id, if its owner has it (what later steps add their data to)."""
    owner = await _user_id(container, DEMO_OWNER)
    page = await container.organizations.list_mine(owner, {"slug": [DEMO_ORGANIZATION[1]]})
    return page.items[0].id if page.items else None


async def add_organization(container: Container) -> list[str]:
    name, slug = DEMO_ORGANIZATION
    owner = await _user_id(container, DEMO_OWNER)
    try:
        created = await container.organizations.create(owner, OrganizationCreateBody(name=name, slug=slug))
        organization_id, lines = created.id, [f"Added organization {slug} (owner {DEMO_OWNER})"]
    except SlugTaken:
        found = await demo_organization_id(container)
        if found is None:
            return [f"Skipped organization {slug}: the slug belongs to someone else"]
        organization_id, lines = found, [f"Kept organization {slug}"]
    for email, role in DEMO_MEMBERS:
        joined = await container.members.admit(organization_id, await _user_id(container, email), role)
        lines.append(f"{'Added' if joined else 'Kept'} member {email} ({role}) of {slug}")
    return lines


async def add_tasks(container: Container) -> list[str]:
    """A few tasks in the demo organization, added once: only while it has none."""
    organization_id = await demo_organization_id(container)
    if organization_id is None:
        return []
    owner = await _user_id(container, DEMO_OWNER)
    if (await container.tasks.list(owner, organization_id, {"limit": ["1"]})).items:
        return [f"Kept the tasks of {DEMO_ORGANIZATION[1]}"]
    lines = []
    for title, assignee, priority, tags in DEMO_TASKS:
        assignee_id = await _user_id(container, assignee)
        data = TaskCreate(title=title, assignee_id=assignee_id, priority=priority, tags=list(tags))
        await container.tasks.create(owner, organization_id, data)
        lines.append(f"Added task {title!r} (assigned to {assignee})")
    return lines


async def _user_id(container: Container, email: str) -> UUID:
    (user,) = (await container.administration.list_users({"email": [email]})).items
    return user.id


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


DEMO_STEPS: tuple[DemoStep, ...] = (add_admin, add_users, add_organization, add_tasks, how_to_sign_in)


async def add_demo_data(container: Container) -> list[str]:
    """Every step in order; what each added, then how to sign in."""
    lines: list[str] = []
    for step in DEMO_STEPS:
        lines.extend(await step(container))
    return lines
