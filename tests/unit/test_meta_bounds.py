"""``meta``'s number bound, held against every encoding the service gives ``meta`` back through.

Generated documents of any shape and any numbers: whatever ``check_meta`` accepts comes back
unchanged from JSON (REST, events, ``jsonb``), MessagePack (the authentication cache) and a
protobuf ``Struct`` (gRPC); whatever it refuses is named by its path.
"""

from __future__ import annotations

import math
from typing import Any

import msgspec
import pytest
from google.protobuf import json_format, struct_pb2
from hypothesis import assume, given
from hypothesis import strategies as st

from app.application.users.dto import META_MAX_DEPTH, META_MAX_NUMBER, check_meta
from app.domain.errors import ValidationFailed

numbers = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.integers(min_value=-META_MAX_NUMBER - 2, max_value=META_MAX_NUMBER + 2).filter(
        lambda n: abs(n) >= META_MAX_NUMBER - 2
    ),
    st.floats(allow_nan=True, allow_infinity=True),
)
leaves = st.one_of(
    st.none(), st.booleans(), st.text(alphabet=st.characters(exclude_characters="\x00"), max_size=5), numbers
)
documents = st.dictionaries(
    st.text(alphabet="abc", min_size=1, max_size=2),
    st.recursive(
        leaves,
        lambda inner: (
            st.lists(inner, max_size=3) | st.dictionaries(st.text(alphabet="xyz", max_size=2), inner, max_size=3)
        ),
        max_leaves=8,
    ),
    max_size=4,
)


def _paths(value: Any, path: str = "meta") -> dict[str, Any]:
    """Every number in ``value`` by the path a refusal names it with."""
    if isinstance(value, dict):
        return {p: n for key, child in value.items() for p, n in _paths(child, f"{path}.{key}").items()}
    if isinstance(value, list):
        return {p: n for index, child in enumerate(value) for p, n in _paths(child, f"{path}.{index}").items()}
    return {path: value} if isinstance(value, int | float) and not isinstance(value, bool) else {}


def _depth(value: Any) -> int:
    children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
    return 1 + max(map(_depth, children), default=0) if isinstance(value, dict | list) else 0


def _within(number: float) -> bool:
    return not math.isnan(number) and abs(number) <= META_MAX_NUMBER


def _same(left: Any, right: Any) -> bool:
    """Equal as JSON numbers are: 1 and 1.0 alike (a ``Struct`` has only doubles)."""
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(_same(left[k], right[k]) for k in left)
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(map(_same, left, right))
    return (type(left) is bool) == (type(right) is bool) and left == right


@given(documents)
def test_accepted_meta_comes_back_from_every_encoding_refused_meta_is_named(meta: dict[str, Any]) -> None:
    assume(_depth(meta) <= META_MAX_DEPTH)  # deeper is refused for its depth, tested elsewhere
    outside = {path for path, number in _paths(meta).items() if not _within(number)}
    if outside:
        with pytest.raises(ValidationFailed) as raised:
            check_meta(meta)
        assert {error.field for error in raised.value.errors} <= outside
        return
    assert check_meta(meta) is meta
    assert msgspec.json.decode(msgspec.json.encode(meta)) == meta
    assert msgspec.msgpack.decode(msgspec.msgpack.encode(meta)) == meta
    struct = json_format.ParseDict(meta, struct_pb2.Struct())
    assert _same(json_format.MessageToDict(struct), meta)


@pytest.mark.parametrize(
    ("meta", "path"),
    [
        ({"n": 2**64}, "meta.n"),
        ({"a": {"b": -(2**53)}}, "meta.a.b"),
        ({"a": [0, 1, {"c": 1e16}]}, "meta.a.2.c"),
        ({"a": [float("nan")]}, "meta.a.0"),
        ({"a": float("-inf")}, "meta.a"),
    ],
)
def test_the_refusal_names_the_number(meta: dict[str, Any], path: str) -> None:
    with pytest.raises(ValidationFailed) as raised:
        check_meta(meta)

    assert [error.field for error in raised.value.errors] == [path]
