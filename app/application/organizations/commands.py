"""Organizations themselves: create one (the caller its owner), list the caller's, read, rename, delete.

A slug the client names is taken or not, and taken is a 409. A slug derived from the name
never is: when it is taken, the next candidate is tried (``acme``, ``acme-2``…, then random
suffixes), and the unique index decides each time, so concurrent creates of the same name
end with distinct slugs rather than an error.
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from uuid import UUID

from app.application.listing import CursorCodec, Page, parse_list_query
from app.application.organizations.access import OrganizationNotFound, enter_organization
from app.application.organizations.dto import OrganizationCreateBody, OrganizationPatchBody, OrganizationRead
from app.application.organizations.listing import ORGANIZATION_LISTING
from app.application.organizations.owners import enter_locked
from app.application.organizations.ports import OrganizationListing, OrganizationUnitOfWorkFactory
from app.application.ports import Clock, IdFactory
from app.application.validation import validate_fields
from app.domain.organizations.errors import SlugTaken
from app.domain.organizations.model import Organization
from app.domain.organizations.values import OrganizationName, OrgRole, Slug

#: Numbered variants of a derived slug tried before random ones (``-2`` to ``-5``).
NUMBERED_VARIANTS = 4
#: Random variants tried after them; each is one of 36^6 suffixes, so running out means a bug.
RANDOM_VARIANTS = 20
_SUFFIX_ALPHABET = string.ascii_lowercase + string.digits


def derived_slugs(name: str) -> Iterator[Slug]:
    """The slugs a name may take, in the order they are tried."""
    yield Slug.derive(name)
    for number in range(2, NUMBERED_VARIANTS + 2):
        yield Slug.derive(name, f"-{number}")
    for _ in range(RANDOM_VARIANTS):
        yield Slug.derive(name, "-" + "".join(secrets.choice(_SUFFIX_ALPHABET) for _ in range(6)))


@dataclass(kw_only=True, eq=False)
class OrganizationCommands:
    uow: OrganizationUnitOfWorkFactory
    listing: OrganizationListing
    cursors: CursorCodec
    clock: Clock
    ids: IdFactory

    async def create(self, user_id: UUID, body: OrganizationCreateBody) -> OrganizationRead:
        """A new organization with the caller as its owner; ``SlugTaken`` for a named slug in use."""
        values = validate_fields(
            name=lambda: OrganizationName(body.name), slug=lambda: None if body.slug is None else Slug(body.slug)
        )
        name: OrganizationName = values["name"]
        slugs = [values["slug"]] if values["slug"] is not None else derived_slugs(name.value)
        now = self.clock()
        async with self.uow() as uow:
            for slug in slugs:
                organization, owner = Organization.create(id=self.ids(), name=name, slug=slug, creator=user_id, now=now)
                if await uow.organizations.add(organization):
                    break
            else:
                raise SlugTaken()
            await uow.memberships.add(owner)
            await uow.commit()
        return OrganizationRead.of(organization, owner.role)

    async def list_mine(self, user_id: UUID, params: Mapping[str, Sequence[str]]) -> Page[OrganizationRead]:
        """The caller's organizations, as the listing parameters ask (see ``app.application.listing``)."""
        return await self.listing.page(user_id, parse_list_query(params, ORGANIZATION_LISTING, self.cursors))

    async def get(self, user_id: UUID, organization_id: UUID) -> OrganizationRead:
        async with self.uow() as uow:
            membership = await enter_organization(uow, organization_id, user_id)
            organization = await uow.organizations.get(organization_id)
        if organization is None:  # deleted since the membership was read
            raise OrganizationNotFound()
        return OrganizationRead.of(organization, membership.role)

    async def update(self, user_id: UUID, organization_id: UUID, patch: OrganizationPatchBody) -> OrganizationRead:
        """Rename (admin+); a slug in use by another organization is ``SlugTaken``."""
        values = validate_fields(
            name=lambda: None if patch.name is None else OrganizationName(patch.name),
            slug=lambda: None if patch.slug is None else Slug(patch.slug),
        )
        async with self.uow() as uow:
            organization, membership = await enter_locked(uow, organization_id, user_id, at_least=OrgRole.ADMIN)
            if organization.rename(self.clock(), name=values["name"], slug=values["slug"]):
                await uow.organizations.save(organization)
                await uow.commit()
        return OrganizationRead.of(organization, membership.role)

    async def delete(self, user_id: UUID, organization_id: UUID) -> None:
        """Soft delete (owners only): from now on the organization answers 404 to everyone."""
        async with self.uow() as uow:
            organization, _ = await enter_locked(uow, organization_id, user_id, at_least=OrgRole.OWNER)
            organization.delete(self.clock())
            await uow.organizations.save(organization)
            await uow.commit()
