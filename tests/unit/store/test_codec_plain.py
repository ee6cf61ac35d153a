"""The stored form of nested values: a value stored in its plain JSON form reads back
as the typed path (``to_av``, DynamoDB's own rules) reads it, and a value either path
refuses is refused by both.

Random nested maps and lists whose leaves are text, booleans, None, whole numbers
(within and past 64 bits), floats (integral, fractional, tiny, non-finite), tuples,
sets and maps with keys that are not text: the shapes the walk of ``codec._plain``
takes as they are, converts (integral floats to ints, tuples to lists) or sends the
typed way.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from prework.errors import ValidationFailed
from prework.store.codec import from_av, pack_item, to_av, unpack_item

_leaves = st.one_of(
    st.text(max_size=6),
    st.booleans(),
    st.none(),
    st.integers(min_value=-(2**64), max_value=2**64),
    st.integers(min_value=-(2**63) - 2, max_value=-(2**63) + 2),
    st.integers(min_value=2**63 - 2, max_value=2**63 + 2),
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=-1e6, max_value=1e6).map(float.__floor__).map(float),  # integral
    st.sampled_from([1e-121, -1e-125, 1e-119, 2.0**53, 2.0**53 + 2.0, 1e200]),
)
_values = st.recursive(
    _leaves,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.lists(inner, max_size=3).map(tuple),
        st.dictionaries(st.text(max_size=4), inner, max_size=4),
        st.dictionaries(st.integers(0, 3), inner, min_size=1, max_size=2),  # keys not text
        st.frozensets(st.text(min_size=1, max_size=3), min_size=1, max_size=2),
    ),
    max_leaves=10,
)


def _typed_reading(value: Any) -> Any:
    """How DynamoDB's rules read ``value`` back, or ValidationFailed."""
    return from_av(to_av(value))


def _stored_reading(value: Any) -> Any:
    return unpack_item(pack_item({"v": value}))["v"]


def _refused(read: Any, value: Any) -> ValidationFailed | None:
    try:
        read(value)
    except ValidationFailed as exc:
        return exc
    return None


@settings(max_examples=600, deadline=None)
@given(value=_values)
def test_a_stored_value_reads_back_as_dynamodb_reads_it(value: Any) -> None:
    typed_refusal = _refused(_typed_reading, value)
    stored_refusal = _refused(_stored_reading, value)
    assert (typed_refusal is None) == (stored_refusal is None), (typed_refusal, stored_refusal)
    if typed_refusal is not None:
        return
    stored, typed = _stored_reading(value), _typed_reading(value)
    assert stored == typed
    assert _kinds(stored) == _kinds(typed)  # 1 and 1.0 are equal: their kinds are not


def _kinds(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _kinds(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_kinds(v) for v in value]
    if isinstance(value, set):
        return ("set", frozenset(value))
    return type(value).__name__
