"""Invitations: an admin invites an address to a role, its owner accepts with the emailed token.

An invitation is a row until it is accepted, revoked or replaced (inviting the address
again), which deletes it and so its token. The token is issued by the job that mails it
(``send_email``), inside the transaction that sends: a failed send rolls it back, a
second run finds the token set and sends nothing, and the token itself never travels
through the job queue. A token names the invitation, not a person: accepting also takes
being signed in with the invited address.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlencode
from uuid import UUID

from app.application.auth.ports import OpaqueTokens
from app.application.notifications import EmailSender, invitation_message
from app.application.organizations.dto import InvitationCreateBody, InvitationRead, OrganizationRead
from app.application.organizations.owners import enter_locked
from app.application.organizations.ports import InvitationEmailJobs, OrganizationUnitOfWorkFactory
from app.application.ports import Clock, IdFactory
from app.application.validation import validate_fields
from app.domain.errors import Forbidden, NotFound, ValidationFailed
from app.domain.organizations.errors import AlreadyMember
from app.domain.organizations.model import Invitation
from app.domain.organizations.values import OrgRole
from app.domain.users.model import User
from app.domain.users.values import Email

#: Where the link points under ``PUBLIC_URL``: the page that reads ``token`` and accepts it.
INVITATION_PATH = "/accept-invitation"
_BAD_TOKEN = "The invitation is invalid, used, revoked or expired; ask for a new one"  # noqa: S105 - a message


@dataclass(frozen=True, slots=True, kw_only=True)
class InvitationPolicy:
    """``PUBLIC_URL`` (the base of the link) and ``INVITATION_TTL_SECONDS``."""

    public_url: str
    ttl: timedelta


@dataclass(kw_only=True, eq=False)
class Invitations:
    uow: OrganizationUnitOfWorkFactory
    jobs: InvitationEmailJobs
    secrets: OpaqueTokens
    sender: EmailSender
    policy: InvitationPolicy
    clock: Clock
    ids: IdFactory

    async def invite(self, user_id: UUID, organization_id: UUID, body: InvitationCreateBody) -> InvitationRead:
        """Admin+, to a role no higher than the inviter's; replaces the address's pending invitation."""
        email: Email = validate_fields(email=lambda: Email(body.email))["email"]
        now = self.clock()
        async with self.uow() as uow:
            organization, inviter = await enter_locked(uow, organization_id, user_id, at_least=OrgRole.ADMIN)
            organization.check_invitation(inviter, body.role)
            invitee = await uow.users.get_by_email(email.value)
            if invitee is not None and await uow.memberships.get(organization_id, invitee.id) is not None:
                raise AlreadyMember()
            invitation = Invitation(
                id=self.ids(),
                organization_id=organization_id,
                email=email.value,
                role=body.role,
                token_hash=None,
                invited_by=user_id,
                created_at=now,
                expires_at=now + self.policy.ttl,
            )
            await uow.invitations.replace(invitation)
            await uow.commit()
        await self.jobs.send_invitation_email(invitation.id)
        return InvitationRead.from_entity(invitation)

    async def list_pending(self, user_id: UUID, organization_id: UUID) -> list[InvitationRead]:
        async with self.uow() as uow:
            await enter_locked(uow, organization_id, user_id, at_least=OrgRole.ADMIN)
            pending = await uow.invitations.pending(organization_id, self.clock())
        return [InvitationRead.from_entity(invitation) for invitation in pending]

    async def revoke(self, user_id: UUID, organization_id: UUID, invitation_id: UUID) -> None:
        async with self.uow() as uow:
            await enter_locked(uow, organization_id, user_id, at_least=OrgRole.ADMIN)
            invitation = await uow.invitations.get(invitation_id, for_update=True)
            if invitation is None or invitation.organization_id != organization_id:
                raise NotFound(f"Invitation {invitation_id} does not exist")
            await uow.invitations.delete(invitation.id)
            await uow.commit()

    async def accept(self, user: User, token: str) -> OrganizationRead:
        """Join with the invitation's role; 422 on ``token`` for a bad one, 403 for another address, 409 if in."""
        now = self.clock()
        async with self.uow() as uow:
            found = await uow.invitations.by_token(self.secrets.hash(token))
            # The organization's lock first, then the invitation's, in the order inviting takes
            # them (replacing an invitation deletes its row under the organization's lock).
            organization = await uow.organizations.get(found.organization_id, for_update=True) if found else None
            invitation = await uow.invitations.get(found.id, for_update=True) if found else None
            if organization is None or invitation is None or invitation.is_expired(now):
                # Unknown, spent, revoked, replaced, expired, or its organization deleted.
                raise ValidationFailed.single("token", _BAD_TOKEN)
            if not invitation.is_for(user.email):
                raise Forbidden("The invitation is for another email address")
            if await uow.memberships.get(organization.id, user.id) is not None:
                raise AlreadyMember()
            membership = organization.admit(user.id, invitation.role, now)
            await uow.memberships.add(membership)
            await uow.invitations.delete(invitation.id)
            uow.organizations.record(organization)
            await uow.commit()
        return OrganizationRead.of(organization, membership.role)

    async def send_email(self, invitation_id: UUID) -> bool:
        """The job of ``invite``: issue the token and mail the link, once; True when this run sent it.

        The invitation's row is the claim: locked, and found without a token, it gets one in
        the transaction that sends. Replaced, revoked, accepted, expired or of a deleted
        organization, it gets nothing.
        """
        async with self.uow() as uow:
            invitation = await uow.invitations.get(invitation_id, for_update=True)
            if invitation is None or invitation.token_hash is not None or invitation.is_expired(self.clock()):
                return False
            organization = await uow.organizations.get(invitation.organization_id)
            if organization is None:
                return False
            token, token_hash = self.secrets.new()
            await uow.invitations.set_token(invitation.id, token_hash)
            link = f"{self.policy.public_url.rstrip('/')}{INVITATION_PATH}?{urlencode({'token': token})}"
            await self.sender.send(
                invitation_message(
                    to=invitation.email,
                    organization=organization.name,
                    role=invitation.role.value,
                    link=link,
                    reference=f"invitation.{invitation.id}",
                )
            )
            await uow.commit()
        return True
