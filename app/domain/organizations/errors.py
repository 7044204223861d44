"""The tenancy's refusals, each a 403, 404 or 409 in every transport."""

from __future__ import annotations

from app.domain.errors import Conflict, Forbidden


class SlugTaken(Conflict):
    def __init__(self) -> None:
        super().__init__("The slug is taken by another organization")


class AlreadyMember(Conflict):
    def __init__(self) -> None:
        super().__init__("The user is already a member of the organization")


class LastOwner(Conflict):
    """An organization always keeps an owner: someone who can delete it and grant ``owner``."""

    def __init__(self) -> None:
        super().__init__("The last owner of an organization cannot be demoted or removed")


class OwnersOnly(Forbidden):
    def __init__(self) -> None:
        super().__init__("Only an owner grants, changes or removes the owner role")


class RoleAboveOwn(Forbidden):
    def __init__(self) -> None:
        super().__init__("Nobody can invite to a role higher than their own")
