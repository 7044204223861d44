"""parse_list_query and CursorCodec: every operator on every kind, and every hostile parameter refused by name."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any
from uuid import UUID

import msgspec
import pytest

from app.application.listing import (
    MAX_CURSOR_LENGTH,
    CursorCodec,
    Filter,
    ListQuery,
    Operator,
    Ordering,
    Page,
    parse_list_query,
)
from app.application.organizations.listing import MEMBER_LISTING, ORGANIZATION_LISTING
from app.application.users.listing import USER_LISTING
from app.domain.errors import ValidationFailed

CURSORS = CursorCodec(b"k" * 32)
UUID_A = UUID("0192f6f1-8a4c-7d3e-9b1a-2f3c4d5e6f70")
UUID_B = UUID("0192f6f1-8a4c-7d3e-9b1a-2f3c4d5e6f71")
NOON = datetime(2026, 1, 1, 12, tzinfo=UTC)
INJECTION = "'; DROP TABLE users; --"

Params = Mapping[str, str | Sequence[str]]


def parse(params: Params) -> ListQuery:
    return parse_list_query(params, USER_LISTING, CURSORS)


def refused(params: Params) -> list[str]:
    """The parameter names a refusal reports, in order."""
    with pytest.raises(ValidationFailed) as caught:
        parse(params)
    return [error.field for error in caught.value.errors]


# --------------------------------------------------------------------------- operators by kinds


#: One field of each kind (plus the JSON kinds): (sample raw, parsed, second raw, parsed).
SAMPLES: dict[str, tuple[str, Any, str, Any]] = {
    "id": (str(UUID_A), UUID_A, str(UUID_B), UUID_B),
    "email": ("ada@example.com", "ada@example.com", "b@x.io", "b@x.io"),
    "is_active": ("true", True, "false", False),
    "birthday": ("1815-12-10", date(1815, 12, 10), "1912-06-23", date(1912, 6, 23)),
    "created_at": ("2026-01-01T12:00:00Z", NOON, "2026-01-01T13:00:00+01:00", NOON),
    "role": ("admin", "admin", "user", "user"),
    "meta.plan": ("pro", "pro", "free", "free"),
    "address.city": ("London", "London", "Paris", "Paris"),
}
_EVERYWHERE = {Operator.EQ, Operator.NE, Operator.IN, Operator.NOT_IN, Operator.ISNULL}
_RANGES = {Operator.GT, Operator.GTE, Operator.LT, Operator.LTE}
#: Every operator but ``contains``, which is the array fields' (and theirs alone).
_STRINGS = set(Operator) - {Operator.CONTAINS}
#: The documented table of which operators apply to which field; everything else is refused.
ALLOWED: dict[str, set[Operator]] = {
    "id": _EVERYWHERE,
    "is_active": _EVERYWHERE,
    "role": _EVERYWHERE,
    "birthday": _EVERYWHERE | _RANGES,
    "created_at": _EVERYWHERE | _RANGES,
    "email": _STRINGS,
    "meta.plan": _STRINGS,
    "address.city": _STRINGS,
}


def expected_value(field: str, op: Operator) -> tuple[str, Any]:
    raw, parsed, second_raw, second = SAMPLES[field]
    if op is Operator.ISNULL:
        return "true", True
    if op in (Operator.IN, Operator.NOT_IN):
        return f"{raw},{second_raw}", [parsed, second]
    return raw, parsed


@pytest.mark.parametrize(("field", "op"), list(itertools.product(SAMPLES, Operator)))
def test_every_operator_on_every_kind_parses_or_is_refused(field: str, op: Operator) -> None:
    raw, value = expected_value(field, op)
    name = f"{field}__{op}"
    if op in ALLOWED[field]:
        assert parse({name: raw}).filters == (Filter(field, op, value),)
    else:
        assert refused({name: raw}) == [name]


@pytest.mark.parametrize("field", SAMPLES)
def test_a_bare_field_means_eq(field: str) -> None:
    raw, parsed, _, _ = SAMPLES[field]
    assert parse({field: raw}).filters == (Filter(field, Operator.EQ, parsed),)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2026-01-01T12:00:00Z", NOON),
        ("2026-01-01t12:00:00z", NOON),
        ("2026-01-01T12:00:00", NOON),  # naive means UTC
        ("2026-01-01 12:00:00", NOON),
        ("2026-01-01T14:00:00+02:00", NOON),
        ("2026-01-01T07:00:00-05:00", NOON),
        ("2026-01-01T12:00Z", NOON),
        ("2026-01-01T12:00:00.250000Z", NOON + timedelta(milliseconds=250)),
        ("2026-01-01", NOON - timedelta(hours=12)),
    ],
)
def test_datetimes_are_rfc3339_and_come_back_in_utc(raw: str, expected: datetime) -> None:
    (item,) = parse({"created_at__gte": raw}).filters
    assert item.value == expected
    assert item.value.tzinfo is UTC


def test_a_meta_key_may_contain_double_underscores() -> None:
    # The key pattern allows "__": a known operator suffix is split off, anything else is the key.
    assert parse({"meta.a__b__ne": "x"}).filters == (Filter("meta.a__b", Operator.NE, "x"),)
    assert parse({"meta.plan__regex": "x"}).filters == (Filter("meta.plan__regex", Operator.EQ, "x"),)


@pytest.mark.parametrize("value", ["it's", 'say "hi"', "100%", "a_b", "back\\slash", INJECTION, "", "ünï"])
@pytest.mark.parametrize("op", [Operator.EQ, Operator.LIKE, Operator.ILIKE, Operator.STARTSWITH])
def test_string_values_are_taken_literally(op: Operator, value: str) -> None:
    """Quotes, wildcards and SQL are data for a string field: the SQL layer binds them."""
    assert parse({f"first_name__{op}": value}).filters == (Filter("first_name", op, value),)


def test_a_repeated_filter_is_anded() -> None:
    query = parse({"email__ne": ["a@x.io", "b@x.io"], "created_at__lt": "2026-01-02"})
    assert [(f.field, f.op, f.value) for f in query.filters] == [
        ("email", Operator.NE, "a@x.io"),
        ("email", Operator.NE, "b@x.io"),
        ("created_at", Operator.LT, datetime(2026, 1, 2, tzinfo=UTC)),
    ]


# --------------------------------------------------------------------------- reserved parameters


def test_defaults() -> None:
    assert parse({}) == ListQuery(
        filters=(),
        ordering=(Ordering("created_at", descending=True),),
        limit=50,
        offset=0,
        after=None,
        with_total=True,
        include_deleted=False,
    )


@pytest.mark.parametrize(
    ("params", "attribute", "expected"),
    [
        ({"limit": "1"}, "limit", 1),
        ({"limit": "500"}, "limit", 500),
        ({"offset": "0"}, "offset", 0),
        ({"offset": "1000000"}, "offset", 1_000_000),
        ({"with_total": "false"}, "with_total", False),
        ({"include_deleted": "true"}, "include_deleted", True),
        ({"order_by": "email"}, "ordering", (Ordering("email"),)),
        (
            {"order_by": "-birthday,first_name,-updated_at"},
            "ordering",
            (Ordering("birthday", True), Ordering("first_name"), Ordering("updated_at", True)),
        ),
    ],
)
def test_reserved_parameters(params: Params, attribute: str, expected: Any) -> None:
    assert getattr(parse(params), attribute) == expected


# --------------------------------------------------------------------------- hostile input

LIST_OF_1001 = ",".join(f"u{i}@x.io" for i in range(1001))

HOSTILE: list[Params] = [
    {"password_hash__eq": "x"},
    {"password_hash": "x"},
    {"deleted_at__isnull": "true"},
    {"photo_url": "x"},
    {"email__regex": "x"},
    {"email__eq; DROP TABLE users": "x"},
    {"email'; DROP TABLE users; --": "x"},
    {"meta.a.b.c": "1"},
    {"meta": "x"},
    {"meta.": "x"},
    {"meta.a b": "x"},
    {"meta.a'--": "x"},
    {"meta." + "k" * 65: "x"},
    {"address.street": "x"},
    {"address": "x"},
    {"": "x"},
    {"__eq": "x"},
    {"page": "2"},
    {"email": "x" * 10_240},
    {"first_name__like": "%" * 10_240},
    {"meta.plan": "_" * 1001},
    {"email": "a\x00b"},
    {"email": "\ud800"},
    {"email__in": LIST_OF_1001},
    {"email__in": ""},
    {"id__in": ",".join([str(UUID_A)] * 1001)},
    {"id__in": f"{UUID_A},"},
    {"id": INJECTION},
    {"id": "not-a-uuid"},
    {"id": "{0192f6f1-8a4c-7d3e-9b1a-2f3c4d5e6f70}"},
    {"id": "0192f6f18a4c7d3e9b1a2f3c4d5e6f70"},
    {"id": ""},
    {"is_active": "True"},
    {"is_active": "1"},
    {"is_active": "yes"},
    {"is_active": INJECTION},
    {"is_active__isnull": "maybe"},
    {"birthday": "2026-02-30"},
    {"birthday": "2026-1-1"},
    {"birthday": "2026-01-01T00:00:00Z"},
    {"birthday": "'1815-12-10'"},
    {"birthday__in": "1815-12-10,%"},
    {"created_at__gt": "yesterday"},
    {"created_at__gt": "2026-13-01T00:00:00Z"},
    {"created_at__gt": "2026-01-01T25:00:00Z"},
    {"created_at__gt": "2026-01-01T00:00:00+25:00"},
    {"created_at__gt": "0001-01-01T00:00:00+01:00"},
    {"created_at__gt": "2026-W01-1"},
    {"created_at__gt": "20260101"},
    {"created_at__gt": "2026-01-01T00:00:00.1234567Z"},
    {"created_at__gt": "1e9"},
    {"role": "superuser"},
    {"role": "Admin"},
    {"role": "admin'--"},
    {"role__in": "admin,root"},
    {"limit": "0"},
    {"limit": "501"},
    {"limit": "-1"},
    {"limit": "abc"},
    {"limit": ""},
    {"limit": "1.5"},
    {"limit": " 5"},
    {"limit": "+5"},
    {"limit": "1e2"},
    {"limit": "\u0665"},  # ARABIC-INDIC DIGIT FIVE: int() would take it
    {"limit": "9" * 40},
    {"limit": ["5", "6"]},
    {"offset": "-1"},
    {"offset": "abc"},
    {"offset": str(2**31)},
    {"with_total": "yes"},
    {"include_deleted": "1"},
    {"order_by": "password_hash"},
    {"order_by": "phone"},
    {"order_by": "id"},
    {"order_by": "email,email"},
    {"order_by": "email,-email"},
    {"order_by": ""},
    {"order_by": ","},
    {"order_by": "-"},
    {"order_by": "--email"},
    {"order_by": "+email"},
    {"order_by": "email;DROP TABLE users"},
    {"order_by": "email,"},
    {"cursor": ""},
    {"cursor": "garbage"},
    {"cursor": "a.b"},
    {"cursor": "a" * (MAX_CURSOR_LENGTH + 1) + ".b"},
    {"cursor": INJECTION},
]


def _hostile_id(params: Params) -> str:
    text = repr(dict(params))
    return text if len(text) < 60 else text[:57] + "..."


@pytest.mark.parametrize("params", HOSTILE, ids=_hostile_id)
def test_hostile_parameters_are_refused_by_name(params: Params) -> None:
    assert refused(params) == list(params)


def test_every_bad_parameter_is_named_at_once() -> None:
    params = {
        "password_hash__eq": "x",
        "email__regex": "x",
        "meta.a.b.c": "1",
        "email": "fine@example.com",
        "limit": "0",
        "offset": "-1",
        "order_by": "phone",
        "birthday": "nope",
        "is_active": "true",
        "cursor": "tampered.cursor",
    }
    assert set(refused(params)) == {
        "password_hash__eq",
        "email__regex",
        "meta.a.b.c",
        "limit",
        "offset",
        "order_by",
        "birthday",
        "cursor",
    }


def test_too_many_filters_are_refused() -> None:
    params = {f"meta.k{i}": "x" for i in range(51)}
    assert refused(params) == ["meta.k50"]


def test_too_many_filter_values_in_all_are_refused() -> None:
    """Each value is a bound parameter; PostgreSQL refuses a statement with more than 32767."""
    thousand = ",".join(f"u{i}@x.io" for i in range(1000))
    params = {f"meta.k{i}__in": thousand for i in range(11)}
    assert refused(params) == ["meta.k10__in"]


def test_an_error_message_does_not_echo_the_value() -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse({"id": INJECTION, "email__regex": INJECTION})
    assert all(INJECTION not in error.message for error in caught.value.errors)


# --------------------------------------------------------------------------- cursors


ORDERED = {"order_by": "created_at,birthday,email,first_name", "is_active": "true"}
POSITION = (
    datetime(2026, 1, 1, 12, 30, 15, 123456, tzinfo=UTC),
    date(1815, 12, 10),
    "ada@example.com",
    None,
    UUID_A,
)


def cursor_for(params: Params, position: tuple[Any, ...] = POSITION) -> str:
    return CURSORS.encode(parse(params), position)


def test_a_cursor_round_trips_every_type() -> None:
    query = parse({**ORDERED, "cursor": cursor_for(ORDERED)})
    assert query.after == POSITION
    assert [type(value) for value in query.after] == [type(value) for value in POSITION]
    assert query.after[0].tzinfo is not None
    assert query.offset is None


def test_a_cursor_keeps_an_offset_aware_datetime() -> None:
    moment = datetime(2026, 1, 1, 12, tzinfo=timezone(timedelta(hours=5, minutes=30)))
    position = (moment, *POSITION[1:])
    (after, *_) = parse({**ORDERED, "cursor": cursor_for(ORDERED, position)}).after or ()
    assert after == moment
    assert after.utcoffset() == moment.utcoffset()


def test_a_cursor_is_opaque_and_url_safe() -> None:
    token = cursor_for(ORDERED)
    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")
    assert len(token) <= MAX_CURSOR_LENGTH


@pytest.mark.parametrize(
    "same_listing",
    [
        {**ORDERED, "limit": "7"},  # the page size may change between pages
        {"is_active": "true", "order_by": ORDERED["order_by"]},  # parameter order is not meaning
        {**ORDERED, "with_total": "false"},
    ],
)
def test_a_cursor_serves_the_same_listing(same_listing: Params) -> None:
    assert parse({**same_listing, "cursor": cursor_for(ORDERED)}).after == POSITION


@pytest.mark.parametrize(
    "other_listing",
    [
        {**ORDERED, "is_active": "false"},
        {"order_by": ORDERED["order_by"]},
        {**ORDERED, "email__ne": "x@y.io"},
        {**ORDERED, "order_by": "created_at,birthday,email,-first_name"},
        {**ORDERED, "order_by": "birthday,created_at,email,first_name"},
        {**ORDERED, "include_deleted": "true"},
    ],
)
def test_a_cursor_reused_with_another_listing_is_refused(other_listing: Params) -> None:
    assert refused({**other_listing, "cursor": cursor_for(ORDERED)}) == ["cursor"]


def _flip(token: str, index: int) -> str:
    replacement = "A" if token[index] != "A" else "B"
    return token[:index] + replacement + token[index + 1 :]


TOKEN = cursor_for(ORDERED)
DOT = TOKEN.index(".")


@pytest.mark.parametrize(
    "tampered",
    [
        _flip(TOKEN, 0),
        _flip(TOKEN, DOT // 2),
        _flip(TOKEN, DOT - 1),
        _flip(TOKEN, DOT + 1),
        _flip(TOKEN, len(TOKEN) - 1),
        TOKEN[:-1],
        TOKEN + "A",
        TOKEN.replace(".", "", 1),
        TOKEN + "." + TOKEN,
        cursor_for({"order_by": "email"}, ("x", UUID_A))[:DOT] + TOKEN[DOT:],
        CursorCodec(b"another key, same length......!").encode(parse(ORDERED), POSITION),
    ],
)
def test_a_tampered_cursor_is_refused(tampered: str) -> None:
    assert tampered != TOKEN
    assert refused({**ORDERED, "cursor": tampered}) == ["cursor"]


def test_cursor_with_offset_is_refused() -> None:
    assert refused({**ORDERED, "cursor": TOKEN, "offset": "0"}) == ["offset"]


def test_a_cursor_is_only_signature_checked_when_other_parameters_are_bad() -> None:
    assert refused({**ORDERED, "cursor": TOKEN, "limit": "0"}) == ["limit"]
    assert refused({**ORDERED, "cursor": _flip(TOKEN, 3), "limit": "0"}) == ["limit", "cursor"]


def test_the_longest_legitimate_cursor_fits_the_bound() -> None:
    """Every sortable field at its column's length, in characters JSON must escape to six bytes."""
    everything = {"order_by": "email,first_name,last_name,birthday,created_at,updated_at"}
    position = ("\x01" * 254, "\x01" * 100, "\x01" * 100, date.max, datetime.max.replace(tzinfo=UTC), NOON, UUID_A)
    token = cursor_for(everything, position)
    assert parse({**everything, "cursor": token}).after == position


def test_a_short_key_is_refused() -> None:
    with pytest.raises(ValueError, match="16 bytes"):
        CursorCodec(b"short")


def test_a_page_serializes_as_the_contract_says() -> None:
    page = Page[int](items=[1, 2], total=None, limit=2, offset=None, next_cursor="c")
    assert msgspec.json.decode(msgspec.json.encode(page)) == {
        "items": [1, 2],
        "total": None,
        "limit": 2,
        "offset": None,
        "next_cursor": "c",
    }


# --------------------------------------------------------------------------- resources without deleted rows


def test_a_listing_without_deleted_rows_refuses_include_deleted_and_does_not_offer_it() -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse_list_query({"include_deleted": "true"}, MEMBER_LISTING, CURSORS)

    assert [error.field for error in caught.value.errors] == ["include_deleted"]
    with pytest.raises(ValidationFailed) as caught:
        parse_list_query({"include_deleted": "false"}, MEMBER_LISTING, CURSORS)
    assert [error.field for error in caught.value.errors] == ["include_deleted"]
    assert "include_deleted" not in MEMBER_LISTING.help_text()
    assert "include_deleted" in USER_LISTING.help_text()


def test_an_unknown_field_of_a_listing_without_json_members_names_only_fields() -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse_list_query({"password_hash": "x"}, ORGANIZATION_LISTING, CURSORS)

    assert caught.value.errors[0].message == "Unknown field; filter by name, slug, created_at"
