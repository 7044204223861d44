"""The tenancy's values and its aggregate's rules: slugs, names, roles, who may change a membership."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

import pytest

from app.application.organizations.commands import NUMBERED_VARIANTS, RANDOM_VARIANTS, derived_slugs
from app.domain.errors import Forbidden, ValidationFailed
from app.domain.organizations.errors import OwnersOnly, RoleAboveOwn
from app.domain.organizations.events import MemberJoined, MemberRemoved, MemberRoleChanged, OrganizationCreated
from app.domain.organizations.membership import Membership
from app.domain.organizations.model import Organization
from app.domain.organizations.values import SLUG_MAX_LENGTH, OrganizationName, OrgRole, Slug

NOW = datetime(2026, 12, 7, tzinfo=UTC)
ORG = UUID(int=1)


@pytest.mark.parametrize(
    ("name", "suffix", "slug"),
    [
        ("Acme", "", "acme"),
        ("Acme Corp.", "", "acme-corp"),
        ("  --Acme--  ", "", "acme"),
        ("Crème Brûlée & Co", "", "creme-brulee-co"),
        ("Straße", "", "strae"),  # ß has no ASCII decomposition: dropped, not guessed
        ("東京", "", "org"),  # nothing ASCII at all
        ("", "", "org"),
        ("!!!", "", "org"),
        ("AB", "", "ab0"),  # padded to the minimum length
        ("x", "-2", "x-2"),
        ("Acme", "-2", "acme-2"),
        ("a" * 100, "", "a" * SLUG_MAX_LENGTH),
        ("a" * 100, "-12", "a" * (SLUG_MAX_LENGTH - 3) + "-12"),  # the suffix is kept whole
        ("a" * 61 + " b", "-x7k", "a" * 59 + "-x7k"),  # cut, and no dash left before the suffix's
    ],
)
def test_a_slug_is_derived_from_any_name(name: str, suffix: str, slug: str) -> None:
    derived = Slug.derive(name, suffix)

    assert derived.value == slug
    assert Slug(derived.value) == derived  # always a valid slug


def test_a_taken_derived_slug_has_numbered_then_random_variants() -> None:
    candidates = [slug.value for slug in derived_slugs("Acme")]

    assert candidates[: NUMBERED_VARIANTS + 1] == ["acme", "acme-2", "acme-3", "acme-4", "acme-5"]
    randoms = candidates[NUMBERED_VARIANTS + 1 :]
    assert len(randoms) == RANDOM_VARIANTS
    assert all(len(slug) == len("acme-") + 6 and slug.startswith("acme-") for slug in randoms)
    assert len(set(randoms)) == RANDOM_VARIANTS


@pytest.mark.parametrize("value", ["ab", "a" * 64, "Acme", "acme corp", "acme_corp", "ácme", ""])
def test_an_invalid_slug_cannot_be_made(value: str) -> None:
    with pytest.raises(ValidationFailed) as raised:
        Slug(value)

    assert [error.field for error in raised.value.errors] == ["slug"]


@pytest.mark.parametrize(("value", "stored"), [(" Acme ", "Acme"), ("x", "x"), ("y" * 100, "y" * 100)])
def test_a_name_is_trimmed(value: str, stored: str) -> None:
    assert OrganizationName(value).value == stored


@pytest.mark.parametrize("value", ["", "   ", "z" * 101])
def test_an_empty_or_long_name_is_refused(value: str) -> None:
    with pytest.raises(ValidationFailed):
        OrganizationName(value)


def test_roles_are_ranked() -> None:
    assert [role.rank for role in OrgRole] == [0, 1, 2]
    assert OrgRole.OWNER.at_least(OrgRole.ADMIN)
    assert not OrgRole.MEMBER.at_least(OrgRole.ADMIN)


def member(user: int, role: OrgRole) -> Membership:
    return Membership(organization_id=ORG, user_id=UUID(int=user), role=role, joined_at=NOW)


def organization() -> Organization:
    created, _ = Organization.create(
        id=ORG, name=OrganizationName("Acme"), slug=Slug("acme"), creator=UUID(int=100), now=NOW
    )
    created.pull_events()
    return created


def test_the_creator_joins_as_owner() -> None:
    created, owner = Organization.create(
        id=ORG, name=OrganizationName("Acme"), slug=Slug("acme"), creator=UUID(int=7), now=NOW
    )

    assert owner == member(7, OrgRole.OWNER)
    assert created.pull_events() == [
        OrganizationCreated(organization_id=ORG, occurred_at=NOW, created_by=UUID(int=7)),
        MemberJoined(organization_id=ORG, occurred_at=NOW, user_id=UUID(int=7), role=OrgRole.OWNER),
    ]


@pytest.mark.parametrize(
    ("actor", "target", "role", "refusal"),
    [
        (OrgRole.OWNER, OrgRole.MEMBER, OrgRole.OWNER, None),
        (OrgRole.OWNER, OrgRole.OWNER, OrgRole.ADMIN, None),
        (OrgRole.ADMIN, OrgRole.MEMBER, OrgRole.ADMIN, None),
        (OrgRole.ADMIN, OrgRole.ADMIN, OrgRole.MEMBER, None),
        (OrgRole.ADMIN, OrgRole.MEMBER, OrgRole.OWNER, OwnersOnly),
        (OrgRole.ADMIN, OrgRole.OWNER, OrgRole.ADMIN, OwnersOnly),
    ],
)
def test_only_an_owner_grants_or_takes_away_owner(
    actor: OrgRole, target: OrgRole, role: OrgRole, refusal: type[Exception] | None
) -> None:
    org = organization()
    if refusal is not None:
        with pytest.raises(refusal):
            org.change_role(member(1, actor), member(2, target), role, NOW)
        assert org.pull_events() == []
        return

    changed = org.change_role(member(1, actor), member(2, target), role, NOW)

    assert changed == member(2, role)
    assert org.pull_events() == [
        MemberRoleChanged(organization_id=ORG, occurred_at=NOW, user_id=UUID(int=2), role=role)
    ]


def test_an_unchanged_role_records_nothing() -> None:
    org = organization()
    target = member(2, OrgRole.ADMIN)

    assert org.change_role(member(1, OrgRole.OWNER), target, OrgRole.ADMIN, NOW) is target
    assert org.pull_events() == []


@pytest.mark.parametrize(
    ("actor", "target", "refusal"),
    [
        (OrgRole.OWNER, OrgRole.OWNER, None),
        (OrgRole.ADMIN, OrgRole.MEMBER, None),
        (OrgRole.ADMIN, OrgRole.ADMIN, None),
        (OrgRole.ADMIN, OrgRole.OWNER, OwnersOnly),
        (OrgRole.MEMBER, OrgRole.MEMBER, Forbidden),
    ],
)
def test_who_may_remove_another(actor: OrgRole, target: OrgRole, refusal: type[Exception] | None) -> None:
    org = organization()
    if refusal is not None:
        with pytest.raises(refusal):
            org.remove(member(1, actor), member(2, target), NOW)
        return

    org.remove(member(1, actor), member(2, target), NOW)

    assert org.pull_events() == [MemberRemoved(organization_id=ORG, occurred_at=NOW, user_id=UUID(int=2))]


@pytest.mark.parametrize("role", list(OrgRole))
def test_anyone_may_leave(role: OrgRole) -> None:
    org = organization()

    org.remove(member(1, role), member(1, role), NOW)

    assert org.pull_events() == [MemberRemoved(organization_id=ORG, occurred_at=NOW, user_id=UUID(int=1))]


@pytest.mark.parametrize(
    ("inviter", "role", "allowed"),
    [(inviter, role, inviter.at_least(role)) for inviter in OrgRole for role in OrgRole],
)
def test_nobody_invites_above_their_own_role(inviter: OrgRole, role: OrgRole, allowed: bool) -> None:
    org = organization()
    if allowed:
        org.check_invitation(member(1, inviter), role)
    else:
        with pytest.raises(RoleAboveOwn):
            org.check_invitation(member(1, inviter), role)


def test_renaming_reports_whether_anything_changed() -> None:
    org = organization()
    later = datetime(2026, 12, 8, tzinfo=UTC)

    assert org.rename(later, name=OrganizationName("Acme"), slug=Slug("acme")) is False
    assert org.updated_at == NOW
    assert org.rename(later, slug=Slug("acme-2")) is True
    assert (org.name, org.slug, org.updated_at) == ("Acme", "acme-2", later)
