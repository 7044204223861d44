from collections.abc import AsyncIterator

import pytest
from httpx import AsyncClient

from app.bootstrap import Container
from app.infrastructure.config import Settings
from tests.e2e.grpc_helpers import Stubs, serving
from tests.e2e.helpers import PASSWORD, sign_in

ADMIN_EMAIL = "root@example.com"


@pytest.fixture(autouse=True)
def _empty_tables(clean_database: None) -> None:
    """End-to-end tests share one database; each starts from empty tables."""


@pytest.fixture
async def admin(client: AsyncClient, container: Container) -> dict[str, str]:
    """Tokens of an administrator, made the way operators make the first one (create-admin)."""
    await container.users.create_admin(ADMIN_EMAIL, PASSWORD)
    tokens: dict[str, str] = await sign_in(client, ADMIN_EMAIL)
    return tokens


@pytest.fixture(scope="session")
async def rpc(settings: Settings, container: Container) -> AsyncIterator[Stubs]:
    """Client stubs of a gRPC server sharing the REST app's container (and so its database)."""
    async with serving(settings, container) as stubs:
        yield stubs
