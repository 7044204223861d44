"""An organization's values: the roles of its members, its slug and its name.

Roles are ranked (``owner > admin > member``): every permission of the tenancy is "at
least this role", so the rank is the one comparison the use cases make.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum

from app.domain.errors import ValidationFailed

SLUG_MIN_LENGTH = 3
SLUG_MAX_LENGTH = 63
NAME_MAX_LENGTH = 100
_SLUG = re.compile(rf"[a-z0-9-]{{{SLUG_MIN_LENGTH},{SLUG_MAX_LENGTH}}}")
_NOT_SLUG = re.compile(r"[^a-z0-9]+")


class OrgRole(StrEnum):
    """A member's role, declared from the lowest rank to the highest."""

    MEMBER = "member"
    ADMIN = "admin"
    OWNER = "owner"

    @property
    def rank(self) -> int:
        return _RANKS[self]

    def at_least(self, other: OrgRole) -> bool:
        return self.rank >= other.rank


_RANKS = {role: rank for rank, role in enumerate(OrgRole)}


@dataclass(frozen=True, slots=True)
class Slug:
    """An organization's address-friendly handle: ``[a-z0-9-]``, 3-63 characters."""

    value: str

    def __post_init__(self) -> None:
        if not _SLUG.fullmatch(self.value):
            raise ValidationFailed.single(
                "slug", f"Must be {SLUG_MIN_LENGTH}-{SLUG_MAX_LENGTH} characters of a-z, 0-9 and -"
            )

    @classmethod
    def derive(cls, name: str, suffix: str = "") -> Slug:
        """A slug made from a name: accents dropped, other characters as dashes, padded or cut to fit.

        ``suffix`` (``-2``, ``-x7k``) is kept whole at the end, so a taken slug has free variants.
        """
        ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
        base = _NOT_SLUG.sub("-", ascii_name).strip("-") or "org"
        base = base[: SLUG_MAX_LENGTH - len(suffix)].rstrip("-")
        return cls((base + suffix).ljust(SLUG_MIN_LENGTH, "0"))


@dataclass(frozen=True, slots=True)
class OrganizationName:
    """A display name: 1-100 characters once surrounding spaces are trimmed."""

    value: str

    def __post_init__(self) -> None:
        trimmed = self.value.strip()
        if not 1 <= len(trimmed) <= NAME_MAX_LENGTH:
            raise ValidationFailed.single("name", f"Must be 1-{NAME_MAX_LENGTH} characters")
        object.__setattr__(self, "value", trimmed)
