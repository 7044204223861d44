"""``body_field_errors``: the 422 ``errors`` list names every offending field of a body at once.

msgspec stops at the first error; the client fixing a form needs all of them, each under
the name it sent (nested ones as dotted paths).
"""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from polyfactory.factories.msgspec_factory import MsgspecFactory

from app.application.auth.dto import RefreshBody, TokenForm, TokenRequestBody
from app.application.users.dto import AdminUserPatch, PasswordChangeBody, ProfilePatch, SignUpBody
from app.domain.errors import FieldError, ValidationFailed
from app.interfaces.validation import body_field_errors, convert_body, decode_body
from tests.support.factories import AdminUserCreateFactory, SignUpBodyFactory

VALID_SIGN_UP = {"email": "ada@example.com", "password": "correct horse battery"}


def _fields(body_type: type[msgspec.Struct], raw: Any) -> list[str]:
    errors = body_field_errors(body_type, raw)
    for error in errors:
        assert error.message, f"{error.field} has no message"
        assert "- at `$" not in error.message, "the location belongs in `field`, not in the message"
    return [error.field for error in errors]


def test_every_offending_field_is_listed_at_once() -> None:
    raw = {"email": "not-an-email", "password": "short", "first_name": "A" * 101, "nickname": "ada"}

    assert sorted(_fields(SignUpBody, raw)) == ["email", "first_name", "nickname", "password"]


@pytest.mark.parametrize(
    ("body_type", "raw"),
    [
        (SignUpBody, VALID_SIGN_UP),
        (SignUpBody, {**VALID_SIGN_UP, "first_name": None, "last_name": "Lovelace"}),
        (ProfilePatch, {}),
        (ProfilePatch, {"first_name": None, "birthday": "1815-12-10", "address": {"city": "London"}, "meta": {}}),
        (ProfilePatch, {"address": None, "phone": "+44 20 7946 0000", "photo_url": "https://example.com/a.png"}),
        (PasswordChangeBody, {"current_password": "x", "new_password": "long enough"}),
        (TokenRequestBody, {"email": "anything", "password": "x"}),
        (TokenForm, {"username": "ada@example.com", "password": "x", "grant_type": "password"}),
        (RefreshBody, {"refresh_token": "abc"}),
    ],
)
def test_a_valid_body_has_no_errors(body_type: type[msgspec.Struct], raw: dict[str, Any]) -> None:
    assert body_field_errors(body_type, raw) == []


@pytest.mark.parametrize("name", ["role", "is_active", "email", "password", "id"])
def test_profile_patch_refuses_what_a_user_may_not_change(name: str) -> None:
    """These arrive as unknown fields, so a client cannot slip a role change into a profile edit."""
    errors = body_field_errors(ProfilePatch, {"first_name": "Ada", name: "admin"})
    assert errors == [FieldError(name, "Unknown field")]


def test_each_unknown_field_is_named() -> None:
    assert sorted(_fields(SignUpBody, {**VALID_SIGN_UP, "role": "admin", "is_active": False})) == ["is_active", "role"]


@pytest.mark.parametrize(
    ("body_type", "missing"),
    [
        (SignUpBody, ["email", "password"]),
        (PasswordChangeBody, ["current_password", "new_password"]),
        (TokenForm, ["password", "username"]),
        (RefreshBody, ["refresh_token"]),
    ],
)
def test_missing_required_fields_are_named(body_type: type[msgspec.Struct], missing: list[str]) -> None:
    errors = body_field_errors(body_type, {})
    assert sorted(e.field for e in errors) == missing
    assert {e.message for e in errors} == {"Field required"}


@pytest.mark.parametrize(
    ("address", "field"),
    [
        ({"zip_code": "1" * 21}, "address.zip_code"),
        ({"city": 42}, "address.city"),
        ({"country": "C" * 201}, "address.country"),
    ],
)
def test_nested_field_is_named_by_its_path(address: dict[str, Any], field: str) -> None:
    assert _fields(ProfilePatch, {"address": address}) == [field]


def test_unknown_nested_field_is_named_by_its_path() -> None:
    errors = body_field_errors(ProfilePatch, {"address": {"city": "London", "planet": "Earth"}})
    assert errors == [FieldError("address.planet", "Unknown field")]


def test_every_offending_nested_field_is_listed() -> None:
    """Nested structs are checked field by field too, not stopped at msgspec's first error."""
    raw = {"address": {"zip_code": "1" * 21, "city": "C" * 201}}
    assert sorted(_fields(ProfilePatch, raw)) == ["address.city", "address.zip_code"]


@pytest.mark.parametrize(
    ("raw", "fields"),
    [
        ({"birthday": "10/12/1815", "phone": "call me", "photo_url": "ftp://x"}, ["birthday", "phone", "photo_url"]),
        ({"meta": [1, 2]}, ["meta"]),
        ({"meta": {str(i): i for i in range(65)}}, ["meta"]),
        ({"meta": None}, ["meta"]),
    ],
    ids=["formats", "meta-not-object", "meta-too-many-keys", "meta-null"],
)
def test_profile_values_are_checked(raw: dict[str, Any], fields: list[str]) -> None:
    assert sorted(_fields(ProfilePatch, raw)) == fields


@pytest.mark.parametrize("raw", [[], ["email"], "ada@example.com", 42, None, True])
def test_a_body_that_is_not_an_object_is_one_body_error(raw: Any) -> None:
    assert _fields(SignUpBody, raw) == ["body"]


@pytest.mark.parametrize("body_type", [dict, list[int], int, None])
def test_non_struct_body_types_are_left_to_the_framework(body_type: Any) -> None:
    """Only Struct bodies have named fields to report; anything else gets the framework's error."""
    assert body_field_errors(body_type, {"anything": 1}) == []


def test_convert_body_gives_the_body_or_every_field_error() -> None:
    assert convert_body(SignUpBody, VALID_SIGN_UP) == SignUpBody(**VALID_SIGN_UP)
    with pytest.raises(ValidationFailed) as caught:
        convert_body(SignUpBody, {"email": "not-an-email", "password": "short", "nickname": "ada"})
    assert sorted(error.field for error in caught.value.errors) == ["email", "nickname", "password"]


@pytest.mark.parametrize("factory", [SignUpBodyFactory, AdminUserCreateFactory], ids=lambda f: f.__model__.__name__)
def test_generated_valid_bodies_pass_whole_and_field_by_field(factory: type[MsgspecFactory[Any]]) -> None:
    """Whatever names and addresses a client sends within the rules, no field is reported."""
    for body in factory.batch(25):
        raw = msgspec.to_builtins(body)
        assert body_field_errors(factory.__model__, raw) == []
        assert convert_body(factory.__model__, raw) == body


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("is_active", 0),
        ("is_active", 1),
        ("is_active", "false"),
        ("is_active", "true"),
        ("birthday", 946684800),
        ("birthday", "946684800"),
        ("first_name", 5),
        ("role", 1),
    ],
)
def test_decoding_and_converting_are_strict_and_name_the_field(field: str, value: Any) -> None:
    """REST bodies (``decode_body``) and gRPC requests (``convert_body``) refuse lenient spellings alike."""
    raw = {field: value}

    for decode in (
        lambda: decode_body(AdminUserPatch, msgspec.json.encode(raw)),
        lambda: convert_body(AdminUserPatch, raw),
    ):
        with pytest.raises(ValidationFailed) as raised:
            decode()
        assert [error.field for error in raised.value.errors] == [field]
